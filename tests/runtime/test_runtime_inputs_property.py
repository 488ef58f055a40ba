"""Property test: whatever the ids, the first out-of-range one (row-major) is the one named."""
from __future__ import annotations

import numpy as np
import pytest

from imdb_edge.runtime.inputs import check_ids

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MAX_LEN, VOCAB = 200, 20000


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, VOCAB - 1) | st.sampled_from([-1, -2 ** 40, VOCAB, 2 ** 40]),
                min_size=MAX_LEN, max_size=MAX_LEN * 3))
def test_first_out_of_range_id_is_named(flat):
    rows = len(flat) // MAX_LEN
    ids = np.array(flat[:rows * MAX_LEN], np.int64).reshape(rows, MAX_LEN)
    bad = [(r, c) for r in range(rows) for c in range(MAX_LEN) if not 0 <= ids[r, c] < VOCAB]
    if not bad:
        assert check_ids(ids, MAX_LEN, VOCAB).dtype == np.int32
        return
    r, c = bad[0]
    with pytest.raises(ValueError, match=rf"^row {r}, column {c}: id {ids[r, c]} is outside"):
        check_ids(ids, MAX_LEN, VOCAB)
