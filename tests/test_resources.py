"""The files that ship inside the package (imdb_edge/resources.py): present, small, encoded
with today's tokenizer, and exactly what scripts/make_packaged_rows.py makes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from imdb_edge import resources
from imdb_edge.runtime import text
from imdb_edge.spec import REFERENCE
from testkit import load_script

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = Path(os.environ.get("IMDB_EDGE_DATA") or
               ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz")


def packaged() -> dict:
    with np.load(resources.rows(), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_the_reference_model_and_the_data_files_are_in_the_package():
    assert resources.reference_model().is_file()
    assert resources.vocabulary().is_file() and resources.rows().is_file()
    assert resources.rows().stat().st_size < 400_000  # a few hundred KB at most


def test_the_rows_are_encoded_with_todays_tokenizer():
    meta = resources.rows_meta()
    assert meta["tokenizer_version"] == text.TOKENIZER_VERSION, (
        "the packaged rows were made with another tokenizer: rerun "
        "python scripts/make_packaged_rows.py --data PATH/aclImdb_v1.tar.gz")
    rows = packaged()
    assert rows["x_train"].shape == (meta["calibration"], REFERENCE.length)
    assert rows["x_test"].shape == (meta["validation"], REFERENCE.length)
    assert rows["y_test"].shape == (meta["validation"],)
    assert 0.3 < rows["y_test"].mean() < 0.7  # both labels, from the shuffled test split
    for x in (rows["x_train"], rows["x_test"]):
        assert x.max() < REFERENCE.vocab_size and (x[:, 0] == text.START_ID).all()


def test_the_vocabulary_is_the_word_index_by_rank():
    index = resources.word_index()
    ranks = sorted(index.values())
    assert ranks == list(range(1, len(index) + 1))
    assert index["the"] == 1  # the most frequent word


def test_the_dataset_default_is_the_flag_then_the_environment_then_the_package(monkeypatch):
    monkeypatch.delenv("IMDB_EDGE_DATA", raising=False)
    assert resources.data_source(None) == str(resources.rows())
    monkeypatch.setenv("IMDB_EDGE_DATA", "/some/archive.tar.gz")
    assert resources.data_source(None) == "/some/archive.tar.gz"
    assert resources.data_source("given.npz") == "given.npz"


def test_the_packaged_rows_load_as_a_dataset(monkeypatch):
    from imdb_edge.train import data as data_lib

    dataset = data_lib.load(resources.data_source(None) if not os.environ.get("IMDB_EDGE_DATA")
                            else str(resources.rows()))
    assert dataset.x_test.dtype == np.int32 and len(dataset.x_train) == len(packaged()["x_train"])


@pytest.mark.slow
@pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"IMDB archive {ARCHIVE} not found")
def test_the_packaged_files_are_what_the_script_makes_from_the_archive():
    script = load_script("make_packaged_rows", ROOT / "scripts" / "make_packaged_rows.py")
    rows, vocabulary = script.build(str(ARCHIVE))
    committed = packaged()
    assert set(rows) == set(committed)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(rows[name], committed[name], err_msg=name)
    assert vocabulary == resources.vocabulary().read_bytes()
