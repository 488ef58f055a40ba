"""train/data.py on a tiny archive built by the tests: content, order, cache, errors.

No TensorFlow is imported here (the loader must fail fast, before TensorFlow starts).
"""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from imdb_edge.train import data
from imdb_edge.train.data import DataError
from trainkit import PYTHON, REVIEWS, WORD_INDEX, subprocess_env, write_tar_gz


def _rows(x: np.ndarray) -> list[tuple]:
    return [tuple(row) for row in x]


def _same(a: data.Dataset, b: data.Dataset) -> None:
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


# --- the archive: shapes, labels, order ----------------------------------------------------

def test_archive_shapes_dtypes_and_labels(tiny_imdb):
    ds = data.load(tiny_imdb.archive)
    n_train = len(REVIEWS[("train", "pos")]) + len(REVIEWS[("train", "neg")])
    n_test = len(REVIEWS[("test", "pos")]) + len(REVIEWS[("test", "neg")])
    assert ds.x_train.shape == (n_train, 200) and ds.x_test.shape == (n_test, 200)
    assert ds.y_train.shape == (n_train,) and ds.y_test.shape == (n_test,)
    for array in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        assert array.dtype == np.int32
    # Every review exactly once, with its folder's label; unsup/, urls_*.txt etc. ignored.
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        expected = tiny_imdb.expected(split)
        assert dict(zip(_rows(x), y.tolist())) == expected
        assert len(set(_rows(x))) == len(x)
    assert ds.source == str(tiny_imdb.archive)


def test_archive_order_is_the_documented_shuffle(tiny_imdb, tmp_path):
    """Sorted by (label, file id), then permuted with RandomState(113) as keras' load_data."""
    ds = data.load(tiny_imdb.archive)
    rng = np.random.RandomState(data.SHUFFLE_SEED)
    for split, x in (("train", ds.x_train), ("test", ds.x_test)):
        expected = tiny_imdb.expected(split)
        by_key = sorted(expected, key=lambda row: _key_of(split, row, expected))
        order = rng.permutation(len(by_key))
        assert _rows(x) == [by_key[i] for i in order]
    # And the same again from scratch (no cache): deterministic.
    again = data.load(tiny_imdb.archive, cache_dir=tmp_path / "other-cache")
    _same(ds, again)


def _key_of(split, row, expected):
    from imdb_edge.runtime.text import encode, pad
    from imdb_edge.spec import REFERENCE

    for label in ("pos", "neg"):
        for file_id, _rating, text in REVIEWS[(split, label)]:
            if tuple(pad([encode(text, WORD_INDEX)[0]], REFERENCE.length, REFERENCE.vocab_size)[0]) == row:
                return (int(label == "pos"), file_id)
    raise AssertionError(row)


def test_extracted_folder_equals_archive(tiny_imdb):
    from_archive = data.load(tiny_imdb.archive)
    from_folder = data.load(tiny_imdb.folder)           # word index found beside aclImdb/
    _same(from_archive, from_folder)
    assert from_folder.source == str(tiny_imdb.folder)


def test_folder_holding_the_archive_reads_the_archive(tiny_imdb):
    ds = data.load(tiny_imdb.archive.parent)
    assert ds.source == str(tiny_imdb.archive)
    _same(ds, data.load(tiny_imdb.archive))


def test_folder_holding_extracted_reviews_and_index(tiny_imdb):
    """``--data DIR`` where DIR holds aclImdb/ and imdb_word_index.json (no archive)."""
    holder = tiny_imdb.folder.parent
    assert (holder / "imdb_word_index.json").is_file()
    _same(data.load(holder), data.load(tiny_imdb.archive))


def test_explicit_word_index_and_environment_variable(tiny_imdb, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere" / "index.json"
    elsewhere.parent.mkdir()
    elsewhere.write_text(json.dumps(WORD_INDEX))
    lone = tmp_path / "lone" / "aclImdb_v1.tar.gz"
    lone.parent.mkdir()
    lone.write_bytes(tiny_imdb.archive.read_bytes())
    _same(data.load(lone, word_index=elsewhere), data.load(tiny_imdb.archive))
    monkeypatch.setenv("IMDB_EDGE_DATA", str(tiny_imdb.archive))
    assert data.resolve_source(None) == str(tiny_imdb.archive)
    assert data.load().source == str(tiny_imdb.archive)
    assert data.resolve_source("given") == "given"  # the argument wins over the variable


# --- the cache ----------------------------------------------------------------------------

def test_second_load_is_a_cache_hit(tiny_imdb, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = data.load(tiny_imdb.archive)
    files = list(cache.glob("imdb-*.npz"))
    assert len(files) == 1

    def must_not_run(*_a, **_k):
        raise AssertionError("the archive was read and tokenised again")

    monkeypatch.setattr(data, "_read_reviews", must_not_run)
    monkeypatch.setattr(data, "encode", must_not_run)
    second = data.load(tiny_imdb.archive)
    _same(first, second)
    assert second.source == first.source and second.sha256 == first.sha256
    assert list(cache.glob("imdb-*.npz")) == files


def test_cache_is_keyed_by_the_word_index_and_the_tokenizer(tiny_imdb, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = data.load(tiny_imdb.archive)
    # Another word index: same archive, different ids, a second cache entry.
    swapped = dict(WORD_INDEX, good=WORD_INDEX["bad"], bad=WORD_INDEX["good"])
    tiny_imdb.word_index.write_text(json.dumps(swapped))
    second = data.load(tiny_imdb.archive)
    assert second.sha256 != first.sha256
    assert not np.array_equal(first.x_train, second.x_train)
    assert len(list(cache.glob("imdb-*.npz"))) == 2
    # A new tokenizer version invalidates too.
    monkeypatch.setattr(data, "TOKENIZER_VERSION", data.TOKENIZER_VERSION + 1)
    assert data.load(tiny_imdb.archive).sha256 not in (first.sha256, second.sha256)
    assert len(list(cache.glob("imdb-*.npz"))) == 3


def test_cache_is_keyed_by_the_archive_content(tiny_imdb, tmp_path):
    first = data.load(tiny_imdb.archive)
    from trainkit import review_members
    members = review_members()
    members["aclImdb/test/pos/9_9.txt"] = b"good good plot"
    write_tar_gz(tiny_imdb.archive, members)
    second = data.load(tiny_imdb.archive)
    assert second.sha256 != first.sha256 and len(second.x_test) == len(first.x_test) + 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_damaged_cache_is_rebuilt(tiny_imdb, tmp_path, damage):
    first = data.load(tiny_imdb.archive)
    (cached,) = (tmp_path / "cache").glob("imdb-*.npz")
    raw = cached.read_bytes()
    cached.write_bytes({"garbage": os.urandom(len(raw)), "truncated": raw[: len(raw) // 2],
                        "empty": b""}[damage])
    _same(first, data.load(tiny_imdb.archive))
    assert cached.read_bytes() == raw  # rewritten


def test_unwritable_cache_only_costs_time(tiny_imdb, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    _same(data.load(tiny_imdb.archive, cache_dir=blocker / "cache"), data.load(tiny_imdb.archive))


# --- .npz ---------------------------------------------------------------------------------

def test_npz_round_trip(tiny_imdb, tmp_path):
    ds = data.load(tiny_imdb.archive)
    path = tmp_path / "ids.npz"
    data.save_npz(ds, path)
    back = data.load(path)
    _same(ds, back)
    assert back.source == str(path)
    assert back.sha256 == data.file_sha256(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_npz_of_other_integer_types_is_converted(tmp_path):
    path = tmp_path / "int64.npz"
    x = np.arange(400, dtype=np.int64).reshape(2, 200)
    np.savez(path, x_train=x, y_train=np.array([0, 1]), x_test=x, y_test=np.array([1, 0], np.uint8))
    ds = data.load_npz(path)
    assert ds.x_train.dtype == ds.y_test.dtype == np.int32
    assert np.array_equal(ds.x_train, x)


def test_subset_and_validation_split(tiny_npz):
    ds = data.load(tiny_npz)
    small = ds.subset(50)
    assert len(small.x_train) == len(small.y_train) == len(small.x_test) == 50
    assert np.array_equal(small.x_train, ds.x_train[:50])
    assert ds.subset(None) is ds
    x_tr, y_tr, x_val, y_val = data.split_validation(ds.x_train, ds.y_train, 0.2, seed=1)
    assert len(x_val) == 40 and len(x_tr) == 160
    rows = sorted(_rows(x_tr) + _rows(x_val))
    assert rows == sorted(_rows(ds.x_train))                        # a partition
    again = data.split_validation(ds.x_train, ds.y_train, 0.2, seed=1)
    assert np.array_equal(again[2], x_val)                          # seeded


def test_pickled_ragged_npz_is_refused(tmp_path):
    path = tmp_path / "ragged.npz"
    ragged = np.array([np.array([1, 14, 22]), np.array([1, 5])], dtype=object)
    np.savez(path, x_train=ragged, y_train=np.array([1, 0]), x_test=ragged, y_test=np.array([0, 1]))
    with pytest.raises(DataError, match="pickled"):
        data.load(path)


@pytest.mark.parametrize("arrays, message", [
    (dict(x_train=np.zeros((2, 200)), y_train=np.zeros(2)), "lacks array .*x_test"),
    (dict(x_train=np.zeros((2, 100), np.int32), y_train=np.zeros(2), x_test=np.zeros((2, 200), np.int32),
          y_test=np.zeros(2)), r"x_train must be an integer array of shape \(N, 200\)"),
    (dict(x_train=np.zeros((2, 200), np.float32), y_train=np.zeros(2),
          x_test=np.zeros((2, 200), np.int32), y_test=np.zeros(2)), "x_train must be an integer array"),
    (dict(x_train=np.zeros((2, 200), np.int32), y_train=np.zeros(3), x_test=np.zeros((2, 200), np.int32),
          y_test=np.zeros(2)), r"y_train must have shape \(2,\)"),
])
def test_malformed_npz_is_refused(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        data.load(path)


@pytest.mark.parametrize("content", ["truncated", "empty"])
def test_unreadable_npz_is_a_data_error(tiny_npz, tmp_path, content):
    path = tmp_path / "broken.npz"
    raw = tiny_npz.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if content == "truncated" else b"")
    with pytest.raises(DataError, match="broken.npz"):
        data.load(path)


# --- errors: each a DataError whose message says what is wrong -----------------------------

def test_missing_path(tmp_path):
    missing = tmp_path / "nowhere" / "aclImdb_v1.tar.gz"
    with pytest.raises(DataError, match="does not exist") as err:
        data.load(missing)
    assert str(missing) in str(err.value) and "--data" in str(err.value)


@pytest.mark.parametrize("damage", ["random bytes", "truncated gzip", "empty file"])
def test_corrupt_archive(tiny_imdb, damage):
    raw = tiny_imdb.archive.read_bytes()
    tiny_imdb.archive.write_bytes({"random bytes": os.urandom(4096),
                                   "truncated gzip": raw[: len(raw) * 2 // 3],
                                   "empty file": b""}[damage])
    with pytest.raises(DataError, match="not a readable IMDB archive") as err:
        data.load(tiny_imdb.archive)
    assert str(tiny_imdb.archive) in str(err.value) and "SHA256SUMS" in str(err.value)


def test_missing_word_index(tiny_imdb):
    tiny_imdb.word_index.unlink()
    with pytest.raises(DataError, match="no imdb_word_index.json beside .*--word-index"):
        data.load(tiny_imdb.archive)


def test_explicit_word_index_that_does_not_exist(tiny_imdb, tmp_path):
    missing = tmp_path / "typo.json"
    with pytest.raises(DataError) as err:
        data.load(tiny_imdb.archive, word_index=missing)
    assert str(missing) in str(err.value)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not readable JSON"),
    (json.dumps(["the", "a"]), "must map words to integer ranks"),
    (json.dumps({"the": "1"}), "must map words to integer ranks"),
])
def test_malformed_word_index(tiny_imdb, content, message):
    tiny_imdb.word_index.write_text(content)
    with pytest.raises(DataError, match=message):
        data.load(tiny_imdb.archive)


def test_archive_without_reviews(tiny_imdb, tmp_path):
    other = tiny_imdb.archive.parent / "other.tar.gz"
    write_tar_gz(other, {"something/else.txt": b"not imdb"})
    with pytest.raises(DataError, match=r"has no train reviews under aclImdb/train/\{pos,neg\}/"):
        data.load(other)
    empty_dir = tiny_imdb.archive.parent / "empty"
    empty_dir.mkdir()
    with pytest.raises(DataError, match="has no train reviews"):
        data.load(empty_dir)


@pytest.mark.parametrize("bad", ["missing", "corrupt-archive", "truncated-npz"])
def test_cli_bad_data_is_one_line_and_exit_2(tiny_imdb, tiny_npz, tmp_path, bad):
    if bad == "missing":
        path = tmp_path / "BAD"
    elif bad == "corrupt-archive":
        path = tiny_imdb.archive
        path.write_bytes(os.urandom(2048))
    else:
        raw = tiny_npz.read_bytes()
        path = tmp_path / "cut.npz"
        path.write_bytes(raw[: len(raw) // 3])
    out = tmp_path / "out"
    proc = subprocess.run([PYTHON, "-m", "imdb_edge.cli", "train", "--data", str(path), "--out", str(out)],
                          cwd=tmp_path, env=subprocess_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("imdb-edge train: error: ") and str(path) in last
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # data is checked before anything is written
