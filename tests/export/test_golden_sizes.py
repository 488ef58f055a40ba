"""A golden file is made on the model's own rows: a member of the family longer than the
reference, with another vocabulary, gets its test reviews encoded at its length."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from imdb_edge.parity import golden  # noqa: E402
from imdb_edge.spec import REFERENCE, ModelSpec  # noqa: E402
from imdb_edge.train import data as data_lib  # noqa: E402
from imdb_edge.train.model import build_model  # noqa: E402

LONGER = ModelSpec(length=REFERENCE.length + 40, vocab_size=300, embed_dim=4, gate="sigmoid")


def test_golden_reviews_are_encoded_at_the_models_length(imdb_archive, tmp_path):
    path = tmp_path / "longer.keras"
    build_model(spec=LONGER).save(path)
    reference = golden.keras_reference(str(path), str(imdb_archive), limit=20, random_rows=2,
                                       log=lambda _: None)
    expected = data_lib.load(str(imdb_archive), spec=LONGER).x_test[:20]
    assert reference.ids.shape[1] == LONGER.length
    np.testing.assert_array_equal(reference.ids[:reference.reviews], expected)
    assert (expected[:, REFERENCE.length:] != 0).any(), "the reviews must use the extra length"
    assert reference.meta["model"]["spec"]["length"] == LONGER.length
