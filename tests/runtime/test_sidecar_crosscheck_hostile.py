"""A sidecar edited on its own is caught where the artifact itself can say otherwise: the
embedding table's rows against vocab_size, the model's dtypes and shapes, its op list;
every number in the sidecar is range-checked, and no output outside [0, 1] is printed as a
probability. Each case below was scored, silently wrong, before these checks.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from testkit import (MAX_LEN, bag_onnx_bytes, bag_weights, cli, edit_sidecar, gen,
                     one_error_line)

pytestmark = pytest.mark.hardening

FORMATS = [("tiny.npz", "numpy"), ("tiny_bany.onnx", "onnxruntime"),
           ("tiny_bany.tflite", "litert"), ("tiny_b1.tflite", "litert")]
ROWS = [[1, 14, 22, 16] + [0] * (MAX_LEN - 4)]


@pytest.mark.parametrize("vocab", [10, 19999, 20001, 100000])
@pytest.mark.parametrize("name,backend", FORMATS, ids=[n for n, _ in FORMATS])
def test_vocab_size_must_match_the_embedding_table(copy_of, name, backend, vocab):
    from imdb_edge.runtime import ArtifactError, load

    path = copy_of(name, backend)
    edit_sidecar(path, preprocessing__vocab_size=vocab)
    message = (r"embedding has shape \(20000, 20\), expected \(%d, 20\)" % vocab
               if backend == "numpy" else
               rf"embedding table has shape \[20000, \d+\] but the sidecar says vocab_size {vocab}")
    with pytest.raises(ArtifactError, match=message):
        load(path, backend=backend)


@pytest.mark.parametrize("threshold", [math.nan, -math.inf, math.inf, 0, 1, 1.5, -0.1, "0.5",
                                       None, True])
def test_threshold_is_a_number_in_the_open_unit_interval(copy_of, threshold):
    from imdb_edge.runtime import ArtifactError, load

    path = copy_of("tiny.npz")
    edit_sidecar(path, threshold=threshold)  # json writes NaN and Infinity as Python reads them
    with pytest.raises(ArtifactError, match="threshold must be a number between 0 and 1"):
        load(path)


@pytest.mark.parametrize("labels", [["positive", "positive"], ["", "positive"],
                                    ["negative", " "], ["negative"], ["a", "b", "c"],
                                    ["negative", 1], "negative,positive"])
def test_labels_are_two_different_names(copy_of, labels):
    """Found by scripts/fuzz_sidecars.py: a repeated or empty label was printed for every
    review on that side of the threshold."""
    from imdb_edge.runtime import ArtifactError, load

    path = copy_of("bag.onnx")
    edit_sidecar(path, labels=labels)
    with pytest.raises(ArtifactError, match="labels must be two different names"):
        load(path)
    edit_sidecar(path, labels=["bad", "good"])  # any two names: they are the sidecar's to give
    assert load(path).score_ids(ROWS)[0]["label"] in ("bad", "good")


@pytest.mark.parametrize("gate", [["sigmoid"], {"name": "sigmoid"}, None, 1, "tanh"])
def test_the_model_blocks_gate_must_be_a_known_name(copy_of, gate):
    """Found by scripts/fuzz_sidecars.py: a list or an object as the numpy backend's gate
    raised TypeError (a traceback from the CLI) instead of a refusal."""
    from imdb_edge.runtime import ArtifactError, load
    from imdb_edge.spec import REFERENCE

    path = copy_of("tiny.npz")
    edit_sidecar(path, model=dict(REFERENCE.to_dict(), gate=gate))
    with pytest.raises(ArtifactError, match="gate must be one of"):
        load(path)
    edit_sidecar(path, model=REFERENCE.to_dict())
    assert 0 <= load(path).predict_ids(ROWS)[0] <= 1


def test_threshold_from_the_cli(copy_of, capsys):
    path = copy_of("tiny.npz")
    Path(f"{path}.json").write_text(Path(f"{path}.json").read_text()
                                    .replace('"threshold": 0.5', '"threshold": NaN'))
    status, out, err = cli(capsys, "score", path, "--text", "a good film")
    assert status == 2 and out == []
    one_error_line(err, "threshold must be a number between 0 and 1 .exclusive., got nan")


def bag_logit_onnx() -> bytes:
    """The bag model without its final sigmoid: it outputs logits (any real number)."""
    weights = bag_weights()
    weights["dense_kernel"] = weights["dense_kernel"] * 10
    return bag_onnx_bytes(weights, logits=True)


def test_outputs_outside_0_1_are_refused(tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from imdb_edge.runtime import ArtifactError, load

    path = gen.write_artifact(tmp_path, "logits.onnx", bag_logit_onnx(), "onnx")
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20000, (64, MAX_LEN))
    raw = load(path)._backend.run(ids.astype(np.int32))
    assert raw.min() < 0 and raw.max() > 1  # what was printed as "probability" before
    with pytest.raises(ArtifactError, match=r"rows outside \[0, 1\]\): it is not a probability"):
        load(path).predict_ids(ids)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("".join(" ".join(map(str, row)) + "\n" for row in ids))
    status, out, err = cli(capsys, "score", path, "--ids", ids_file)
    assert status == 2 and out == []
    one_error_line(err, r"outside \[0, 1\]")


def test_a_wrong_output_scale_in_the_sidecar_is_caught(tmp_path):
    """An int8 output dequantized with a scale of 1 instead of 1/256 gives 'probabilities'
    up to 255: refused rather than labelled."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from imdb_edge.runtime import ArtifactError, load

    path = gen.write_onnx_model(tmp_path, "tiny_int8.onnx", output_quant=(1 / 256, -128))
    assert load(path).predict_ids(ROWS * 3).max() <= 1
    edit_sidecar(path, output__scale=1.0)
    with pytest.raises(ArtifactError, match=r"outside \[0, 1\]"):
        load(path).predict_ids(ROWS * 3)
    for scale in (math.nan, -1.0, 0.0, 1e300):
        edit_sidecar(path, output__scale=scale)
        with pytest.raises(ArtifactError, match="output scale must be a positive number"):
            load(path)


def true_ops(path: Path, backend: str) -> list:
    from imdb_edge.runtime import load

    model = load(path, backend=backend)
    if backend == "onnxruntime":
        from imdb_edge.runtime.backends._onnx_graph import summary

        found = summary(path.read_bytes())["ops"]
    else:
        found = model._backend._graph(model._backend._input["index"])[1]
    return [{"name": n, "version": 1, "count": c} for n, c in sorted(found.items())]


@pytest.mark.parametrize("name,backend", FORMATS[1:3], ids=["onnx", "tflite"])
def test_the_op_list_must_be_the_models(copy_of, name, backend):
    from imdb_edge.runtime import ArtifactError, load

    path = copy_of(name, backend)
    ops = true_ops(path, backend)
    edit_sidecar(path, ops=ops)
    assert load(path, backend=backend).predict_ids(ROWS).shape == (1,)  # the control
    edit_sidecar(path, ops=[op for op in ops if op["name"] not in ("Gather", "GATHER")])
    with pytest.raises(ArtifactError, match="the model's ops differ from its sidecar's: "
                                            "(Gather|GATHER) .model 1, sidecar not listed"):
        load(path, backend=backend)
    if backend == "onnxruntime":  # the whole graph is read: counts must agree too
        edit_sidecar(path, ops=[dict(op, count=op["count"] + 1) if op["name"] == "MatMul" else op
                                for op in ops])
        with pytest.raises(ArtifactError, match=r"MatMul \(model 4, sidecar 5\)"):
            load(path, backend=backend)


@pytest.mark.parametrize("name,backend", FORMATS[1:3], ids=["onnx", "tflite"])
@pytest.mark.parametrize("field,value,message", [
    ("input__dtype", "int64", "the model's input is int32, the sidecar says int64"),
    ("output__dtype", "int8", "the model's output is float32, the sidecar says int8"),
    ("output__dtype", "no-such-type", "is not a dtype"),
    ("output__shape", [None, 2], "the sidecar's output shape"),
    ("input__shape", [None, 199], r"input shape \[None, 199\] is not \[batch, max_len 200\]"),
    ("input__shape", "200", "input shape must be a list"),
])
def test_input_and_output_specs_must_be_the_models(copy_of, name, backend, field, value,
                                                   message):
    from imdb_edge.runtime import ArtifactError, load

    path = copy_of(name, backend)
    edit_sidecar(path, **{field: value})
    with pytest.raises(ArtifactError, match=message):
        load(path, backend=backend)


@pytest.mark.parametrize("digits", [4000, 5000])
def test_huge_integers_in_a_sidecar(copy_of, capsys, digits):
    """Python refuses to convert integers of more than 4,300 digits; either way the error
    names the sidecar and stays one short line."""
    path = copy_of("tiny.npz")
    side = Path(f"{path}.json")
    raw = json.loads(side.read_text())
    text = json.dumps(raw).replace(f'"size_bytes": {raw["size_bytes"]}',
                                   f'"size_bytes": {"9" * digits}')
    side.write_text(text)
    status, out, err = cli(capsys, "score", path, "--text", "good")
    assert status == 2 and out == [] and len(err) < 400
    if digits > 4300:
        one_error_line(err, r"sidecar .*tiny.npz.json is not valid JSON \(Exceeds the limit")
    else:
        one_error_line(err, r"size_bytes must be a file size in bytes .* \(4000 characters\)")
