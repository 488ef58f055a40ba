"""The exporter's compatibility gate: will this artifact load on each target runtime?

A TFLite file written by a new converter can name op versions an older runtime lacks; the
device then fails at load time with "Didn't find op for builtin opcode 'FULLY_CONNECTED'
version '12'". This module answers the question at export time, so the sidecar can record
the op list and a verdict per runtime, and the export can refuse (or warn, on request).

TFLite targets:
- ``"litert"``: the ai-edge-litert installed beside the exporter. Checked for real: the
  bytes are loaded into its Interpreter and tensors are allocated.
- ``"tflite-runtime-2.14"``: the last tflite-runtime wheel, what Raspberry Pi guides
  install. Checked statically against its op-version table
  (:mod:`imdb_edge.export.op_versions_tflite_2_14`), since it cannot be installed next to a
  numpy-2 TensorFlow. :func:`load_in_tflite_runtime_214` loads bytes in a separate venv
  that has it, so tests can confirm the table agrees with the real runtime.
Both targets refuse custom ops, Flex (SELECT_TF_OPS) ops included: the exported model must
run on builtin ops only.

ONNX target ``"onnxruntime"``: an InferenceSession is really created from the bytes; models
whose tensors live in external data files are refused first (the exporter never writes them).

Typical use in an exporter::

    results = check_tflite(data, targets)        # {"litert": "ok", "tflite-runtime-2.14": "..."}
    sidecar_ops, sidecar_runtimes = tflite_ops(data), results
    warnings = enforce(results, targets, on_mismatch="error")   # raises IncompatibleArtifact
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

OK = "ok"
TFLITE_TARGETS = ("litert", "tflite-runtime-2.14")
ONNX_TARGETS = ("onnxruntime",)
TFLITE214_PYTHON_ENV = "IMDB_EDGE_TFLITE214_PYTHON"
ON_MISMATCH = ("error", "warn")


class IncompatibleArtifact(ValueError):
    """An artifact will not load on one or more of the required target runtimes."""

    def __init__(self, reasons: Mapping[str, str]):
        self.reasons = dict(reasons)      # target -> why it will not load there
        listed = "; ".join(f"{target}: {why}" for target, why in self.reasons.items())
        super().__init__(f"artifact is not compatible with {len(self.reasons)} target "
                         f"runtime(s): {listed}")


# --------------------------------------------------------------------------------- TFLite

def tflite_ops(model_bytes: bytes) -> list:
    """Every operator code of a TFLite model, over all subgraphs.

    Returns ``[{"name": str, "version": int, "count": int}]`` sorted by name then version.
    ``count`` is how many operators use the code (0 for a code listed but unused: a runtime
    still has to resolve it at load time). Builtin ops carry their schema name
    (``"FULLY_CONNECTED"``); custom ops are ``"CUSTOM:<custom_code>"``, Flex ops included
    (``"CUSTOM:FlexMatrixDeterminant"``); a code this schema does not name is ``"BUILTIN_<n>"``.
    """
    ops, _ = _parse_tflite(model_bytes)
    return ops


def check_tflite(model_bytes: bytes, targets: Iterable[str] = TFLITE_TARGETS) -> dict:
    """Verdict per target: ``{target: "ok" | reason}``; several reasons are joined by "; "."""
    targets = _known_targets(targets, TFLITE_TARGETS, "TFLite")
    ops, tensor_types = _parse_tflite(model_bytes)
    policy = _builtin_only(ops)
    results = {}
    for target in targets:
        if target == "litert":
            reasons = policy + _litert_load(model_bytes)
        else:
            reasons = policy + _tflite214_static(ops, tensor_types)
        results[target] = "; ".join(reasons) if reasons else OK
    return results


def _schema():
    """The generated Python reader for the TFLite flatbuffer schema."""
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:
        try:
            from ai_edge_litert import schema_py_generated as schema
        except ImportError as e:
            raise ImportError(
                "Reading TFLite files requires tensorflow or ai-edge-litert. You can install "
                "them via pip install 'imdb-edge[export]'") from e
    return schema


def _parse_tflite(model_bytes: bytes) -> tuple:
    """(op list as tflite_ops returns it, set of tensor type codes used)."""
    schema = _schema()
    buf = bytes(model_bytes)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ValueError("not a TFLite model: the flatbuffer lacks the 'TFL3' identifier")
    names = {code: name for name, code in vars(schema.BuiltinOperator).items()
             if name.isupper()}
    custom = schema.BuiltinOperator.CUSTOM
    try:
        model = schema.Model.GetRootAs(buf, 0)
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            # Codes above 127 live in builtin_code, with deprecated_builtin_code set to
            # PLACEHOLDER_FOR_GREATER_OP_CODES (127); files from old converters only set the
            # deprecated field. The runtime takes the larger of the two, and so do we.
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            if code == custom:
                name = "CUSTOM:" + (oc.CustomCode() or b"").decode("utf-8", "replace")
            else:
                name = names.get(code, f"BUILTIN_{code}")
            codes.append((name, oc.Version()))
        uses = Counter()
        tensor_types = set()
        for s in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(s)
            for j in range(subgraph.OperatorsLength()):
                uses[subgraph.Operators(j).OpcodeIndex()] += 1
            for t in range(subgraph.TensorsLength()):
                tensor_types.add(subgraph.Tensors(t).Type())
    except Exception as e:  # the flatbuffers reader raises struct/index errors on bad input
        raise ValueError(f"malformed TFLite flatbuffer: {type(e).__name__}: {e}") from e
    bad = sorted(i for i in uses if not 0 <= i < len(codes))
    if bad:
        raise ValueError(f"malformed TFLite flatbuffer: operators use opcode index {bad[0]} "
                         f"but the model has {len(codes)} operator codes")
    counts = Counter()
    for index, key in enumerate(codes):
        counts[key] += uses[index]
    ops = [{"name": name, "version": version, "count": counts[(name, version)]}
           for name, version in sorted(counts)]
    return ops, tensor_types


def _builtin_only(ops: list) -> list:
    reasons = []
    for op in ops:
        if not op["name"].startswith("CUSTOM:"):
            continue
        code = op["name"][len("CUSTOM:"):]
        if code.startswith("Flex"):
            reasons.append(f"Flex op {code} (SELECT_TF_OPS) is not allowed: builtin ops only")
        else:
            reasons.append(f"custom op {code} is not allowed: builtin ops only")
    return reasons


def _tflite214_static(ops: list, tensor_types: set) -> list:
    from . import op_versions_tflite_2_14 as table

    reasons = []
    for op in ops:
        name, version = op["name"], op["version"]
        if name.startswith("CUSTOM:"):
            continue                      # already refused by the builtin-only policy
        highest = table.MAX_VERSION.get(name)
        lowest = table.MIN_VERSION.get(name, 1)
        if highest is None:
            reasons.append(f"{name} v{version} is not a builtin op of tflite-runtime 2.14")
        elif version > highest:
            reasons.append(f"{name} v{version} > max v{highest} in tflite-runtime 2.14")
        elif version < lowest:
            reasons.append(f"{name} v{version} < min v{lowest} in tflite-runtime 2.14")
    type_names = {code: name for name, code in vars(_schema().TensorType).items()
                  if name.isupper()}
    for code in sorted(t for t in tensor_types if t > table.MAX_TENSOR_TYPE):
        reasons.append(f"tensor type {type_names.get(code, code)} is not supported by "
                       f"tflite-runtime 2.14")
    return reasons


def _litert_load(model_bytes: bytes) -> list:
    try:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise ImportError("The 'litert' check requires the ai-edge-litert module. You can "
                          "install it via pip install 'imdb-edge[litert]'") from e
    try:
        Interpreter(model_content=bytes(model_bytes)).allocate_tensors()
    except Exception as e:  # the wrapper raises ValueError/RuntimeError with the C++ log
        return [f"litert {ai_edge_litert.__version__} cannot load it: {_one_line(e)}"]
    return []


# ----------------------------------------------------------- the real tflite-runtime 2.14

_LOAD_SCRIPT = """
import json, sys
import tflite_runtime
from tflite_runtime.interpreter import Interpreter
results = []
for path in sys.argv[1:]:
    try:
        Interpreter(model_path=path).allocate_tensors()
        results.append("ok")
    except Exception as e:
        results.append(" ".join(f"{type(e).__name__}: {e}".split()))
print(json.dumps({"version": tflite_runtime.__version__, "results": results}))
"""


def tflite214_python() -> Optional[str]:
    """The Python of a venv holding tflite-runtime 2.14 (``$IMDB_EDGE_TFLITE214_PYTHON``;
    the Makefile and the test suite point it at the checkout's ``.venv-tflite214``), or None."""
    return os.environ.get(TFLITE214_PYTHON_ENV) or None


def load_in_tflite_runtime_214(models: Sequence[bytes], *, python: Optional[str] = None,
                               timeout: float = 300.0) -> list:
    """Load each model with the real tflite-runtime 2.14 (Interpreter + allocate_tensors) in
    a subprocess, and return ``"ok"`` or the one-line error for each, in order."""
    python = python or tflite214_python()
    if not python:
        raise FileNotFoundError(f"no tflite-runtime 2.14 venv: set {TFLITE214_PYTHON_ENV} to "
                                "the python of a venv with tflite-runtime 2.14")
    with tempfile.TemporaryDirectory(prefix="imdb-edge-tflite214-") as folder:
        paths = []
        for i, data in enumerate(models):
            path = Path(folder) / f"model_{i}.tflite"
            path.write_bytes(bytes(data))
            paths.append(str(path))
        done = subprocess.run([python, "-I", "-c", _LOAD_SCRIPT, *paths],
                              capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{python} failed to run the tflite-runtime loader (exit "
                           f"{done.returncode}): {done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if not report["version"].startswith("2.14."):
        raise ValueError(f"{python} has tflite-runtime {report['version']}, not 2.14")
    return report["results"]


# ----------------------------------------------------------------------------------- ONNX

def onnx_info(model_bytes: bytes) -> dict:
    """What an ONNX model needs from a runtime.

    Returns ``{"ir_version": int, "opset_imports": {domain: version}, "ops": [{"name",
    "count"}], "external_data": [tensor names]}``. The default domain is written
    ``"ai.onnx"``; ops of other domains are named ``"<domain>:<op_type>"``. Ops and tensors
    inside control-flow subgraphs (If/Loop/Scan bodies) and model-local functions count too.
    """
    model = _load_onnx(model_bytes)
    counts = Counter()
    external = []
    for graph_nodes, tensors in _onnx_parts(model):
        for node in graph_nodes:
            domain = node.domain or "ai.onnx"
            counts[node.op_type if domain == "ai.onnx" else f"{domain}:{node.op_type}"] += 1
        external += [t.name for t in tensors if _is_external(t)]
    return {
        "ir_version": model.ir_version,
        "opset_imports": {(imp.domain or "ai.onnx"): imp.version for imp in model.opset_import},
        "ops": [{"name": name, "count": counts[name]} for name in sorted(counts)],
        "external_data": external,
    }


def check_onnx(model_bytes: bytes, targets: Iterable[str] = ONNX_TARGETS) -> dict:
    """Verdict per target: ``{target: "ok" | reason}``."""
    import onnx

    targets = _known_targets(targets, ONNX_TARGETS, "ONNX")
    info = onnx_info(model_bytes)
    policy = []
    if info["external_data"]:
        policy.append(f"tensor(s) {', '.join(info['external_data'])} use external data: the "
                      "exporter writes self-contained .onnx files only")
    else:
        try:
            onnx.checker.check_model(_load_onnx(model_bytes))
        except onnx.checker.ValidationError as e:
            policy.append(f"onnx.checker rejects it: {_one_line(e)}")
    results = {}
    for target in targets:
        # Never hand a model with external references to a runtime: it would read files.
        reasons = policy if policy else _onnxruntime_load(model_bytes)
        results[target] = "; ".join(reasons) if reasons else OK
    return results


def _load_onnx(model_bytes: bytes):
    try:
        import onnx
    except ImportError as e:
        raise ImportError("Reading ONNX files requires the onnx module. You can install it "
                          "via pip install 'imdb-edge[export]'") from e
    try:
        return onnx.load_model_from_string(bytes(model_bytes))
    except Exception as e:  # protobuf DecodeError
        raise ValueError(f"not an ONNX model: {type(e).__name__}: {e}") from e


def _onnx_parts(model):
    """(nodes, tensors) of the main graph, every nested subgraph and every local function."""
    def graph_parts(graph):
        tensors = list(graph.initializer)
        for sparse in graph.sparse_initializer:
            tensors += [sparse.values, sparse.indices]
        yield graph.node, tensors
        yield from nodes_parts(graph.node)

    def nodes_parts(nodes):
        for node in nodes:
            tensors = []
            for attr in node.attribute:
                if attr.HasField("t"):
                    tensors.append(attr.t)
                tensors += list(attr.tensors)
                if attr.HasField("sparse_tensor"):
                    tensors += [attr.sparse_tensor.values, attr.sparse_tensor.indices]
                for sparse in attr.sparse_tensors:
                    tensors += [sparse.values, sparse.indices]
                if attr.HasField("g"):
                    yield from graph_parts(attr.g)
                for sub in attr.graphs:
                    yield from graph_parts(sub)
            if tensors:
                yield [], tensors

    yield from graph_parts(model.graph)
    for function in model.functions:
        yield function.node, []
        yield from nodes_parts(function.node)


def _is_external(tensor) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0


def _onnxruntime_load(model_bytes: bytes) -> list:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError("The 'onnxruntime' check requires the onnxruntime module. You can "
                          "install it via pip install 'imdb-edge[onnx]'") from e
    options = ort.SessionOptions()
    options.log_severity_level = 3            # errors only; the exception carries the reason
    try:
        ort.InferenceSession(bytes(model_bytes), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/... exceptions
        return [f"onnxruntime {ort.__version__} cannot load it: {_one_line(e)}"]
    return []


# ---------------------------------------------------------------------------------- common

def enforce(results: Mapping[str, str], targets: Optional[Iterable[str]] = None,
            on_mismatch: str = "error") -> list:
    """Act on check results for the required ``targets`` (default: every checked target).

    Every required target must be ``"ok"``; a target missing from ``results`` counts as
    "not checked". With ``on_mismatch="error"`` raise :class:`IncompatibleArtifact` listing
    every failing target and its reasons; with ``"warn"`` return those as warning strings
    (``[]`` when all are fine) for the caller to log and record.
    """
    if on_mismatch not in ON_MISMATCH:
        raise ValueError(f"on_mismatch must be one of {', '.join(ON_MISMATCH)}, "
                         f"not {on_mismatch!r}")
    required = list(results) if targets is None else list(targets)
    failing = {t: results.get(t, "not checked") for t in required if results.get(t) != OK}
    if failing and on_mismatch == "error":
        raise IncompatibleArtifact(failing)
    return [f"{target}: {why}" for target, why in failing.items()]


def _known_targets(targets: Iterable[str], known: tuple, kind: str) -> list:
    targets = [targets] if isinstance(targets, str) else list(targets)
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise ValueError(f"unknown {kind} target(s) {', '.join(map(repr, unknown))}; "
                         f"available: {', '.join(known)}")
    return targets


def _one_line(error: BaseException, limit: int = 400) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
