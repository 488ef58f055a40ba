"""Whatever array type carries the ids (masked, an ndarray subclass, object dtype, 0-d,
non-contiguous, big-endian), no id reaches a backend unchecked. numpy reductions skip
masked cells and subclasses can redefine comparisons, so the checks run on a private plain
int32 copy, and again on the array handed to the backend.
"""
from __future__ import annotations

import numbers

import numpy as np
import pytest

from testkit import MAX_LEN, VOCAB

pytestmark = pytest.mark.hardening

BACKENDS = [("tiny.npz", "numpy"), ("tiny_bany.onnx", "onnxruntime"),
            ("tiny_bany.tflite", "litert")]


@pytest.fixture(scope="module", params=BACKENDS, ids=[b for _, b in BACKENDS])
def model(request, model_path):
    from imdb_edge.runtime import load

    name, backend = request.param
    return load(model_path(name, backend), backend=backend, threads=1)


@pytest.fixture
def no_backend_call(model, monkeypatch):
    calls = []
    real = model._backend.run
    monkeypatch.setattr(model._backend, "run", lambda ids: calls.append(ids) or real(ids))
    yield calls
    assert calls == [], "an id reached the backend"


def rows(value=5, dtype=np.int64, n=2):
    ids = np.full((n, MAX_LEN), 5, dtype)
    ids[1, 17] = value
    return ids


class Liar(np.ndarray):
    """An ndarray subclass whose comparisons say every id is in range."""

    def __lt__(self, other):
        return np.zeros(self.shape, bool).view(np.ndarray)

    def __ge__(self, other):
        return np.zeros(self.shape, bool).view(np.ndarray)

    def min(self, *a, **k):
        return 0

    def max(self, *a, **k):
        return 0


class Index(numbers.Integral):
    """An Integral that compares as 5 but converts to -1."""

    def __int__(self):
        return -1

    __index__ = __int__

    def __lt__(self, other):
        return 5 < other

    def __le__(self, other):
        return 5 <= other

    def __ge__(self, other):
        return 5 >= other

    def __gt__(self, other):
        return 5 > other

    def __eq__(self, other):
        return 5 == other

    def __hash__(self):
        return 5

    # the rest of the Integral interface, unused
    __abs__ = __add__ = __and__ = __ceil__ = __floor__ = __floordiv__ = __invert__ = \
        __lshift__ = __mod__ = __mul__ = __neg__ = __or__ = __pos__ = __pow__ = __radd__ = \
        __rand__ = __rfloordiv__ = __rlshift__ = __rmod__ = __rmul__ = __ror__ = __round__ = \
        __rpow__ = __rrshift__ = __rshift__ = __rtruediv__ = __rxor__ = __truediv__ = \
        __trunc__ = __xor__ = lambda *a: NotImplemented


MASKED = {
    "masked -1": (-1, r"row 1, column 17 is masked"),
    "masked 10**6": (10 ** 6, r"row 1, column 17 is masked"),
    "masked in range": (7, r"row 1, column 17 is masked"),
}


@pytest.mark.parametrize("value,message", MASKED.values(), ids=MASKED.keys())
def test_masked_cells_are_refused(model, no_backend_call, value, message):
    """Before: numpy's (ids < 0).any() skipped the masked -1, which onnxruntime and numpy
    then scored as row 19999, and 10**6 raised IndexError on numpy."""
    mask = np.zeros((2, MAX_LEN), bool)
    mask[1, 17] = True
    ids = np.ma.masked_array(rows(value), mask)
    for call in (model.predict_ids, model.score_ids):
        with pytest.raises(ValueError, match=message):
            call(ids)
    with pytest.raises(ValueError, match="is masked"):  # a masked row inside a list
        model.predict_ids([list(range(MAX_LEN)), np.ma.masked_array(rows(value)[1], mask[1])])


def test_masked_array_without_masked_cells_is_its_data(model):
    ids = rows()
    got = model.predict_ids(np.ma.masked_array(ids, np.zeros_like(ids, bool)))
    np.testing.assert_array_equal(got, model.predict_ids(ids))


def test_a_subclass_cannot_hide_a_bad_id(model, no_backend_call):
    ids = rows(-1).view(Liar)
    assert not (ids < 0).any()  # the lie the check must not believe
    with pytest.raises(ValueError, match=r"row 1, column 17: id -1 is outside"):
        model.predict_ids(ids)
    with pytest.raises(ValueError, match=r"id 20000 is outside"):
        model.predict_ids(rows(VOCAB).view(Liar))


def test_matrix_and_memmap_subclasses_are_plain_ids(model, tmp_path):
    ids = rows()
    memmap = np.lib.format.open_memmap(tmp_path / "ids.npy", "w+", np.int32, ids.shape)
    memmap[:] = ids
    expected = model.predict_ids(ids)
    np.testing.assert_array_equal(model.predict_ids(memmap), expected)
    with pytest.warns(PendingDeprecationWarning):
        matrix = np.matrix(ids)
    np.testing.assert_array_equal(model.predict_ids(matrix), expected)


def test_object_arrays_are_checked_on_the_value_converted(model, no_backend_call):
    ids = rows().astype(object)
    ids[1, 17] = Index()
    with pytest.raises(ValueError, match=r"id -1 is outside"):
        model.predict_ids(ids)
    ids[1, 17] = np.int64(-3)
    with pytest.raises(ValueError, match=r"row 1, column 17: id -3 is outside"):
        model.predict_ids(ids)


@pytest.mark.parametrize("bad", [np.array(5), np.array(-1), np.ma.masked_array(5, True)],
                         ids=["0-d", "0-d -1", "0-d masked"])
def test_zero_d_is_refused(model, no_backend_call, bad):
    with pytest.raises(ValueError):
        model.predict_ids(bad)


def test_non_contiguous_views_check_the_values_they_show(model, no_backend_call):
    big = np.full((4, 2 * MAX_LEN), -1, np.int64)
    big[:, ::2] = 5
    view = big[::2, ::2]  # every other row and column: only 5s show
    assert not view.flags.c_contiguous
    calls = no_backend_call
    probs = model.predict_ids(view)
    np.testing.assert_array_equal(probs, model.predict_ids(np.full((2, MAX_LEN), 5)))
    assert all(c.flags.c_contiguous and c.dtype == np.int32 for c in calls)
    calls.clear()
    big[2, 34] = VOCAB
    with pytest.raises(ValueError, match=r"row 1, column 17: id 20000 is outside"):
        model.predict_ids(big[::2, ::2])


@pytest.mark.parametrize("dtype", [">i8", ">i4", ">u2", "<i8"])
def test_byte_order(model, no_backend_call, dtype):
    good = rows(VOCAB - 1, dtype=np.dtype(dtype))
    np.testing.assert_array_equal(model.predict_ids(good), model.predict_ids(rows(VOCAB - 1)))
    no_backend_call.clear()
    if np.dtype(dtype).itemsize >= 4:
        with pytest.raises(ValueError, match=r"id 65541 is outside|id -1 is outside"):
            model.predict_ids(rows(-1 if dtype[1] == "i" else 65541, dtype=np.dtype(dtype)))


def test_the_checked_ids_are_a_private_copy(model):
    """A caller that changes its array after the check (another thread) cannot change
    what runs: the backend gets a copy made before the check."""
    from imdb_edge.runtime.inputs import check_ids

    ids = rows().astype(np.int32)
    checked = check_ids(ids, MAX_LEN, VOCAB)
    assert checked is not ids and not np.shares_memory(checked, ids)
    ids[1, 17] = -1
    assert checked.min() >= 0


def test_the_last_guard_before_the_backend(model, no_backend_call):
    """Model._run refuses anything but a checked plain int32 array, whoever called it."""
    for bad in (rows(-1).astype(np.int32), rows(VOCAB).astype(np.int32), rows().astype(np.int64),
                np.asfortranarray(rows().astype(np.int32)), rows().astype(np.int32).view(Liar)):
        with pytest.raises(ValueError, match="reached the backend"):
            model._run(bad)
