"""Will this device run these artifacts? The deploy check behind `imdb-edge doctor`.

    from imdb_edge.doctor import diagnose, render
    report = diagnose(["models/imdb-int8-b1.tflite"])
    report["status"]            # "ok" / "fail"
    print(render(report))

It reports the platform, Python, numpy and every inference backend with its installed
version (read from package metadata: listing imports nothing). Then, for each artifact and
each installed backend of its format:

1. **ops**: the sidecar's op list against what the installed runtime registers. A TFLite
   runtime is asked about each (op, version) on its own, with a model that holds nothing
   but that operator code (a runtime resolves every code when it loads a model), so the
   answer names the op; onnxruntime is asked for its op schemas.
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

import contextlib
import importlib.metadata
import os
import platform
import struct
import sys
import time
from pathlib import Path
from typing import Iterable, Optional

GOLDEN_SUFFIX = ".golden.npz"        # <artifact>.golden.npz: this artifact's golden file
FOLDER_GOLDEN = "golden.npz"         # one golden file for every artifact in the folder
# Backends that import TensorFlow: a device check never does.
TENSORFLOW_BACKENDS = ("tensorflow_lite",)
# Distributions that install each backend, to read its version without importing it.
DISTRIBUTIONS = {
    "litert": ("ai-edge-litert",),
    "tflite_runtime": ("tflite-runtime",),
    "tensorflow_lite": ("tensorflow", "tensorflow-cpu"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "numpy": ("numpy",),
}
EXTENSIONS = {"tflite": ".tflite", "onnx": ".onnx", "numpy": ".npz"}
OK = "ok"

# TFLite's BuiltinOperator codes in code order (schema.fbs; the enum is append-only, a
# code never changes meaning). A sidecar names ops, a probe model needs their codes.
BUILTIN_OPERATORS = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1",
    "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF",
    "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE",
    "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
    "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST",
    "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER",
    "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT",
    "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
    "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN",
    "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
    "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK",
    "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
    "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D",
    "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND",
    "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE",
    "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM",
    "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
    "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND",
    "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD",
    "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT",
    "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE",
    "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT", "STABLEHLO_CASE"
)


# ------------------------------------------------------------------------------ report

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
                   version=_version(b.name) if is_installed(b) else None,
                   install=_install_hint(b)) for b in BACKENDS]
    entries = [_check_signed(path, listed, selected, verify_key) if verify_key else
               _check_artifact(path, listed, selected) for path in paths]
    return dict(
        status="ok" if all(e["status"] == "ok" for e in entries) else "fail",
        imdb_edge=__version__, platform=_platform(), python=platform.python_version(),
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
                    signature="fail", problems=[f"signature: {_one_line(exc)}"])
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
        entry["problems"].append(_one_line(exc))
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
            golden_problem = _one_line(exc)
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

        with _quiet_native_stderr():
            load(path, backend=name)
        check["load"] = dict(status=OK, seconds=round(time.perf_counter() - started, 3))
    except Exception as exc:  # ArtifactError, BackendError, a broken native library
        check["load"] = dict(status="fail", reason=_one_line(exc))
        check["problems"].append(f"load: {check['load']['reason']}")
    if reference is not None and check["load"]["status"] == OK:
        from imdb_edge.parity import check as replay

        with _quiet_native_stderr():
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


# --------------------------------------------------------------------------------- ops

def op_check(side, backend: str) -> dict:
    """The sidecar's op list against the installed ``backend``: {"status": "ok" | "fail" |
    "unchecked", "checked": N, "missing": [reasons], "note": str}."""
    if side.format == "numpy":
        return dict(status=OK, checked=0, missing=[], note="no ops: numpy computes the network")
    if not side.ops:
        return dict(status="unchecked", checked=0, missing=[],
                    note="the sidecar lists no ops; the load decides")
    try:
        if side.format == "tflite":
            return _tflite_ops(side.ops, backend)
        return _onnx_ops(side.ops)
    except Exception as exc:  # the runtime is installed but broken: the load will say more
        return dict(status="unchecked", checked=0, missing=[],
                    note=f"could not ask {backend}: {_one_line(exc)}")


def _tflite_ops(ops: list, backend: str) -> dict:
    from imdb_edge.runtime.backends import resolve

    interpreter = resolve("tflite", backend).library()
    missing, unknown, checked = [], [], 0
    for op in ops:
        name, version = str(op.get("name")), op.get("version", 1)
        if name.startswith("CUSTOM:"):
            missing.append(f"custom op {name[len('CUSTOM:'):]} is not a builtin op; "
                           f"{backend} registers builtin ops only")
            continue
        if name not in BUILTIN_OPERATORS or not isinstance(version, int):
            unknown.append(name)
            continue
        checked += 1
        try:
            with _quiet_native_stderr():
                interpreter(model_content=opcode_model(BUILTIN_OPERATORS.index(name), version))
        except (ValueError, RuntimeError):
            missing.append(f"{name} v{version} is not registered by {backend} "
                           f"{_version(backend) or ''}".rstrip())
    note = f"{checked} op codes asked"
    if unknown:
        note += f"; not known to this imdb-edge, left to the load: {', '.join(unknown)}"
    return dict(status="fail" if missing else OK, checked=checked, missing=missing, note=note)


def _onnx_ops(ops: list) -> dict:
    from onnxruntime.capi import onnxruntime_pybind11_state as ort

    known = {(s.domain or "ai.onnx", s.name) for s in ort.get_all_operator_schema()}
    missing = []
    for op in ops:
        name = str(op.get("name"))
        domain, _, op_type = name.rpartition(":")
        if (domain or "ai.onnx", op_type) not in known:
            missing.append(f"op {name} has no schema in onnxruntime {_version('onnxruntime')}")
    return dict(status="fail" if missing else OK, checked=len(ops), missing=missing,
                note=f"{len(ops)} op types asked")


def opcode_model(code: int, version: int) -> bytes:
    """A TFLite flatbuffer whose only content is one operator code (no operator uses it, no
    tensors): loading it succeeds exactly when the runtime registers ``code`` at
    ``version``. Written by hand, so a device needs no flatbuffers package or schema.

    Layout (every offset points forward, every table and vector 4-byte aligned): the root
    offset and "TFL3", then Model, its operator_codes vector and the one OperatorCode,
    its subgraphs vector and one SubGraph with four empty vectors (tensors, inputs,
    outputs, operators), its buffers vector and the one empty Buffer (buffer 0)."""
    buf = bytearray(b"\0\0\0\0TFL3")
    patches = []                      # (position of a uoffset, key of its target)
    targets = {}

    def table(fields: list) -> None:  # fields: per slot None | ("u32"|"i32"|"i8", v) | key
        slots = [f for f in fields]
        vtable = struct.pack("<HH", 4 + 2 * len(slots), 4 + 4 * sum(f is not None for f in slots))
        offsets, at = [], 4
        for f in slots:
            offsets.append(at if f is not None else 0)
            at += 4 if f is not None else 0
        vtable += b"".join(struct.pack("<H", o) for o in offsets)
        vtable += b"\0" * (-len(vtable) % 4)
        vt_pos = len(buf)
        buf.extend(vtable)
        start = len(buf)
        buf.extend(struct.pack("<i", start - vt_pos))
        for f in slots:
            if f is None:
                continue
            if isinstance(f, str):              # a reference, patched once its target exists
                patches.append((len(buf), f))
                buf.extend(b"\0\0\0\0")
            else:
                kind, value = f
                buf.extend(struct.pack({"u32": "<I", "i32": "<i", "i8": "<b3x"}[kind], value))
        return start

    def vector(keys: list) -> int:
        start = len(buf)
        buf.extend(struct.pack("<I", len(keys)))
        for key in keys:
            patches.append((len(buf), key))
            buf.extend(b"\0\0\0\0")
        return start

    placeholder = BUILTIN_OPERATORS.index("PLACEHOLDER_FOR_GREATER_OP_CODES")
    targets["model"] = table([("u32", 3), "opcodes", "subgraphs", None, "buffers"])
    targets["opcodes"] = vector(["opcode"])
    targets["opcode"] = table([("i8", min(code, placeholder)), None, ("i32", version),
                               ("i32", code)])
    targets["subgraphs"] = vector(["subgraph"])
    targets["subgraph"] = table(["tensors", "inputs", "outputs", "operators"])
    for key in ("tensors", "inputs", "outputs", "operators"):
        targets[key] = vector([])
    targets["buffers"] = vector(["buffer"])
    targets["buffer"] = table([])
    struct.pack_into("<I", buf, 0, targets["model"])
    for position, key in patches:
        struct.pack_into("<I", buf, position, targets[key] - position)
    return bytes(buf)


# ------------------------------------------------------------------------------ helpers

def _version(backend: str) -> Optional[str]:
    for dist in DISTRIBUTIONS.get(backend, (backend,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _install_hint(info) -> str:
    if info.name == "numpy":
        return "pip install imdb-edge"
    if info.name in TENSORFLOW_BACKENDS:
        return "pip install tensorflow"
    return f'pip install "imdb-edge[{info.extra}]"'


def _platform() -> dict:
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
def _quiet_native_stderr():
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


def _one_line(exc: BaseException, limit: int = 300) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= limit else msg[:limit] + "..."


# ------------------------------------------------------------------------------ output

def render(report: dict) -> str:
    """The report as text for a terminal."""
    p = report["platform"]
    where = ", ".join(x for x in (f"{p['system']} {p['machine']}", p.get("libc"), p.get("os"),
                                  p.get("board")) if x)
    lines = [f"imdb-edge doctor {report['imdb_edge']}",
             f"platform  {where}",
             f"python    {report['python']} ({report['implementation']}), numpy {report['numpy']}"]
    have = [b for b in report["backends"] if b["installed"]]
    lacking = [b for b in report["backends"] if not b["installed"]]
    lines.append("backends  " + ", ".join(f"{b['name']} {b['version'] or '?'} "
                                           f"({EXTENSIONS[b['format']]})" for b in have))
    if lacking:
        lines.append("absent    " + ", ".join(f"{b['name']} ({b['install']})" for b in lacking))
    for entry in report["artifacts"]:
        kind = (f" ({entry['format']} {entry['quantization']}, batch {entry['batch'] or 'any'})"
                if "format" in entry else "")
        lines.append(f"{entry['status'].upper():4s}  {entry['artifact']}{kind}")
        if entry.get("signature") == OK:
            lines.append(f"      signature ok ({report['verify_key']})")
        for check in entry["checks"]:
            lines.append(f"      {check['backend']} {check['version'] or ''}: "
                         + "; ".join(_check_parts(check, entry)))
        for problem in entry["problems"]:
            lines.append(f"      - {problem}")
    n = len(report["artifacts"])
    failed = sum(e["status"] != "ok" for e in report["artifacts"])
    if not n:
        lines.append("no artifacts given: name some to check that they load here")
    elif failed:
        lines.append(f"FAIL: {failed} of {n} artifacts will not work here as they are")
    else:
        lines.append(f"OK: {'the artifact works' if n == 1 else f'all {n} artifacts work'} here")
    return "\n".join(lines)


def _check_parts(check: dict, entry: dict) -> list:
    ops, load = check["ops"], check["load"]
    parts = [f"ops {ops['status']}" + (f" ({ops['note']})" if ops.get("note") else "")]
    parts.append(f"load ok ({load['seconds']:.2f} s)" if load["status"] == OK else "load FAIL")
    golden = check.get("golden")
    if golden:
        figures = (f"{golden['rows']} rows, max abs err {golden['max_abs']:.2g}, agreement "
                   f"{100 * golden['agreement']:.2f}%") if golden.get("rows") else ""
        parts.append(f"golden {Path(entry['golden']).name} {golden['status']}"
                     + (f" ({figures})" if figures else ""))
    elif entry.get("golden") is None:
        parts.append("no golden file beside it")
    return parts
