"""Checks on what callers hand the model, done before anything reaches a backend.

The first layer of the network is an embedding GATHER: an id outside [0, vocab_size) makes
some interpreters read out of bounds rather than fail. So every id is checked here, in
numpy, and a bad one is reported by its position: rows and columns count from 0, as numpy
indexes them ("row 3, column 17: id 20000 is outside [0, 20000)").
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from imdb_edge.errors import InputError


def check_ids(ids: Any, max_len: int, vocab_size: int) -> np.ndarray:
    """Return ``ids`` as a new int32 array of shape (N, max_len), N >= 1, or raise
    InputError (a ValueError).

    Accepts a numpy integer array or a list/tuple of equal-length rows of Python ints.
    Floats are refused even when whole: a float array can hold NaN, inf or 1.5, and
    silently truncating those would score a different review than the caller meant.
    Masked arrays with a masked cell are refused: numpy's reductions skip masked cells,
    so the hidden value would reach the backend unchecked, and no id is "missing".

    The result is always a fresh, C-contiguous, native-endian plain ndarray checked after
    the cast: an ndarray subclass cannot change what the checks see (comparisons, views),
    and a caller changing its array from another thread cannot change what runs.
    """
    if isinstance(ids, np.ma.MaskedArray):
        _refuse_masked(ids)
        ids = ids.data
    if isinstance(ids, np.ndarray):
        arr = np.array(ids, copy=True, subok=False)  # a plain ndarray, ours alone
    elif isinstance(ids, (list, tuple)):
        arr = _from_rows(ids, max_len)
    else:
        raise InputError(f"ids must be a numpy array or a list of rows, got {type(ids).__name__}")

    if arr.ndim != 2:
        hint = "; wrap a single review as [ids]" if arr.ndim == 1 else ""
        raise InputError(f"ids must be 2-D (N, {max_len}), got shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise InputError(f"ids is an empty batch: pass at least one row of {max_len} ids")
    if arr.shape[1] != max_len:
        raise InputError(f"ids must have {max_len} columns per row, got {arr.shape[1]}")

    if arr.dtype == object:
        arr = _from_objects(arr, vocab_size)
    elif arr.dtype.kind == "f":
        _refuse_floats(arr)
    elif arr.dtype.kind not in "iu":  # bool, str, complex, datetime ...
        raise InputError(f"ids must be integers, got an array of {arr.dtype}")

    _check_range(arr, vocab_size)  # on the original values: a cast could wrap them
    out = np.ascontiguousarray(arr, dtype=np.int32)
    if out is arr and not out.flags.owndata:
        out = out.copy()
    _check_range(out, vocab_size)  # and on what the backend will get
    return out


def _check_range(arr: np.ndarray, vocab_size: int) -> None:
    bad = (arr < 0) | (arr >= vocab_size)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(f"row {row}, column {col}: id {arr[row, col]} is outside "
                         f"[0, {vocab_size})")


def _refuse_masked(ids: np.ma.MaskedArray) -> None:
    mask = np.ma.getmaskarray(ids)
    if mask.any():
        where = np.argwhere(mask)[0]
        at = f"row {where[0]}, column {where[1]}" if len(where) == 2 else f"index {tuple(where)}"
        raise InputError(f"{at} is masked: a masked array hides the value that would be "
                         "scored; pass ids.filled(0) to score masked cells as padding")


def check_texts(texts: Any) -> list:
    """Return ``texts`` as a non-empty list of str, or raise ValueError.

    An empty review is allowed: it encodes to the START token alone and gets a score, so
    line N of the output always belongs to line N of the input.
    """
    if isinstance(texts, (str, bytes)):
        raise InputError("texts must be a list of reviews, not one string; wrap it as [text]")
    try:
        texts = list(texts)
    except TypeError:
        raise InputError(f"texts must be a list of str, got {type(texts).__name__}") from None
    if not texts:
        raise InputError("texts is empty: pass at least one review")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {i}: expected str, got {type(text).__name__}")
    return texts


def _from_rows(rows, max_len: int) -> np.ndarray:
    # Check row lengths first: numpy would otherwise fail (or build an object array on
    # numpy < 1.24) without saying which row is short.
    if not rows:
        raise InputError(f"ids is an empty batch: pass at least one row of {max_len} ids")
    for r, row in enumerate(rows):
        if isinstance(row, np.ma.MaskedArray):
            _refuse_masked(row[np.newaxis] if row.ndim == 1 else row)
        if isinstance(row, numbers.Number):
            raise InputError(f"ids must be 2-D (N, {max_len}), got a flat list of numbers; "
                             "wrap a single review as [ids]")
        try:
            n = len(row)
        except TypeError:
            raise InputError(f"row {r}: expected a sequence of ids, "
                             f"got {type(row).__name__}") from None
        if n != max_len:
            raise InputError(f"row {r}: has {n} ids, expected {max_len}")
    try:
        arr = np.array(rows)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(f"ids cannot be read as an integer array ({exc})") from None
    if arr.dtype == object and arr.ndim != 2:  # rows of rows, or objects numpy cannot stack
        raise InputError(f"ids must be 2-D (N, {max_len}) integers, got rows numpy reads as "
                         f"shape {arr.shape}")
    return arr


def _from_objects(arr: np.ndarray, vocab_size: int) -> np.ndarray:
    # Object arrays come from lists holding huge ints, None or mixed types: name the first
    # bad cell instead of letting a cast fail or wrap around.
    for (row, col), value in np.ndenumerate(arr):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputError(f"row {row}, column {col}: {value!r} is not an integer token id")
        if not 0 <= value < vocab_size:
            raise InputError(f"row {row}, column {col}: id {value} is outside [0, {vocab_size})")
    # Python ints in range; int() rather than astype so an odd Integral subclass cannot
    # hand numpy another value than the one just checked.
    return np.array([[int(v) for v in row] for row in arr], dtype=np.int64).reshape(arr.shape)


def _refuse_floats(arr: np.ndarray) -> None:
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise InputError(f"row {row}, column {col}: {arr[row, col]} is not a token id "
                         f"(ids must be integers, got {arr.dtype})")
    raise InputError(f"ids must be integers, got {arr.dtype}: floats can hold NaN, inf or "
                     "fractions, so they are refused; cast with .astype(np.int32) if every "
                     "value is a whole number")
