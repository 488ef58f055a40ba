"""Bad token ids never reach a backend: the embedding lookup is a GATHER, and an id outside
[0, vocab_size) would make some kernels read out of bounds (numpy's silently wraps -1 to the
last row). Each case is refused, with a message naming it, before anything runs; proved by
recording every call into the backend and into its native library.

tests/runtime/test_runtime_inputs.py checks the messages against a fake backend; here the
same promises are checked against the real backends and the CLI.
"""
from __future__ import annotations

import numpy as np
import pytest

from testkit import MAX_LEN, VOCAB, cli, one_error_line

pytestmark = pytest.mark.hardening

BACKENDS = [("tiny.npz", "numpy"), ("tiny_bany.onnx", "onnxruntime"),
            ("tiny_bany.tflite", "litert"), ("tiny_b1.tflite", "litert")]


def cell(value, dtype, row=1, col=17, rows=3):
    ids = np.ones((rows, MAX_LEN), dtype)
    ids[row, col] = value
    return ids


BAD_IDS = {
    "-1": (cell(-1, np.int32), r"row 1, column 17: id -1 is outside \[0, 20000\)"),
    "vocab_size": (cell(VOCAB, np.int32), r"id 20000 is outside"),
    "2**31-1": (cell(2 ** 31 - 1, np.int64), r"id 2147483647 is outside"),
    "2**31 (int32 cast wraps it negative)": (cell(2 ** 31, np.int64), r"id 2147483648 is outside"),
    "2**32+5 (int32 cast wraps it to 5)": (cell(2 ** 32 + 5, np.int64), r"id 4294967301 is outside"),
    "uint64 max": (cell(2 ** 64 - 1, np.uint64), r"id 18446744073709551615 is outside"),
    "python 2**31-1": ([[1] * MAX_LEN, [1] * 17 + [2 ** 31 - 1] + [1] * 182],
                       r"row 1, column 17: id 2147483647 is outside"),
    "whole floats": (np.ones((2, MAX_LEN), np.float64), "ids must be integers, got float64"),
    "float16": (np.ones((2, MAX_LEN), np.float16), "ids must be integers, got float16"),
    "float list": ([[1.5] * MAX_LEN], "ids must be integers"),
    "NaN": (cell(np.nan, np.float32), "row 1, column 17: nan is not a token id"),
    "-inf": (cell(-np.inf, np.float64), "row 1, column 17: -inf is not a token id"),
    "199 columns": (np.ones((2, 199), np.int32), "200 columns per row, got 199"),
    "201 columns": (np.ones((2, 201), np.int32), "200 columns per row, got 201"),
    "0 columns": (np.ones((2, 0), np.int32), "200 columns per row, got 0"),
    "3-D": (np.ones((2, 1, MAX_LEN), np.int32), r"2-D \(N, 200\), got shape \(2, 1, 200\)"),
    "1-D": (np.ones(MAX_LEN, np.int32), r"wrap a single review as \[ids\]"),
    "empty batch": (np.zeros((0, MAX_LEN), np.int32), "empty batch"),
    "empty list": ([], "empty batch"),
    "ragged rows": ([[1] * MAX_LEN, [1] * 150], "row 1: has 150 ids, expected 200"),
    "None cell": ([[1] * 17 + [None] + [1] * 182], "None is not an integer token id"),
    "bad id in the last of 130 rows": (cell(-1, np.int32, row=129, col=199, rows=130),
                                       r"row 129, column 199: id -1 is outside"),
}


class Recorder:
    """Counts calls to a function, then calls it."""

    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


@pytest.fixture(scope="module", params=BACKENDS, ids=[f"{b}-{n}" for n, b in BACKENDS])
def loaded(request, model_path):
    from imdb_edge.runtime import load

    name, backend = request.param
    return load(model_path(name, backend), backend=backend, threads=1)


@pytest.fixture
def recorded(loaded, monkeypatch):
    """The model, with every entry point into the backend and its native library recorded:
    Backend.run, and the interpreter's invoke / the session's run / numpy's forward."""
    import imdb_edge.runtime.backends.numpy_ref as numpy_ref

    backend = loaded._backend
    recorders = {"Backend.run": Recorder(backend.run)}
    monkeypatch.setattr(backend, "run", recorders["Backend.run"])
    if hasattr(backend, "_interpreter"):
        for name in ("set_tensor", "invoke", "resize_tensor_input"):
            recorders[name] = Recorder(getattr(backend._interpreter, name))
            monkeypatch.setattr(backend._interpreter, name, recorders[name])
    elif hasattr(backend, "_session"):
        recorders["InferenceSession.run"] = Recorder(backend._session.run)
        monkeypatch.setattr(backend._session, "run", recorders["InferenceSession.run"])
    else:
        recorders["forward"] = Recorder(numpy_ref.forward)
        monkeypatch.setattr(numpy_ref, "forward", recorders["forward"])
    return loaded, recorders


@pytest.mark.parametrize("bad,message", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_bad_ids_never_reach_the_backend(recorded, bad, message):
    model, recorders = recorded
    for call in (model.predict_ids, model.score_ids):
        with pytest.raises(ValueError, match=message):
            call(bad)
    assert {name: r.calls for name, r in recorders.items()} == dict.fromkeys(recorders, 0)


def test_the_recorders_do_see_good_ids(recorded):
    """The control for the test above: valid ids go through every recorded entry point."""
    model, recorders = recorded
    probs = model.predict_ids(np.full((2, MAX_LEN), VOCAB - 1, np.int64))
    assert probs.shape == (2,) and np.isfinite(probs).all()
    assert all(r.calls > 0 for name, r in recorders.items() if name != "resize_tensor_input")


def test_numpy_gather_would_wrap_minus_one_silently(models):
    """Why the check matters: numpy's embedding lookup takes -1 as the last row and scores
    a review nobody wrote, without any error. Only check_ids stands in the way."""
    from imdb_edge.runtime.backends import numpy_ref

    weights = dict(np.load(models / "tiny.npz"))
    wrapped = numpy_ref.forward(np.full((1, MAX_LEN), -1), **weights)
    last = numpy_ref.forward(np.full((1, MAX_LEN), VOCAB - 1), **weights)
    np.testing.assert_array_equal(wrapped, last)


# --- the CLI: `imdb-edge score ARTIFACT --ids FILE` -------------------------------------------

ROW = ["5"] * MAX_LEN
BAD_LINES = {
    "-1": ([["-1"] + ROW[1:]], r"line 1, value 1: id -1 is outside \[0, 20000\)"),
    "20000": ([ROW[:-1] + ["20000"]], r"line 1, value 200: id 20000 is outside"),
    "2**31-1": ([ROW, ROW[:9] + ["2147483647"] + ROW[10:]],
                r"line 2, value 10: id 2147483647 is outside"),
    "2**32+5": ([ROW[:-1] + ["4294967301"]], r"id 4294967301 is outside"),
    "10**30": ([ROW[:-1] + ["1" + "0" * 30]], r"id 1000000000000000000000000000000 is outside"),
    "1.0": ([ROW[:-1] + ["1.0"]], r"value 200: '1.0' is not an integer"),
    "1e3": ([ROW[:-1] + ["1e3"]], r"'1e3' is not an integer"),
    "nan": ([["nan"] + ROW[1:]], r"value 1: 'nan' is not an integer"),
    "inf": ([["inf"] + ROW[1:]], r"'inf' is not an integer"),
    "hex": ([["0x10"] + ROW[1:]], r"'0x10' is not an integer"),
    "NUL byte": ([["5\x00"] + ROW[1:]], r"is not an integer"),
    "199 values": ([ROW[:-1]], "line 1: expected 200 ids, got 199"),
    "201 values": ([ROW + ["5"]], "line 1: expected 200 ids, got 201"),
    "0 values (blank line)": ([ROW, []], "line 2: expected 200 ids, got 0"),
    "3-D as JSON": ([["[[" + ",".join(ROW) + "]]"]], "line 1: expected 200 ids, got 1"),
    "empty file": ([], "no rows of ids"),
}


def ids_file(path, rows):
    path.write_text("".join(" ".join(row) + "\n" for row in rows))
    return path


@pytest.fixture
def load_never_called(monkeypatch):
    """The CLI reads and checks ids before it loads the model: make loading fail the test."""
    import imdb_edge.runtime

    def forbidden(*args, **kwargs):
        raise AssertionError("the model was loaded for bad ids")

    monkeypatch.setattr(imdb_edge.runtime, "load", forbidden)


@pytest.mark.parametrize("rows,message", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_cli_refuses_bad_ids_with_exit_2(capsys, models, tmp_path, load_never_called, rows,
                                         message):
    status, out, err = cli(capsys, "score", models / "tiny.npz", "--ids",
                           ids_file(tmp_path / "ids.txt", rows))
    assert status == 2 and out == []
    one_error_line(err, message)


def test_cli_refuses_bad_ids_from_stdin(capsys, models, monkeypatch, load_never_called):
    status, out, err = cli(capsys, "score", models / "tiny.npz", "--ids", "-",
                           stdin=(" ".join(ROW[:-1] + ["-7"]) + "\n").encode(),
                           monkeypatch=monkeypatch)
    assert status == 2 and out == []
    one_error_line(err, r"stdin line 1, value 200: id -7 is outside")


@pytest.mark.parametrize("name,backend", [("tiny.npz", "numpy"), ("tiny_bany.onnx", "onnxruntime"),
                                          ("tiny_b1.tflite", "litert")])
def test_cli_scores_the_largest_valid_id(capsys, model_path, tmp_path, name, backend):
    """The control: the edge of the range goes through on every format."""
    path = model_path(name, backend)
    status, out, err = cli(capsys, "score", path, "--ids",
                           ids_file(tmp_path / "ids.txt", [[str(VOCAB - 1)] * MAX_LEN, ROW]))
    assert status == 0 and len(out) == 2, err
