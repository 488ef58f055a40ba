"""Helpers shared by the test folders, imported by name (``from testkit import ...``):
tests/ is on sys.path (see conftest.py), here and in the child processes the tests start
with ``sys.path.insert(0, str(TESTS))``.

- the test models: ``gen`` (tests/generate_test_model.py as a module), ``write_tiny_models``
  (its models), ``make_models`` (the tiny attention-LSTM and the fast "bag" model in every
  format, for the hostile-input tests), ``copy_artifact``,
  ``edit_sidecar``, ``npy`` / ``npz_with`` (.npz archives by hand), ``make_npz`` (rows)
- the environment: ``installed``, ``FORBIDDEN`` / ``IMPORT_BLOCKER``, ``load_script``
- running things: ``run_cli`` / ``cli`` (the CLI in this process), ``one_error_line``,
  ``run_benchmark`` (a benchmarks/ script), ``rss_mb`` / ``peak_rss_mb``, ``keep``

The "bag" model has the LSTM's input and output (ids (B, 200) int32 -> probability (B, 1)):
an embedding GATHER, a mean over the 200 positions, one dense unit and a sigmoid. It runs
the same runtime code (checks, chunking, the interpreter's shared buffers, dynamic resizes)
at some 50x the LSTM's speed, so 10,000 or 100,000 reviews fit in a test.
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

import generate_test_model as gen  # tests/ is on sys.path, as this file is

TESTS = Path(__file__).resolve().parent
PROJECT = TESTS.parent
GENERATOR = TESTS / "generate_test_model.py"
BENCHMARKS = PROJECT / "benchmarks"
PYTHON = sys.executable

MAX_LEN, VOCAB = 200, 20000
BAG_EMBED = 8

# Imports a device install never has, or that runtime code must never make.
FORBIDDEN = ("tensorflow", "keras", "tf_keras", "tf2onnx", "imdb_edge.train", "imdb_edge.export")

# Python source that makes FORBIDDEN unimportable in the process that runs it.
IMPORT_BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {FORBIDDEN!r}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"blocked import of {{name}}")

sys.meta_path.insert(0, Blocker())
"""


# --- the environment -----------------------------------------------------------------------

def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def load_script(name: str, path: Path):
    """The Python file ``path`` as module ``name`` (registered in sys.modules, as
    dataclasses and pickling need), for scripts/ and other files outside a package."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


# --- artifacts and their sidecars ----------------------------------------------------------

def copy_artifact(artifact: Path, folder: Path) -> Path:
    """``artifact`` with its sidecar and vocabulary in ``folder`` (made if need be)."""
    artifact, folder = Path(artifact), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = json.loads(Path(f"{artifact}.json").read_text(encoding="utf-8"))
    for name in (artifact.name, f"{artifact.name}.json",
                 sidecar["preprocessing"]["vocabulary_file"]):
        shutil.copy(artifact.parent / name, folder / name)
    return folder / artifact.name


def edit_sidecar(target: Path, **changes) -> None:
    """Change top-level fields of ``target``'s sidecar, or nested ones as outer__inner; a
    value of ``...`` deletes the field."""
    path = Path(f"{target}.json")
    raw = json.loads(path.read_text())
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__")
            raw[outer][inner] = value
        elif value is ...:
            del raw[key]
        else:
            raw[key] = value
    path.write_text(json.dumps(raw))


def npy(array) -> bytes:
    """``array`` as the bytes of a .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz_with(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    """A zip archive (an .npz, if the members are .npy files) of name -> bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def make_npz(path: Path, n_train: int = 200, n_test: int = 200, seed: int = 0) -> Path:
    """Synthetic padded rows with a learnable signal: positive reviews draw their words
    from ids 3..1002, negative ones from 500..1499, so the two classes overlap halfway."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = (np.arange(n) % 2).astype(np.int32)
        rng.shuffle(y)
        x = np.zeros((n, 200), np.int32)
        for i in range(n):
            length = int(rng.integers(20, 200))
            x[i, 0] = 1
            x[i, 1:length] = rng.integers(3, 1003, length - 1) + 497 * (1 - y[i])
        return x, y

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


# --- the test models: the tiny attention-LSTM and the "bag" model ----------------------------

def write_tiny_models(folder: Path) -> Path:
    """tests/generate_test_model.py's models in ``folder``: tiny.npz always, the ONNX ones
    with onnx, the TFLite ones (and Keras reference outputs) with TensorFlow, in a child so
    this process never imports it (its output in tflite_generator.log)."""
    weights = gen.make_weights()
    gen.write_numpy_model(folder, weights=weights)
    if installed("onnx"):
        gen.write_onnx_models(folder, weights)
    if installed("tensorflow"):
        done = subprocess.run([PYTHON, str(GENERATOR), str(folder), "--tflite"],
                              capture_output=True, text=True, timeout=900)
        (folder / "tflite_generator.log").write_text(done.stdout + done.stderr)
    return folder


def bag_weights(seed: int = 99) -> dict:
    rng = np.random.default_rng(seed)
    return {"embedding": rng.standard_normal((VOCAB, BAG_EMBED)).astype(np.float32),
            "dense_kernel": (rng.standard_normal((BAG_EMBED, 1)) * 3).astype(np.float32),
            "dense_bias": np.zeros(1, np.float32)}


def bag_onnx_bytes(weights: dict, logits: bool = False) -> bytes:
    """The bag model as ONNX; with ``logits``, without its final sigmoid: its "probability"
    is then a logit (any real number)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Gather", ["embedding", "ids"], ["e"], axis=0),
             helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0),
             helper.make_node("MatMul", ["pooled", "dense_kernel"], ["logit_k"]),
             helper.make_node("Add", ["logit_k", "dense_bias"],
                              ["probability" if logits else "logit"])]
    if not logits:
        nodes.append(helper.make_node("Sigmoid", ["logit"], ["probability"]))
    graph = helper.make_graph(
        nodes, "logits" if logits else "bag",
        [helper.make_tensor_value_info("ids", TensorProto.INT32, ["batch", MAX_LEN])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


# Run by a child process (TensorFlow stays out of the test process): writes the TFLite
# models make_models needs into argv[1].
MAKE_TFLITE = r"""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[2])
import testkit as kit
from testkit import gen
import tensorflow as tf

folder = Path(sys.argv[1])
weights = gen.make_weights()
for batch in (None, 1):
    gen.write_tflite_model(folder, f"tiny_b{batch or 'any'}.tflite", weights, batch)

w = {k: tf.constant(v) for k, v in kit.bag_weights().items()}

@tf.function(input_signature=[tf.TensorSpec([None, kit.MAX_LEN], tf.int32, name="ids")])
def bag(ids):
    pooled = tf.reduce_mean(tf.gather(w["embedding"], ids), axis=1)
    return {"probability": tf.sigmoid(tf.matmul(pooled, w["dense_kernel"]) + w["dense_bias"])}

converter = tf.lite.TFLiteConverter.from_concrete_functions([bag.get_concrete_function()], bag)
gen.write_artifact(folder, "bag.tflite", converter.convert(), "tflite")
"""


def make_models(folder: Path) -> Path:
    """tiny.npz, tiny_*.onnx and bag.onnx here; the TFLite ones in a child with TensorFlow.
    A model that cannot be built (no onnx, no TensorFlow) is left out: its tests skip."""
    weights = gen.make_weights()
    gen.write_numpy_model(folder, weights=weights)
    if installed("onnx"):
        for batch in (None, 1):
            gen.write_onnx_model(folder, f"tiny_b{batch or 'any'}.onnx", weights, batch)
        gen.write_artifact(folder, "bag.onnx", bag_onnx_bytes(bag_weights()), "onnx")
    if installed("tensorflow"):
        done = subprocess.run([PYTHON, "-c", MAKE_TFLITE, str(folder), str(TESTS)],
                              capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        (folder / "tflite_generator.log").write_text(done.stdout + done.stderr)
    return folder


def random_reviews(n: int, seed: int = 0, words: int = 60) -> list:
    """Reviews of 1..2*words words from the tiny vocabulary, unknown words and punctuation."""
    rng = np.random.default_rng(seed)
    vocab = gen.vocabulary() + ["zzz", "qqq", "Movie!", "<br />", "it's", "10/10"]
    lengths = rng.integers(1, 2 * words, n)
    picks = rng.integers(0, len(vocab), lengths.sum())
    out, at = [], 0
    for length in lengths:
        out.append(" ".join(vocab[i] for i in picks[at:at + length]))
        at += length
    return out


# --- running things ---------------------------------------------------------------------------

def run_cli(capsys, *argv, stdin: bytes | None = None, monkeypatch=None) -> tuple:
    """`imdb-edge ARGV` in this process: (exit status, stdout, stderr). ``stdin`` (with
    ``monkeypatch``) replaces sys.stdin for the run."""
    from imdb_edge.cli import main

    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def cli(capsys, *argv, stdin: bytes | None = None, monkeypatch=None) -> tuple:
    """As run_cli, with stdout as a list of lines: (exit status, stdout lines, stderr)."""
    status, out, err = run_cli(capsys, *argv, stdin=stdin, monkeypatch=monkeypatch)
    return status, out.splitlines(), err


def one_error_line(err: str, pattern: str) -> None:
    """stderr is exactly one `imdb-edge VERB: error: ...` line matching ``pattern``."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and re.match(r"imdb-edge \w+: error: ", lines[0]), err
    assert re.search(pattern, lines[0]), lines[0]


def run_benchmark(name: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """benchmarks/NAME ARGS in a child (its own cache under ``cwd``), which must succeed."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", IMDB_EDGE_CACHE=str(cwd / "cache"))
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), *map(str, args)],
                          capture_output=True, text=True, timeout=900, cwd=cwd, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set size now (VmRSS) or at its peak (VmHWM), in MB (Linux).

    VmHWM belongs to the process's own address space; getrusage's ru_maxrss does not: Linux
    carries it over from the parent across fork and exec, so a child of a 300 MB pytest
    process starts with a 300 MB "peak"."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (VmHWM), in MB: see rss_mb."""
    return rss_mb("VmHWM")


def keep(report: dict) -> None:
    """Append a fuzzer's figures to $IMDB_EDGE_FUZZ_REPORT (one JSON object per line)."""
    path = os.environ.get("IMDB_EDGE_FUZZ_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(report) + "\n")
