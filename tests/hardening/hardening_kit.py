"""Helpers for the hardening tests (imported by name: tests/hardening is on sys.path).

Besides the tiny attention-LSTM of tests/generate_test_model.py, the load tests use a "bag"
model with the same input and output (ids (B, 200) int32 -> probability (B, 1)): an
embedding GATHER, a mean over the 200 positions, one dense unit and a sigmoid. It runs the
same runtime code (checks, chunking, the interpreter's shared buffers, dynamic resizes) at
some 50x the LSTM's speed, so 10,000 or 100,000 reviews fit in a test.
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
GENERATOR = PROJECT / "tests" / "generate_test_model.py"
FUZZER = PROJECT / "scripts" / "fuzz_artifacts.py"
PYTHON = sys.executable


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


gen = _module("generate_test_model", GENERATOR)
fuzz = _module("fuzz_artifacts", FUZZER)

BAG_EMBED = 8
MAX_LEN, VOCAB = 200, 20000


def bag_weights(seed: int = 99) -> dict:
    rng = np.random.default_rng(seed)
    return {"embedding": rng.standard_normal((VOCAB, BAG_EMBED)).astype(np.float32),
            "dense_kernel": (rng.standard_normal((BAG_EMBED, 1)) * 3).astype(np.float32),
            "dense_bias": np.zeros(1, np.float32)}


def bag_onnx_bytes(weights: dict) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Gather", ["embedding", "ids"], ["e"], axis=0),
             helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0),
             helper.make_node("MatMul", ["pooled", "dense_kernel"], ["logit_k"]),
             helper.make_node("Add", ["logit_k", "dense_bias"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["probability"])]
    graph = helper.make_graph(
        nodes, "bag", [helper.make_tensor_value_info("ids", TensorProto.INT32, ["batch", MAX_LEN])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


# Run by a child process (TensorFlow stays out of the test process): writes the TFLite
# models the hardening tests need into argv[1].
MAKE_TFLITE = r"""
import sys
from pathlib import Path
import numpy as np
sys.path[:0] = [sys.argv[2], sys.argv[3]]
import generate_test_model as gen
import hardening_kit as kit
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
    import subprocess

    weights = gen.make_weights()
    gen.write_numpy_model(folder, weights=weights)
    if importlib.util.find_spec("onnx") is not None:
        for batch in (None, 1):
            gen.write_onnx_model(folder, f"tiny_b{batch or 'any'}.onnx", weights, batch)
        gen.write_artifact(folder, "bag.onnx", bag_onnx_bytes(bag_weights()), "onnx")
    if importlib.util.find_spec("tensorflow") is not None:
        done = subprocess.run([PYTHON, "-c", MAKE_TFLITE, str(folder), str(GENERATOR.parent),
                               str(HERE)], capture_output=True, text=True, timeout=900,
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


def cli(capsys, *argv, stdin: bytes | None = None, monkeypatch=None):
    """`imdb-edge ARGV` in this process: (exit status, stdout lines, stderr)."""
    from imdb_edge.cli import main

    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def keep(report: dict) -> None:
    """Append a fuzzer's figures to $IMDB_EDGE_FUZZ_REPORT (one JSON object per line)."""
    path = os.environ.get("IMDB_EDGE_FUZZ_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(report) + "\n")


def one_error_line(err: str, pattern: str) -> None:
    """stderr is exactly one `imdb-edge VERB: error: ...` line matching ``pattern``."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and re.match(r"imdb-edge \w+: error: ", lines[0]), err
    assert re.search(pattern, lines[0]), lines[0]


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
