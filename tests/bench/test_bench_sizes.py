"""bench scores the artifacts' own model size: the rows come from the sidecars' model
block, and artifacts of different sizes are not mixed in one run."""
from __future__ import annotations

import pytest

from imdb_edge.bench.plan import BenchOptions, model_spec, review_ids
from imdb_edge.errors import UsageError
from imdb_edge.spec import REFERENCE, ModelSpec

SMALL = ModelSpec(length=40, vocab_size=500, embed_dim=8, gate="hard_sigmoid")


def _row(spec):
    return dict(kind="runtime", model=spec.to_dict() if spec else None)


def test_the_shared_model_block_names_the_size():
    assert model_spec([_row(SMALL), _row(SMALL), dict(kind="keras")]) == SMALL
    assert model_spec([_row(None)]) == REFERENCE


def test_artifacts_of_two_sizes_are_refused():
    with pytest.raises(UsageError, match="2 different model sizes"):
        model_spec([_row(SMALL), _row(REFERENCE)])


def test_rows_have_the_models_length_and_vocabulary():
    options = BenchOptions(paths=("x",), reviews=30, random_inputs=True)
    ids, _ = review_ids(options, log=lambda _: None, spec=SMALL)
    assert ids.shape == (30, SMALL.length) and ids.max() < SMALL.vocab_size


def test_packaged_rows_are_fitted_to_a_smaller_model(monkeypatch):
    monkeypatch.delenv("IMDB_EDGE_DATA", raising=False)
    options = BenchOptions(paths=("x",), reviews=30)
    ids, where = review_ids(options, log=lambda _: None, spec=SMALL)
    assert ids.shape == (30, SMALL.length) and ids.max() < SMALL.vocab_size
    assert "packaged" in where
