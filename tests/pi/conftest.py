"""Fixtures for the emulated Raspberry Pi tests (see docs/pi.md).

``pi_emulation`` builds (or reuses) the cached userlands of every release the script knows
(bookworm aarch64 with its x86_64 reference, trixie aarch64, bookworm armhf), qemu and
wheels with scripts/pi_emulation.sh. When that cannot be done (no network to the Debian mirror or
PyPI, not an x86_64 Debian-like host) the tests skip with the reason, except where
IMDB_EDGE_PI_REQUIRED=1 or CI is set: there they fail, so CI cannot pass without them.

``pi_artifacts`` is what gets scored: IMDB_EDGE_PI_ARTIFACTS (a folder of exported
artifacts, or artifact paths separated by ':'), else tiny models of the real network's shape
written by tests/generate_test_model.py into a temporary folder.

Timings collected by the tests are printed at the end of the run, labelled as emulated.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pi_emulation.sh"
GENERATOR = ROOT / "tests" / "generate_test_model.py"
BACKENDS = ("litert", "tflite", "onnx", "numpy")   # scripts/pi_emulation.sh's names
# scripts/pi_emulation.sh's releases -> (platform.machine() there, Python major.minor)
RELEASES = {"bookworm": ("aarch64", "3.11"), "trixie": ("aarch64", "3.13"),
            "bookworm-armhf": ("armv7l", "3.11")}
FORMATS = {".tflite": "tflite", ".onnx": "onnx", ".npz": "numpy"}
# Tiny models scored when no artifact folder is given: the "any batch" ones, one per format.
TINY = ("tiny_bany.tflite", "tiny_bany.onnx", "tiny.npz")

REPORT: list = []   # lines for the terminal summary


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pi: runs the runtime under an emulated Raspberry Pi (Debian 12 and 13, "
                   "aarch64 and armhf, qemu); builds a ~1.7 GB cache on first use "
                   "(scripts/pi_emulation.sh)")


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("Raspberry Pi emulation")
        for line in REPORT:
            terminalreporter.write_line(line)


def _required() -> bool:
    return os.environ.get("IMDB_EDGE_PI_REQUIRED") == "1" or \
        os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str):
    if _required():
        pytest.fail(f"Pi emulation required (CI or IMDB_EDGE_PI_REQUIRED=1) but {reason}",
                    pytrace=False)
    pytest.skip(f"Pi emulation unavailable: {reason}")


@dataclass
class PiEmulation:
    build_s: float
    info: str
    releases = RELEASES

    def run(self, backend: str, args: list, *, arch: str = "", release: str = "bookworm",
            timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``python ARGS`` with one backend's site dir on ``release``, emulated (the
        default arch) or, on bookworm, ``arch="x86_64"`` native. With ``check`` a non-zero
        exit fails the test."""
        where = ["--arch", arch] if arch else []
        done = subprocess.run(
            [str(SCRIPT), "run", "--release", release, "--backend", backend, *where, "--",
             *map(str, args)],
            capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PI_EMU_QUIET": "1"})
        if check and done.returncode != 0:
            raise AssertionError(f"{release} {arch or 'emulated'}/{backend} run failed (exit "
                                 f"{done.returncode}):\n{done.stderr[-4000:]}")
        return done


@pytest.fixture(scope="session")
def pi_emulation() -> PiEmulation:
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        _unavailable(f"needs an x86_64 Linux host, this is "
                     f"{platform.system()} {platform.machine()}")
    missing = [tool for tool in ("apt-get", "dpkg-deb", "bash") if shutil.which(tool) is None]
    if missing:
        _unavailable(f"{', '.join(missing)} not found (needs a Debian/Ubuntu host)")
    t0, info = time.perf_counter(), []
    for release in RELEASES:
        done = subprocess.run([str(SCRIPT), "build", "--release", release, "--arch", "all"],
                              capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            why = [line for line in done.stderr.splitlines() if "error:" in line] or \
                done.stderr.splitlines()[-3:]
            _unavailable(f"scripts/pi_emulation.sh build --release {release} failed: "
                         f"{' | '.join(why)}")
        info.append(done.stdout)
    build_s = time.perf_counter() - t0
    REPORT.append(f"environments built or reused in {build_s:.1f} s "
                  f"(scripts/pi_emulation.sh build --release R --arch all, R = "
                  f"{', '.join(RELEASES)})")
    REPORT.extend(f"  {line}" for text in info for line in text.splitlines())
    return PiEmulation(build_s, "".join(info))


@pytest.fixture(scope="session")
def pi_report() -> list:
    """Lines to print in the terminal summary."""
    return REPORT


@pytest.fixture(scope="session")
def pi_artifacts(tmp_path_factory) -> dict:
    """format -> [artifact paths], each with its sidecar beside it."""
    given = os.environ.get("IMDB_EDGE_PI_ARTIFACTS")
    if given:
        # A folder contributes every file of a known format that has a sidecar (so golden
        # data or calibration .npz files beside the artifacts are left out); a file named
        # explicitly must be an artifact.
        paths = []
        for part in map(Path, given.split(os.pathsep)):
            if part.is_dir():
                paths += sorted(p for p in part.iterdir()
                                if p.suffix in FORMATS and Path(f"{p}.json").is_file())
            elif part.suffix in FORMATS:
                paths.append(part)
            else:
                raise AssertionError(f"IMDB_EDGE_PI_ARTIFACTS: {part} is neither a folder nor "
                                     f"a {'/'.join(FORMATS)} artifact")
        source = f"IMDB_EDGE_PI_ARTIFACTS={given}"
    else:
        folder = tmp_path_factory.mktemp("pi_tiny_models")
        # The generator needs onnx and TensorFlow for all three formats; without them it
        # still writes the numpy model, and the other formats skip with a reason.
        for flags in (["--onnx", "--tflite"], ["--onnx"], []):
            done = subprocess.run([sys.executable, str(GENERATOR), str(folder), *flags],
                                  capture_output=True, text=True, timeout=900)
            if done.returncode == 0:
                break
        paths = [folder / name for name in TINY if (folder / name).exists()]
        source = f"tiny models from tests/generate_test_model.py {' '.join(flags)}"
    by_format: dict = {}
    for path in paths:
        if not Path(f"{path}.json").is_file():
            raise AssertionError(f"{path} has no sidecar {path}.json")
        by_format.setdefault(FORMATS[path.suffix], []).append(path)
    REPORT.append(f"artifacts: {source}: {', '.join(p.name for p in paths) or 'none'}")
    return by_format
