"""`imdb-edge export`: convert, check compatibility, validate against Keras, then publish.

Each artifact is built in a staging folder inside the output folder and only moved into
place (artifact first, sidecar last) after it has passed every check, so a failure or an
interrupt never leaves a half-written or unvalidated artifact where a finished one would be.
"""
from __future__ import annotations

from imdb_edge.errors import UsageError

import dataclasses
import datetime
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from imdb_edge import __version__, resources
from imdb_edge.atomic import atomic_write, atomic_write_text
from imdb_edge.export import compat, intake
from imdb_edge.export.rows import fit_rows, load_rows  # noqa: F401  (fit_rows: parity.golden's)
from imdb_edge.helpers import one_line
from imdb_edge.metrics import compare, edge_cases
from imdb_edge.runtime import text
from imdb_edge.runtime.sidecar import (SCHEMA_VERSION, Preprocessing, Sidecar, TensorSpec,
                                       sha256_bytes, sidecar_path)
from imdb_edge.tolerances import judge

LABELS = ["negative", "positive"]
VOCAB_FILE = "vocab.txt"
DEFAULT_MODEL = resources.reference_model()


def _formats():
    from imdb_edge.export.numpy_format import MODES as NUMPY_MODES, convert_numpy
    from imdb_edge.export.onnx import MODES as ONNX_MODES, convert_onnx
    from imdb_edge.export.tflite import MODES as TFLITE_MODES, convert_tflite

    return {"tflite": (convert_tflite, TFLITE_MODES, ".tflite"),
            "onnx": (convert_onnx, ONNX_MODES, ".onnx"),
            "numpy": (convert_numpy, NUMPY_MODES, ".npz")}


FORMAT_NAMES = ("tflite", "onnx", "numpy")
ALL_MODES = ("float32", "float16", "dynamic", "int8", "int16x8")
CALIBRATED = ("int8", "int16x8")
DEFAULT_TARGETS = {"tflite": ("litert", "tflite-runtime-2.14"), "onnx": ("onnxruntime",),
                   "numpy": ()}


@dataclasses.dataclass
class ExportOptions:
    model: str = str(DEFAULT_MODEL)   # .keras, .h5 or Keras 2 SavedModel folder
    out: str = "artifacts"            # output folder
    formats: tuple = ("tflite", "onnx", "numpy")
    modes: Optional[tuple] = None     # None: every mode each format supports
    batches: tuple = (1, 64)          # TFLite batch sizes (ONNX and numpy take any batch)
    data: Optional[str] = None        # dataset for calibration and validation
    calibration: int = 500            # training reviews used to calibrate int8 / int16x8
    validate: int = 2000              # test reviews compared with Keras; 0 = --no-validate
    targets: Optional[tuple] = None   # runtimes every artifact must load on
    on_mismatch: str = "error"        # "error" or "warn" when a target cannot load it
    int8_io: bool = False             # int8 output tensor for TFLite int8
    convention: text.Convention = text.NOTEBOOK  # how the model's rows were made from words


@dataclasses.dataclass
class Outcome:
    artifact: str
    format: str
    quantization: str
    batch: Optional[int]
    status: str                        # "PASS", "FAIL", "UNVALIDATED", "ERROR"
    size_bytes: int = 0
    ops: str = ""
    runtimes: dict = dataclasses.field(default_factory=dict)
    parity: Optional[dict] = None
    problems: list = dataclasses.field(default_factory=list)


def plan(options: ExportOptions) -> list:
    """(format, mode, batch) triples to build, refusing unknown names up front."""
    formats = _formats()
    jobs = []
    for fmt in options.formats:
        if fmt not in formats:
            raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMAT_NAMES)}, all")
        modes = formats[fmt][1]
        wanted = options.modes or modes
        for mode in wanted:
            if mode not in ALL_MODES:
                raise ValueError(f"unknown quantization {mode!r}; choose from {', '.join(ALL_MODES)}")
            if mode not in modes:
                continue  # e.g. int16x8 is TFLite-only; --quantize applies where it exists
            for batch in (options.batches if fmt == "tflite" else (None,)):
                jobs.append((fmt, mode, batch))
    if not jobs:
        raise ValueError(f"no format among {', '.join(options.formats)} supports "
                         f"{', '.join(options.modes or ())}")
    return jobs


def export(options: ExportOptions, log: Callable[[str], None] = print) -> list:
    """Build, check and publish every planned artifact. Returns one Outcome per artifact."""
    jobs = plan(options)
    if options.on_mismatch not in ("error", "warn"):
        raise ValueError("--on-mismatch must be error or warn")
    # The architecture is read and checked before anything else: one message, once.
    model = intake.load(options.model)
    spec = model.spec
    log(f"model: {model.source['file']} ({model.source['kind']}, Keras "
        f"{model.source['keras_version']}): length {spec.length}, vocabulary "
        f"{spec.vocab_size}, embedding {spec.embed_dim}, {spec.gate} gates")
    # Then the rows, before the output folder is touched: rows that cannot be exact are refused.
    reviews = labels = calibration = None
    if options.validate > 0 or any(mode in CALIBRATED for _, mode, _ in jobs):
        found = load_rows(options.data, spec, options.convention,
                          calibration=options.calibration, validate=options.validate)
        calibration, reviews, labels = found.calibration, found.reviews, found.labels
        log(f"rows: {found.source}")
    out = Path(options.out)
    _prepare_out(out)
    rows = reference = None
    if options.validate > 0:
        edges, _ = edge_cases(spec=spec)
        rows = np.concatenate([reviews, edges]).astype(np.int32)
        log(f"keras reference: {len(reviews)} test reviews + {len(edges)} edge cases")
        reference = model.predict(rows)

    vocab_sha = _write_vocabulary(out, options.data)
    outcomes = []
    formats = _formats()
    for fmt, mode, batch in jobs:
        convert, _, ext = formats[fmt]
        name = f"imdb-{mode}" + (f"-b{batch}" if batch else "") + ext
        log(f"[{len(outcomes) + 1}/{len(jobs)}] {name}: converting")
        started = time.time()
        outcome = Outcome(name, fmt, mode, batch, "ERROR")
        outcomes.append(outcome)
        try:
            kwargs = dict(quantize=mode)
            if fmt == "tflite":
                kwargs.update(batch=batch, int8_io=options.int8_io and mode == "int8")
            if mode in CALIBRATED:
                kwargs["calibration"] = calibration
            blob = convert(model, **kwargs)
        except Exception as exc:  # a converter failure is reported per artifact, not fatal
            outcome.problems.append(f"conversion failed: {one_line(exc)}")
            log(f"  FAILED to convert: {outcome.problems[-1]}")
            continue
        _publish(out, outcome, blob, vocab_sha, model, options, rows, reference, labels, log)
        log(f"  {outcome.status} in {time.time() - started:.1f}s"
            + (f": {'; '.join(outcome.problems)}" if outcome.problems else ""))
    write_manifest(out)
    return outcomes


def load_keras_model(path: str):
    """(The model at ``path`` rebuilt in Keras 3 with its own gates, its sha256): any file
    kind intake reads, checked against the family first, no code from the file run."""
    model = intake.load(path)
    return model.keras_model(), model.source["sha256"]


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-")
        probe.close()
    except OSError as exc:
        raise UsageError(f"output folder {out} is not writable ({exc.strerror or exc})") from None
    _remove_stale_staging(out)


STAGING = ".staging-"


def _staging_folder(out: Path) -> Path:
    """A hidden folder named after this process (.staging-<pid>-xxxx), so that a later export
    can tell a folder left by a killed export from one a running export still uses."""
    return Path(tempfile.mkdtemp(dir=out, prefix=f"{STAGING}{os.getpid()}-"))


def _remove_stale_staging(out: Path) -> None:
    """Remove staging folders left by an export that was killed (SIGKILL, power loss): those
    whose process is gone, and those named without a pid (older versions)."""
    for folder in out.glob(f"{STAGING}*"):
        pid = folder.name[len(STAGING):].split("-", 1)[0]
        if folder.is_dir() and not (pid.isdigit() and _process_alive(int(pid))):
            shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def _write_vocabulary(out: Path, data: Optional[str]) -> str:
    """vocab.txt: line r is the word of frequency rank r (the Keras IMDB word index)."""
    from imdb_edge.train import data as data_lib

    index_path = _word_index_path(data)
    index = data_lib.load_word_index(index_path) if index_path else resources.word_index()
    words = [w for w, _ in sorted(index.items(), key=lambda kv: kv[1])]
    if any("\n" in w for w in words) or [r for _, r in sorted(index.items(), key=lambda kv: kv[1])] \
            != list(range(1, len(words) + 1)):
        raise ValueError(f"{index_path}: ranks must be 1..N without gaps and words without newlines")
    blob = ("\n".join(words) + "\n").encode("utf-8")
    with atomic_write(out / VOCAB_FILE) as f:
        f.write(blob)
    return sha256_bytes(blob)


def _word_index_path(data: Optional[str]) -> Path:
    from imdb_edge.train import data as data_lib

    source = data_lib.resolve_source(data)
    if source is not None:
        for folder in (Path(source), Path(source).parent):
            if (folder / data_lib.WORD_INDEX_NAME).is_file():
                return folder / data_lib.WORD_INDEX_NAME
    return None  # the vocabulary packaged with imdb-edge (the same Keras word index)


def _publish(out: Path, outcome: Outcome, blob: bytes, vocab_sha: str, model,
             options: ExportOptions, rows, reference, labels, log) -> None:
    fmt = outcome.format
    outcome.size_bytes = len(blob)
    ops, runtimes = _compatibility(fmt, blob, options)
    outcome.runtimes = runtimes
    outcome.ops = _ops_summary(ops)
    targets = options.targets or DEFAULT_TARGETS[fmt]
    targets = [t for t in targets if t in runtimes]
    try:
        for warning in compat.enforce(runtimes, targets, on_mismatch=options.on_mismatch):
            outcome.problems.append(f"warning: {warning}")
    except compat.IncompatibleArtifact as exc:
        outcome.status = "FAIL"
        outcome.problems.append(str(exc))
        return
    sidecar = _sidecar(outcome, blob, ops, runtimes, vocab_sha, model, options.convention)
    mismatch = _sizes_mismatch(outcome.format, blob, sidecar)
    if mismatch:  # checked with and without --no-validate: never publish such a pair
        outcome.status = "FAIL"
        outcome.problems.append(f"artifact disagrees with its sidecar: {mismatch}")
        return
    staging = _staging_folder(out)
    try:
        (staging / outcome.artifact).write_bytes(blob)
        shutil.copyfile(out / VOCAB_FILE, staging / VOCAB_FILE)
        sidecar_path(staging / outcome.artifact).write_text(sidecar.to_json())
        if rows is not None:
            from imdb_edge.runtime import load

            probs = load(staging / outcome.artifact).predict_ids(rows)
            metrics = compare(reference, probs, labels)
            outcome.parity = dict(metrics, reviews=len(labels), edge_cases=len(rows) - len(labels))
            broken = judge(outcome.quantization, metrics)
            outcome.problems.extend(broken)
            outcome.status = "FAIL" if broken else "PASS"
        else:
            outcome.status = "UNVALIDATED"
        if outcome.status == "FAIL":
            return  # nothing published: the staging folder is removed below
        sidecar = dataclasses.replace(sidecar, parity=outcome.parity)
        os.replace(staging / outcome.artifact, out / outcome.artifact)
        atomic_write_text(sidecar_path(out / outcome.artifact), sidecar.to_json())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _compatibility(fmt: str, blob: bytes, options: ExportOptions):
    if fmt == "tflite":
        ops = compat.tflite_ops(blob)
        runtimes = compat.check_tflite(blob)
    elif fmt == "onnx":
        info = compat.onnx_info(blob)
        ops = info["ops"]
        runtimes = compat.check_onnx(blob)
    else:
        ops, runtimes = [], {"numpy": "ok"}
    return ops, runtimes


def _ops_summary(ops: list) -> str:
    top = sorted(ops, key=lambda o: -o.get("count", 0))[:4]
    return f"{len(ops)} kinds: " + ", ".join(f"{o['name']}x{o.get('count', 0)}" for o in top)


def _sidecar(outcome: Outcome, blob: bytes, ops, runtimes, vocab_sha, model,
             convention: text.Convention) -> Sidecar:
    spec = model.spec
    inp, outp = _io_specs(outcome.format, blob, spec)
    return Sidecar(
        schema_version=SCHEMA_VERSION, format=outcome.format, artifact=outcome.artifact,
        sha256=sha256_bytes(blob), size_bytes=len(blob), quantization=outcome.quantization,
        batch=outcome.batch, input=inp, output=outp,
        preprocessing=Preprocessing(
            max_len=spec.length, vocab_size=spec.vocab_size, pad_id=text.PAD_ID,
            start_id=text.START_ID, oov_id=text.OOV_ID, index_from=text.INDEX_FROM,
            tokenizer_rule=text.TOKENIZER_RULE, tokenizer_version=text.TOKENIZER_VERSION,
            **dataclasses.asdict(convention),
            vocabulary_file=VOCAB_FILE, vocabulary_sha256=vocab_sha),
        labels=LABELS, threshold=0.5, ops=ops, runtimes=runtimes, tools=_tools(),
        source_model=dict(model.source), parity=None, float_ops=_float_ops(outcome),
        model=spec.to_dict())


def _float_ops(outcome: Outcome) -> list:
    """Ops an int8 artifact keeps in float (selective quantization), for the sidecar."""
    if outcome.quantization != "int8" or outcome.format == "numpy":
        return []
    module = importlib.import_module(f"imdb_edge.export.{outcome.format}")
    return list(module.INT8_FLOAT_OPS)


def _io_specs(fmt: str, blob: bytes, spec):
    from imdb_edge.export.graph import INPUT_NAME, OUTPUT_NAME

    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=blob)
        specs = []
        for d in (interpreter.get_input_details()[0], interpreter.get_output_details()[0]):
            scale, zero = d["quantization"]
            quantized = np.dtype(d["dtype"]).kind in "iu" and scale != 0.0
            specs.append(TensorSpec(d["name"], [int(v) for v in d["shape"]],
                                    np.dtype(d["dtype"]).name,
                                    float(scale) if quantized else None,
                                    int(zero) if quantized else None))
        return specs
    if fmt == "onnx":
        return (TensorSpec(INPUT_NAME, [None, spec.length], "int32"),
                TensorSpec(OUTPUT_NAME, [None, 1], "float32"))
    return (TensorSpec(INPUT_NAME, [None, spec.length], "int32"),
            TensorSpec(OUTPUT_NAME, [None], "float32"))


def _sizes_mismatch(fmt: str, blob: bytes, sidecar: Sidecar) -> str:
    """How the artifact's input length or embedding table differs from the sidecar's
    max_len and vocab_size, or '' when they agree."""
    pre = sidecar.preprocessing
    embed = sidecar.model["embed_dim"]
    if fmt == "numpy":
        from imdb_edge.runtime.backends.numpy_ref import load_weights
        from imdb_edge.runtime.sidecar import ArtifactError

        try:
            load_weights(blob, sidecar)
        except ArtifactError as exc:
            return str(exc)
        return ""
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=blob)
        length = int(interpreter.get_input_details()[0]["shape"][1])
        tables = [tuple(int(v) for v in d["shape"]) for d in interpreter.get_tensor_details()]
    else:
        import onnx

        proto = onnx.load_from_string(blob)
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        length = dims[1].dim_value if len(dims) == 2 else 0
        tables = [tuple(t.dims) for t in proto.graph.initializer]
    if length != pre.max_len:
        return f"input length {length}, sidecar max_len {pre.max_len}"
    if (pre.vocab_size, embed) not in tables:
        return f"no ({pre.vocab_size}, {embed}) embedding table for the sidecar's vocab_size"
    return ""


def _tools() -> dict:
    from importlib import metadata

    tools = {"imdb-edge": __version__, "python": sys.version.split()[0]}
    for package in ("tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime",
                    "ai-edge-litert", "numpy"):
        try:
            tools[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return tools


_MANIFEST_FIELDS = ("format", "quantization", "batch", "size_bytes", "sha256")


def write_manifest(out: Path) -> None:
    """manifest.json lists every published artifact in ``out`` (read from the sidecars)."""
    entries = []
    for side in sorted(out.glob("*.json")):
        if side.name == "manifest.json":
            continue
        try:
            d = json.loads(side.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        # Only our sidecars: "<artifact>.json" holding every field the manifest lists. An
        # unrelated JSON in the folder is left alone, whatever keys it has.
        if not (isinstance(d, dict) and side.name == f"{d.get('artifact')}.json"
                and all(k in d for k in _MANIFEST_FIELDS)):
            continue
        parity = d.get("parity") or {}
        entries.append(dict(artifact=d["artifact"], sidecar=side.name, format=d["format"],
                            quantization=d["quantization"], batch=d["batch"],
                            size_bytes=d["size_bytes"], sha256=d["sha256"],
                            runtimes=d.get("runtimes", {}),
                            max_abs=parity.get("max_abs"), agreement=parity.get("agreement"),
                            accuracy_delta_points=parity.get("accuracy_delta_points")))
    atomic_write_text(out / "manifest.json", json.dumps(dict(
        schema_version=SCHEMA_VERSION, created=datetime.datetime.now(datetime.timezone.utc)
        .isoformat(timespec="seconds"), vocabulary=VOCAB_FILE, artifacts=entries), indent=2) + "\n")
