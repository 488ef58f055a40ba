"""The sidecar's preprocessing is data the runtime applies: change a field, the rows follow.

And raw text scored on a device gives exactly the probability of the row training saw for
the same review (the loader's rows, which equal imdb.npz's: tests/train/test_train_text.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from imdb_edge.runtime import available_backends, load, text
from imdb_edge.runtime.sidecar import ArtifactError
from testkit import edit_sidecar

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ARCHIVE, INDEX = SHARED_DATA / "aclImdb_v1.tar.gz", SHARED_DATA / "imdb_word_index.json"

# An unknown word; one review longer than max_len, one shorter.
REVIEWS = ["good zzz film " * 120 + "bad", "bad zzz film"]


def _rows(model, convention):
    return text.encode_batch(REVIEWS, model._vocabulary, model.max_len, model.vocab_size,
                             convention)[0]


@pytest.mark.parametrize("field, value", [
    ("unknown_words", "oov"), ("truncating", "pre"), ("padding", "pre")])
def test_each_field_read_from_the_sidecar_changes_the_rows(model_copy, field, value):
    default = load(model_copy)
    edit_sidecar(model_copy, **{f"preprocessing__{field}": value})
    edited = load(model_copy)
    changed = dataclasses.replace(text.NOTEBOOK, **{field: value})
    rows = edited.encode(REVIEWS)[0]
    np.testing.assert_array_equal(rows, _rows(edited, changed))
    assert not np.array_equal(rows, default.encode(REVIEWS)[0])
    assert [r["probability"] for r in edited.score_texts(REVIEWS)] == \
        edited.predict_ids(rows).tolist()


def test_out_of_range_id_follows_the_sidecar(fake_model):
    """Ids >= vocab_size become the sidecar's out_of_range_id (0 or the OOV id 2)."""
    model = fake_model()
    last = max(model._vocabulary, key=model._vocabulary.get)   # the highest-ranked word
    review = f"good {last} film"
    pre = model.sidecar.preprocessing
    small = pre.vocab_size - 1
    for out_of_range in (text.PAD_ID, text.OOV_ID):
        sidecar = dataclasses.replace(model.sidecar, preprocessing=dataclasses.replace(
            pre, vocab_size=min(small, model._vocabulary[last] + text.INDEX_FROM),
            out_of_range_id=out_of_range))
        shrunk = type(model)(sidecar, model._backend, model._vocabulary)
        row = shrunk.encode([review])[0][0]
        assert row[2] == out_of_range and row[1] != out_of_range


@pytest.mark.parametrize("field, value, message", [
    ("unknown_words", "skip", "unknown_words must be one of drop, oov"),
    ("out_of_range_id", 5, "out_of_range_id must be one of 0, 2"),
    ("truncating", "left", "truncating must be one of post, pre"),
    ("padding", None, "padding must be one of post, pre"),
])
def test_bad_preprocessing_values_are_refused(model_copy, field, value, message):
    edit_sidecar(model_copy, **{f"preprocessing__{field}": value})
    with pytest.raises(ArtifactError, match=message):
        load(model_copy)


def test_a_sidecar_from_before_the_row_convention_is_refused_with_the_fix(model_copy):
    raw = json.loads(Path(f"{model_copy}.json").read_text())
    for field in ("unknown_words", "out_of_range_id", "truncating", "padding"):
        del raw["preprocessing"][field]
    raw["schema_version"] = 1
    Path(f"{model_copy}.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="schema_version 1 is not supported.*re-export"):
        load(model_copy)


# --- raw text on the device == the training row, for every artifact kind --------------------

@pytest.fixture(scope="module")
def test_reviews(tmp_path_factory):
    """200 test reviews: their raw text, and the rows the training loader made of them."""
    if not (ARCHIVE.is_file() and INDEX.is_file()):
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    from imdb_edge.train import data as data_lib

    dataset = data_lib.load_archive(ARCHIVE, cache_dir=tmp_path_factory.mktemp("cache"))
    texts = {}
    for split, label, file_id, review in _all_test_reviews():
        texts[(label, file_id)] = review
    # The loader shuffles with seed 113; undo it by re-encoding in its own sorted order.
    items = sorted(texts.items())
    order = np.random.RandomState(data_lib.SHUFFLE_SEED)
    order.permutation(25000)                     # the train split's draw comes first
    test_order = order.permutation(len(items))[:200]
    return [items[i][1] for i in test_order], dataset.x_test[:200]


def _all_test_reviews():
    import re
    import tarfile

    member = re.compile(r"aclImdb/test/(pos|neg)/(\d+)_\d+\.txt$")
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        for info in tar:
            m = member.search(info.name) if info.isfile() else None
            if m:
                raw = tar.extractfile(info).read().decode("utf-8", errors="replace")
                yield "test", int(m.group(1) == "pos"), int(m.group(2)), raw


def _with_real_vocabulary(artifact: Path, folder: Path) -> Path:
    """A copy of ``artifact`` whose vocabulary is the Keras IMDB word index."""
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    words = sorted(index, key=index.get)
    blob = "".join(f"{w}\n" for w in words).encode("utf-8")
    (folder / "vocab.txt").write_bytes(blob)
    copy = folder / artifact.name
    shutil.copy(artifact, copy)
    shutil.copy(f"{artifact}.json", f"{copy}.json")
    edit_sidecar(copy, preprocessing__vocabulary_sha256=hashlib.sha256(blob).hexdigest())
    return copy


def test_raw_text_scores_as_the_training_row_for_every_artifact(model_dir, test_reviews,
                                                                 tmp_path):
    reviews, rows = test_reviews
    formats = {".npz": "numpy", ".tflite": "tflite", ".onnx": "onnx"}
    artifacts = sorted(p for p in model_dir.iterdir() if p.suffix in formats and
                       Path(f"{p}.json").is_file() and available_backends(formats[p.suffix]))
    assert any(p.suffix == ".npz" for p in artifacts), f"no numpy artifact in {model_dir}"
    for artifact in artifacts:
        folder = tmp_path / artifact.name
        folder.mkdir()
        model = load(_with_real_vocabulary(artifact, folder))
        np.testing.assert_array_equal(model.encode(reviews)[0], rows, err_msg=artifact.name)
        np.testing.assert_array_equal(
            [r["probability"] for r in model.score_texts(reviews)],
            model.predict_ids(rows).astype(np.float64), err_msg=artifact.name)
