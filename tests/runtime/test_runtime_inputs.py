"""Every bad input is refused with a ValueError naming the problem, before any backend runs."""
from __future__ import annotations

import numpy as np
import pytest

MAX_LEN, VOCAB = 200, 20000


def with_cell(value, row=1, col=17, dtype=np.int64, n=3):
    ids = np.ones((n, MAX_LEN), dtype)
    ids[row, col] = value
    return ids


BAD_IDS = {
    "1-D list": ([1] * MAX_LEN, r"2-D .*wrap a single review as \[ids\]"),
    "1-D array": (np.ones(MAX_LEN, np.int32), r"got shape \(200,\); wrap"),
    "3-D array": (np.ones((1, 1, MAX_LEN), np.int32), r"2-D \(N, 200\), got shape \(1, 1, 200\)"),
    "numpy scalar": (np.int32(5), "numpy array or a list of rows, got int32"),
    "0-D array": (np.array(5), r"got shape \(\)"),
    "199 columns": (np.ones((2, 199), np.int32), "200 columns per row, got 199"),
    "201 columns": (np.ones((2, 201), np.int32), "200 columns per row, got 201"),
    "0 columns": (np.ones((2, 0), np.int32), "200 columns per row, got 0"),
    "empty list": ([], "empty batch"),
    "empty array": (np.zeros((0, MAX_LEN), np.int32), "empty batch"),
    "short row in list": ([[1] * MAX_LEN, [1] * MAX_LEN, [1] * MAX_LEN, [1] * 199],
                          "row 3: has 199 ids, expected 200"),
    "non-sequence row": ([[1] * MAX_LEN, 5.5], "flat list"),
    "row is None": ([[1] * MAX_LEN, None], "row 1: expected a sequence of ids, got NoneType"),
    "float array": (np.ones((2, MAX_LEN), np.float32), "ids must be integers, got float32"),
    "whole floats in list": ([[1.0] * MAX_LEN], "ids must be integers, got float64"),
    "NaN": (with_cell(np.nan, dtype=np.float64), "row 1, column 17: nan is not a token id"),
    "inf": (with_cell(np.inf, dtype=np.float32), "row 1, column 17: inf is not a token id"),
    "bool array": (np.ones((2, MAX_LEN), bool), "ids must be integers, got an array of bool"),
    "str array": (np.full((2, MAX_LEN), "7"), "ids must be integers, got an array of <U1"),
    "complex": (np.ones((2, MAX_LEN), complex), "got an array of complex128"),
    "negative": (with_cell(-1), r"row 1, column 17: id -1 is outside \[0, 20000\)"),
    "vocab_size": (with_cell(VOCAB, row=3, n=5),
                   r"row 3, column 17: id 20000 is outside \[0, 20000\)"),
    "uint64 huge": (with_cell(2 ** 63, dtype=np.uint64), r"id 9223372036854775808 is outside"),
    "int8 negative": (with_cell(-128, dtype=np.int8), r"id -128 is outside"),
    "huge python int": ([[1] * MAX_LEN, [1] * 17 + [2 ** 70] + [1] * 182],
                        r"row 1, column 17: id 1180591620717411303424 is outside"),
    "None cell": ([[1] * MAX_LEN, [1] * 17 + [None] + [1] * 182],
                  "row 1, column 17: None is not an integer token id"),
    "dict": ({"ids": 1}, "numpy array or a list of rows, got dict"),
    "str": ("1 2 3", "numpy array or a list of rows, got str"),
}


@pytest.mark.parametrize("bad,message", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_bad_ids_are_refused_before_the_backend_runs(fake_model, bad, message):
    model = fake_model()
    with pytest.raises(ValueError, match=message):
        model.predict_ids(bad)
    with pytest.raises(ValueError, match=message):
        model.score_ids(bad)
    assert model._backend.calls == []


@pytest.mark.parametrize("ids", [
    np.ones((2, MAX_LEN), np.int64), np.ones((2, MAX_LEN), np.uint16),
    np.full((1, MAX_LEN), VOCAB - 1, np.int32), [[0] * MAX_LEN, [VOCAB - 1] * MAX_LEN],
    ((3,) * MAX_LEN,), np.ones((4, MAX_LEN), np.int32)[:, ::1],
    np.asfortranarray(np.ones((3, MAX_LEN), np.int32)),
], ids=["int64", "uint16", "max id", "list", "tuple", "view", "fortran"])
def test_good_ids_of_any_integer_kind(fake_model, ids):
    model = fake_model()
    probs = model.predict_ids(ids)
    assert probs.dtype == np.float32 and probs.shape == (len(ids),)
    assert model._backend.calls[0].dtype == np.int32


BAD_TEXTS = {
    "one str": ("a good film", r"not one string; wrap it as \[text\]"),
    "bytes": (b"a good film", "not one string"),
    "empty list": ([], "texts is empty"),
    "None item": (["fine", None], "text 1: expected str, got NoneType"),
    "int item": (["fine", "ok", 5], "text 2: expected str, got int"),
    "bytes item": ([b"x"], "text 0: expected str, got bytes"),
    "not iterable": (5, "texts must be a list of str, got int"),
}


@pytest.mark.parametrize("bad,message", BAD_TEXTS.values(), ids=BAD_TEXTS.keys())
def test_bad_texts_are_refused(fake_model, bad, message):
    model = fake_model()
    for call in (model.predict_text, model.score_texts):
        with pytest.raises(ValueError, match=message):
            call(bad)
    assert model._backend.calls == []


def test_empty_review_scores_the_start_token_alone(fake_model):
    model = fake_model()
    [result] = model.score_texts([""])
    assert result["tokens"] == 0 and result["unknown"] == 0
    expected = np.zeros((1, MAX_LEN), np.int32)
    expected[0, 0] = 1
    np.testing.assert_array_equal(model._backend.calls[0], expected)


def test_any_iterable_of_str_is_accepted(fake_model):
    model = fake_model()
    assert len(model.predict_text(t for t in ("good", "bad"))) == 2
