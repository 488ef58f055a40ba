"""What `imdb-edge doctor` reads about this device: platform, backend versions, install
hints, all without importing a backend (versions come from package metadata).
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sys
from typing import Optional

OK = "ok"  # the status of a check, an artifact entry or a report that passed
# Backends that import TensorFlow: a device check never does.
# Distributions that install each backend, to read its version without importing it.
DISTRIBUTIONS = {
    "litert": ("ai-edge-litert",),
    "tflite_runtime": ("tflite-runtime",),
    "tensorflow_lite": ("tensorflow", "tensorflow-cpu"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "numpy": ("numpy",),
}


def backend_version(backend: str) -> Optional[str]:
    """The installed version of ``backend``'s distribution, None when none is installed."""
    for dist in DISTRIBUTIONS.get(backend, (backend,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def platform_info() -> dict:
    """System, machine, libc, the OS's name and the board's (on a Raspberry Pi)."""
    out = dict(system=platform.system(), machine=platform.machine())
    try:
        out["libc"] = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        out["libc"] = None
    out["os"] = _read_field("/etc/os-release", "PRETTY_NAME")
    out["board"] = _read_text("/proc/device-tree/model")   # "Raspberry Pi 4 Model B Rev 1.4"
    return out


def _read_field(path: str, key: str) -> Optional[str]:
    text = _read_text(path) or ""
    for line in text.splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1].strip().strip('"') or None
    return None


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read(4096).decode("utf-8", "replace").strip("\0\n ") or None
    except OSError:
        return None


@contextlib.contextmanager
def quiet_native_stderr():
    """TFLite's C++ side prints its load errors on fd 2 ("ERROR: Didn't find op ..."); the
    report carries them, so keep them off the terminal."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
