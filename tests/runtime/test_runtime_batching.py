"""Chunking and padding, checked call by call with a fake backend (no inference library)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from runtime_helpers import fake_probabilities


def rows(n, seed=0):
    return np.random.default_rng(seed).integers(0, 20000, (n, 200)).astype(np.int32)


@pytest.mark.parametrize("batch,n,calls", [
    (1, 1, 1), (1, 3, 3), (64, 1, 1), (64, 3, 1), (64, 64, 1), (64, 65, 2), (64, 200, 4),
    (None, 1, 1), (None, 64, 1), (None, 65, 2)])
def test_chunks_and_padding(fake_model, batch, n, calls):
    model = fake_model(batch=batch, chunk=64)
    ids = rows(n)
    np.testing.assert_array_equal(model.predict_ids(ids), fake_probabilities(ids))
    backend_calls = model._backend.calls
    assert len(backend_calls) == calls
    if batch is not None:
        # a fixed-batch model always gets exactly its batch; padding rows are all zero
        assert all(len(c) == batch for c in backend_calls)
        fed = np.concatenate(backend_calls)
        np.testing.assert_array_equal(fed[:n], ids)
        assert not fed[n:].any()
    else:
        # a dynamic model gets the rows as they are, never padding
        np.testing.assert_array_equal(np.concatenate(backend_calls), ids)


def test_score_ids_counts_tokens_and_unknown(fake_model):
    model = fake_model()
    ids = np.zeros((2, 200), np.int32)
    ids[0, :6] = [1, 2, 50, 2, 7, 9]        # START, 5 ids of which 2 are OOV
    results = model.score_ids(ids)
    assert [(r["tokens"], r["unknown"]) for r in results] == [(5, 2), (0, 0)]
    assert results[0]["probability"] == pytest.approx(float(fake_probabilities(ids)[0]))


def test_score_ids_agrees_with_score_texts(fake_model):
    """The same probability and label; the counts differ only by the dropped unknown word
    ("zzz"), which leaves no trace in its row."""
    model = fake_model()
    texts = ["a good film", "the plot was awful zzz", ""]
    ids, _, _ = model.encode(texts)
    by_ids, by_text = model.score_ids(ids), model.score_texts(texts)
    assert [(r["probability"], r["label"]) for r in by_ids] == \
        [(r["probability"], r["label"]) for r in by_text]
    assert [(r["tokens"], r["unknown"]) for r in by_text] == [(3, 0), (5, 1), (0, 0)]
    assert [(r["tokens"], r["unknown"]) for r in by_ids] == [(3, 0), (4, 0), (0, 0)]


class OverlapDetector:
    """A backend that fails if two threads are ever inside run() at once."""
    name, batch, chunk = "overlap", 1, 1

    def __init__(self):
        self.inside, self.overlaps = 0, 0

    def run(self, ids):
        self.inside += 1
        if self.inside > 1:
            self.overlaps += 1
        time.sleep(0.001)
        self.inside -= 1
        return fake_probabilities(ids)


def test_backend_calls_never_overlap(fake_model):
    model = fake_model()
    model._backend = detector = OverlapDetector()
    threads = [threading.Thread(target=model.predict_ids, args=(rows(5, k),)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert detector.overlaps == 0
