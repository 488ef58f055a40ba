"""The rows an export calibrates and validates on are the model's own: encoded at its length,
vocabulary and convention from the archive's text, derived exactly from the packaged rows,
or refused in one line with the fix.

Every expectation is the encoder's own output for the reviews' text
(imdb_edge.runtime.text.encode_batch), compared as a set of (row, label) pairs, since the
loader shuffles."""
from __future__ import annotations

import json

import numpy as np
import pytest

from exportkit import REVIEWS, review_texts
from imdb_edge import resources
from imdb_edge.errors import UsageError
from imdb_edge.export.rows import fit_rows, load_rows
from imdb_edge.runtime import text
from imdb_edge.spec import REFERENCE, ModelSpec
from imdb_edge.train.data import DataError

SHORTER = ModelSpec(100, 10_000, 16)          # the notebook's size
LONGER = ModelSpec(300, REFERENCE.vocab_size, 8)
SMALL_VOCAB = ModelSpec(REFERENCE.length, 5_000, 8)
LARGER_VOCAB = ModelSpec(REFERENCE.length, 30_000, 8)
FRONT = text.Convention(truncating="pre", padding="pre")
OOV = text.Convention(unknown_words="oov", out_of_range_id=text.OOV_ID)


def _index(archive):
    return json.loads((archive.parent / "imdb_word_index.json").read_text())


def _encoded(archive, seed, spec, convention=text.NOTEBOOK):
    reviews = review_texts(REVIEWS, seed)
    rows, _, _ = text.encode_batch([t for _, t in reviews], _index(archive), spec.length,
                                   spec.vocab_size, convention)
    return rows, np.array([label for label, _ in reviews])


def _pairs(rows, labels):
    return sorted((tuple(r), int(y)) for r, y in zip(rows.tolist(), labels))


# ------------------------------------------------------------------ from the archive's text

@pytest.mark.parametrize("spec", [SHORTER, LONGER, SMALL_VOCAB, LARGER_VOCAB, REFERENCE])
@pytest.mark.parametrize("convention", [text.NOTEBOOK, FRONT, OOV], ids=["notebook", "pre", "oov"])
def test_archive_reviews_are_encoded_for_the_model(imdb_archive, spec, convention):
    rows = load_rows(str(imdb_archive), spec, convention, calibration=REVIEWS,
                     validate=REVIEWS)
    expected, labels = _encoded(imdb_archive, 2, spec, convention)
    assert rows.reviews.shape == (REVIEWS, spec.length)
    assert _pairs(rows.reviews, rows.labels) == _pairs(expected, labels)
    train, _ = _encoded(imdb_archive, 1, spec, convention)
    assert sorted(map(tuple, rows.calibration.tolist())) == sorted(map(tuple, train.tolist()))
    assert rows.reviews.max() < spec.vocab_size


def test_the_archive_reviews_depend_on_the_size(imdb_archive):
    """The fixture bites: longer reviews than 200 ids, ids beyond 20,000."""
    longer, _ = _encoded(imdb_archive, 2, LONGER)
    assert (longer[:, REFERENCE.length:] != 0).any()
    larger, _ = _encoded(imdb_archive, 2, LARGER_VOCAB)
    assert (larger >= REFERENCE.vocab_size).any()


# ------------------------------------------------------------ derived from rows without text

@pytest.fixture(scope="module")
def notebook_rows(imdb_archive):
    """The test reviews encoded the notebook's way at the reference size, as the packaged
    rows are, with their text kept aside for the expectations."""
    rows, _ = _encoded(imdb_archive, 2, REFERENCE)
    return rows


@pytest.mark.parametrize("spec", [SHORTER, SMALL_VOCAB, ModelSpec(37, 500, 4), REFERENCE])
def test_shorter_and_smaller_rows_are_derived_exactly(imdb_archive, notebook_rows, spec):
    expected, _ = _encoded(imdb_archive, 2, spec)
    np.testing.assert_array_equal(fit_rows(notebook_rows, spec, text.NOTEBOOK), expected)


@pytest.mark.parametrize("spec, convention, message", [
    (LONGER, text.NOTEBOOK, "reviews cut at 200 ids cannot be lengthened to the model's 300"),
    (LARGER_VOCAB, text.NOTEBOOK, "a vocabulary of 30000 cannot be restored"),
    (SHORTER, FRONT, "encoded the notebook's way"),
    (REFERENCE, OOV, "encoded the notebook's way"),
])
def test_rows_that_cannot_be_derived_are_refused(imdb_archive, notebook_rows, spec,
                                                 convention, message):
    with pytest.raises(UsageError, match=message) as refused:
        fit_rows(notebook_rows, spec, convention)
    assert "pass --data with the IMDB archive" in str(refused.value)
    # Refused for a reason: no cut or pad of the rows is the encoder's output.
    expected, _ = _encoded(imdb_archive, 2, spec, convention)
    naive = text.pad_with([r[r != 0].tolist() for r in notebook_rows], spec.length,
                          spec.vocab_size, convention)
    assert not np.array_equal(naive, expected)


def test_packaged_rows_serve_shorter_models(tmp_path):
    rows = load_rows(None, SHORTER, text.NOTEBOOK, calibration=50, validate=80)
    with np.load(resources.rows()) as f:
        x_train, x_test, y_test = f["x_train"], f["x_test"], f["y_test"]
    np.testing.assert_array_equal(rows.reviews, fit_rows(x_test[:80], SHORTER, text.NOTEBOOK))
    np.testing.assert_array_equal(rows.calibration, fit_rows(x_train[:50], SHORTER, text.NOTEBOOK))
    np.testing.assert_array_equal(rows.labels, y_test[:80])
    assert rows.reviews.shape == (80, 100) and rows.reviews.max() < SHORTER.vocab_size
    assert "packaged rows" in rows.source


@pytest.mark.parametrize("spec, convention, message", [
    (LONGER, text.NOTEBOOK, "cannot be lengthened"),
    (LARGER_VOCAB, text.NOTEBOOK, "cannot be restored"),
    (REFERENCE, FRONT, "encoded the notebook's way"),
])
def test_packaged_rows_refuse_what_they_cannot_give(spec, convention, message):
    with pytest.raises(UsageError, match=message) as refused:
        load_rows(None, spec, convention, calibration=10, validate=10)
    assert str(refused.value).startswith("the packaged rows (200 ids, vocabulary 20000)")


# -------------------------------------------------------------------- the user's own rows

def _user_npz(tmp_path, length, top):
    rng = np.random.default_rng(0)
    x = rng.integers(3, top, (30, length)).astype(np.int32)
    x[:, 0], x[:, length // 2:] = 1, 0
    path = tmp_path / "rows.npz"
    np.savez(path, x_train=x, y_train=np.arange(30) % 2, x_test=x, y_test=np.arange(30) % 2)
    return path


def test_user_rows_of_the_models_length_are_taken_with_ids_mapped(tmp_path):
    path = _user_npz(tmp_path, 100, 20_000)
    with np.load(path) as f:
        x = f["x_test"]
    for convention in (text.NOTEBOOK, text.Convention(out_of_range_id=text.OOV_ID)):
        rows = load_rows(str(path), SHORTER, convention, calibration=30, validate=30)
        np.testing.assert_array_equal(
            rows.reviews, np.where(x >= SHORTER.vocab_size, convention.out_of_range_id, x))
    assert (x >= SHORTER.vocab_size).any()


def test_user_rows_of_another_length_are_refused(tmp_path):
    path = _user_npz(tmp_path, REFERENCE.length, 500)
    with pytest.raises(DataError, match=r"shape \(N, 100\), the model's length, got int32 "
                                        r"\(30, 200\)"):
        load_rows(str(path), SHORTER, text.NOTEBOOK, calibration=10, validate=10)


def test_negative_ids_are_refused(tmp_path):
    path = _user_npz(tmp_path, 100, 500)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["x_test"][3, 4] = -1
    np.savez(path, **arrays)
    with pytest.raises(UsageError, match="hold negative ids"):
        load_rows(str(path), SHORTER, text.NOTEBOOK, calibration=10, validate=10)
