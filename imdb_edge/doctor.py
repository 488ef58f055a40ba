"""Will this device run these artifacts? The deploy check behind `imdb-edge doctor`.

    from imdb_edge.doctor import diagnose
    from imdb_edge.doctor_render import render
    report = diagnose(["models/imdb-int8-b1.tflite"])
    report["status"]            # "ok" / "fail"
    print(render(report))

It reports the platform, Python, numpy and every inference backend with its installed
version (read from package metadata: listing imports nothing). Then, for each artifact and
each installed backend of its format:

1. **ops**: the sidecar's op list against what the installed runtime registers
   (``imdb_edge.doctor_ops``: each TFLite op code asked on its own, so the answer names
   the op; onnxruntime asked for its op schemas).
2. **load**: ``imdb_edge.runtime.load(artifact, backend=...)``, the sidecar, hash and
   vocabulary checks included, exactly as ``score`` loads it.
3. **golden**: if a golden file sits beside the artifact, it is replayed exactly as
   ``imdb-edge parity --golden`` replays it (``imdb_edge.parity.check``) and judged by the
   same tolerance table. Beside means ``<artifact>.golden.npz`` (e.g.
   ``imdb-int8-b1.tflite.golden.npz``, like the sidecar ``<artifact>.json``), else
   ``golden.npz`` in the artifact's folder, shared by every artifact there.

An artifact works when every backend checked passes all three. It lives beside
``imdb_edge.parity`` rather than in ``imdb_edge.runtime`` because it uses the parity
replay, and the runtime depends on nothing above it. Never imports TensorFlow: the
``tensorflow_lite`` backend is listed but not checked.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Iterable, Optional

from imdb_edge.doctor_env import OK, backend_version, platform_info, quiet_native_stderr
from imdb_edge.doctor_ops import op_check
from imdb_edge.helpers import one_line
from imdb_edge.runtime.backends import TENSORFLOW_BACKENDS, install_hint

GOLDEN_SUFFIX = ".golden.npz"        # <artifact>.golden.npz: this artifact's golden file
FOLDER_GOLDEN = "golden.npz"         # one golden file for every artifact in the folder


def diagnose(artifacts: Iterable = (), backends: Optional[Iterable[str]] = None,
             verify_key: Optional[str] = None) -> dict:
    """The report: platform, Python, numpy, backends and one entry per artifact.

    ``artifacts``: files (``X.tflite`` or its sidecar), or folders of them (as ``parity``
    finds them). ``backends``: only these backend names (default: every installed one).
    ``verify_key``: a public key; an artifact it did not sign fails before any of its files
    is parsed (see imdb_edge.signing). Raises UsageError for a path that does not exist or
    an unknown backend name."""
    from imdb_edge import __version__
    from imdb_edge.artifacts import find_artifacts
    from imdb_edge.errors import UsageError
    from imdb_edge.runtime.backends import BACKENDS, NAMES, is_installed

    started = time.perf_counter()
    selected = None if backends is None else tuple(backends)
    unknown = [b for b in selected or () if b not in NAMES]
    if unknown:
        raise UsageError(f"unknown backend {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    paths = find_artifacts(artifacts, read_files=verify_key is None) if artifacts else []
    import numpy as np

    listed = [dict(name=b.name, format=b.format, installed=is_installed(b),
                   version=backend_version(b.name) if is_installed(b) else None,
                   install=install_hint(b)) for b in BACKENDS]
    entries = [_check_signed(path, listed, selected, verify_key) if verify_key else
               _check_artifact(path, listed, selected) for path in paths]
    return dict(
        status="ok" if all(e["status"] == "ok" for e in entries) else "fail",
        imdb_edge=__version__, platform=platform_info(), python=platform.python_version(),
        implementation=platform.python_implementation(), numpy=np.__version__,
        backends=listed, verify_key=verify_key, artifacts=entries,
        seconds=round(time.perf_counter() - started, 3))


def _check_signed(path: Path, listed: list, selected: Optional[tuple], key: str) -> dict:
    """_check_artifact on a verified copy of ``path``; a failed signature check is the
    entry's one problem, and nothing of the artifact is parsed."""
    from imdb_edge.errors import SignatureError
    from imdb_edge.signing import verified_copy

    try:
        with verified_copy(path, key) as copy:
            entry = _check_artifact(copy, listed, selected, origin=path)
    except SignatureError as exc:
        return dict(artifact=path.name, path=str(path), status="fail", checks=[], golden=None,
                    signature="fail", problems=[f"signature: {one_line(exc)}"])
    entry["signature"] = OK
    return entry


def _check_artifact(path: Path, listed: list, selected: Optional[tuple],
                    origin: Optional[Path] = None) -> dict:
    """Checks of ``path``, reported under ``origin`` (where the user's file is, and where
    its golden file is looked for) when ``path`` is a verified copy of it."""
    from imdb_edge.errors import ImdbEdgeError
    from imdb_edge.runtime.sidecar import load_sidecar

    origin = origin or path
    entry = dict(artifact=path.name, path=str(origin), status="fail", problems=[], checks=[],
                 golden=None)
    try:
        side = load_sidecar(path)
    except (ValueError, ImdbEdgeError) as exc:
        entry["problems"].append(one_line(exc))
        return entry
    entry.update(format=side.format, quantization=side.quantization, batch=side.batch)
    golden = golden_for(origin)
    entry["golden"] = str(golden) if golden else None
    reference, golden_problem = None, None
    if golden:
        try:
            from imdb_edge.parity.golden import load_golden

            reference = load_golden(str(golden))
        except (ValueError, ImdbEdgeError) as exc:  # GoldenError: unreadable, edited, ...
            golden_problem = one_line(exc)
            entry["problems"].append(f"golden file: {golden_problem}")

    candidates = [b for b in listed if b["format"] == side.format]
    if selected is not None:
        candidates = [b for b in candidates if b["name"] in selected]
    installed = [b for b in candidates if b["installed"]
                 and b["name"] not in TENSORFLOW_BACKENDS]
    if not installed:
        if selected is not None and not candidates:
            entry["problems"].append(f"none of the backends chosen ({', '.join(selected)}) "
                                     f"runs {side.format} artifacts")
        else:
            hints = " or ".join(dict.fromkeys(b["install"] for b in candidates
                                              if b["name"] not in TENSORFLOW_BACKENDS))
            entry["problems"].append(f"no backend for {side.format} artifacts is installed: "
                                     f"{hints}")
        return entry
    for backend in installed:
        check = _check_backend(path, side, backend, reference)
        entry["checks"].append(check)
        entry["problems"].extend(f"{backend['name']}: {p}" for p in check["problems"])
    if not entry["problems"]:
        entry["status"] = "ok"
    return entry


def _check_backend(path: Path, side, backend: dict, reference) -> dict:
    name = backend["name"]
    check = dict(backend=name, version=backend["version"], problems=[])
    ops = op_check(side, name)
    check["ops"] = ops
    if ops["status"] == "fail":
        check["problems"].extend(ops["missing"])
    started = time.perf_counter()
    try:
        from imdb_edge.runtime import load

        with quiet_native_stderr():
            load(path, backend=name)
        check["load"] = dict(status=OK, seconds=round(time.perf_counter() - started, 3))
    except Exception as exc:  # ArtifactError, BackendError, a broken native library
        check["load"] = dict(status="fail", reason=one_line(exc))
        check["problems"].append(f"load: {check['load']['reason']}")
    if reference is not None and check["load"]["status"] == OK:
        from imdb_edge.parity import check as replay

        with quiet_native_stderr():
            result, _ = replay(path, name, reference, threads=1, log=lambda message: None)
        metrics = result.get("metrics") or {}
        check["golden"] = dict(status=result["status"], rows=metrics.get("rows"),
                               max_abs=metrics.get("max_abs"),
                               agreement=metrics.get("agreement"),
                               seconds=result.get("seconds"), problems=result["problems"])
        if result["status"] != "PASS":
            check["problems"].extend(f"golden: {p}" for p in result["problems"])
    check["status"] = "fail" if check["problems"] else OK
    return check


def golden_for(artifact: Path) -> Optional[Path]:
    """The golden file beside ``artifact``: ``<artifact>.golden.npz``, else the folder's
    ``golden.npz``; None when neither exists."""
    for candidate in (Path(f"{artifact}{GOLDEN_SUFFIX}"), artifact.parent / FOLDER_GOLDEN):
        if candidate.is_file():
            return candidate
    return None
