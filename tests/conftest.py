"""Test-wide setup: this folder is on sys.path (pytest's rootdir-less "prepend" import of
this file puts it there), so every test folder can import the shared ``testkit``."""
import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """This checkout's paths, which the library never guesses: the tflite-runtime 2.14 venv
    that `make setup-tflite214` builds, when it is there and nothing else was named."""
    venv214 = CHECKOUT / ".venv-tflite214" / "bin" / "python"
    if venv214.exists():
        os.environ.setdefault("IMDB_EDGE_TFLITE214_PYTHON", str(venv214))
