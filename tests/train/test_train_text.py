"""runtime/text.py: the one definition of preprocessing, shared by training and devices.

The rule is Keras' own: every tokenizer and padding test that can is checked against
tf_keras' ``text_to_word_sequence`` / ``pad_sequences`` (the functions imdb.npz and the
notebook used), and against real imdb.npz rows when ../shared/data is present.
"""
from __future__ import annotations

import json
import re
import tarfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imdb_edge.runtime.text import (FILTERS, INDEX_FROM, NOTEBOOK, OOV_ID, PAD_ID, START_ID,
                                    Convention, convention_problems, encode, encode_batch, pad,
                                    pad_with, tokenize)
from imdb_edge.spec import REFERENCE
from trainkit import SHARED_DATA, WORD_INDEX

MAX_LEN, VOCAB_SIZE = REFERENCE.length, REFERENCE.vocab_size

FIXTURE = SHARED_DATA / "keras_imdb_train_head.npz"
ARCHIVE = SHARED_DATA / "aclImdb_v1.tar.gz"
INDEX = SHARED_DATA / "imdb_word_index.json"


def keras_text():
    return pytest.importorskip("tf_keras").preprocessing


# --- tokenize: Keras' text_to_word_sequence ------------------------------------------------

@pytest.mark.parametrize("char", list(FILTERS))
def test_every_filter_character_separates_words(char):
    assert tokenize(f"Left{char}RIGHT") == ["left", "right"]


@pytest.mark.parametrize("text, words", [
    ("rock'n'roll, don't", ["rock'n'roll", "don't"]),          # apostrophes stay
    ("Cliché SÉANCE", ["cliché", "séance"]),                   # accents stay, lowercased
    ("it\x85s a\x96b", ["it\x85s", "a\x96b"]),                 # cp1252 \x85, \x96 stay inside
    ("don´t", ["don´t"]),                                       # acute accent stays
    ("a\rb c\xa0d e\u2003f", ["a\rb", "c\xa0d", "e\u2003f"]),   # only ' ', \t, \n split
    ("don’t", ["don’t"]),                                       # typographic apostrophe stays
    ("  two   spaces  ", ["two", "spaces"]),                    # empty strings dropped
    ("tab\tnew\nline", ["tab", "new", "line"]),
])
def test_characters_keras_keeps_inside_words(text, words):
    assert tokenize(text) == words


@pytest.mark.parametrize("br", ["<br />", "<br/>", "<br>", "<BR />"])
def test_line_break_tags_are_the_word_br_as_in_the_keras_index(br):
    assert tokenize(f"end.{br}{br}Start") == ["end", "br", "br", "start"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(FILTERS + " \r\x85\x96\xa0´’'éÉaZ09")) |
               st.characters(), max_size=60))
def test_tokenize_is_keras_text_to_word_sequence(text):
    assert tokenize(text) == keras_text().text.text_to_word_sequence(text)


@pytest.mark.parametrize("bad", [None, b"bytes", 3, ["a list"]])
def test_tokenize_and_encode_refuse_non_str(bad):
    with pytest.raises(TypeError, match="must be str"):
        tokenize(bad)
    with pytest.raises(TypeError, match="must be str"):
        encode(bad, WORD_INDEX)


# --- encode: unknown words -----------------------------------------------------------------

def test_known_words_become_rank_plus_three_after_start():
    assert (PAD_ID, START_ID, OOV_ID, INDEX_FROM) == (0, 1, 2, 3)
    assert encode("The movie was GOOD", WORD_INDEX) == ([START_ID, 4, 6, 15, 8], 4, 0)


def test_unknown_words_are_dropped_by_default_as_in_imdb_npz():
    """A test-set word missing from the index is skipped: the next word takes its place."""
    assert encode("the zzz movie qqq", WORD_INDEX) == ([START_ID, 4, 6], 4, 2)


def test_unknown_words_can_be_the_oov_id():
    assert encode("the zzz movie", WORD_INDEX, unknown="oov") == ([START_ID, 4, OOV_ID, 6], 3, 1)


@pytest.mark.parametrize("text", ["", "   ", "!!! ... ---", "<>/"])
def test_text_without_words_is_just_the_start_id(text):
    assert encode(text, WORD_INDEX) == ([START_ID], 0, 0)


def test_keep_counts_every_word_but_holds_only_the_kept_ids():
    text = "the movie " * 300 + "zzz"
    ids, words, unknown = encode(text, WORD_INDEX, keep=5)
    assert ids == [START_ID, 4, 6, 4, 6] and (words, unknown) == (601, 1)
    ids, _, _ = encode("good bad the movie", WORD_INDEX, keep=3, truncating="pre")
    assert ids == [9, 4, 6]                   # the last three ids: START is cut, as Keras does


def test_bad_policies_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown must be one of drop, oov"):
        encode("x", WORD_INDEX, unknown="skip")
    with pytest.raises(ValueError, match="out_of_range_id must be one of 0, 2"):
        Convention(out_of_range_id=7)
    with pytest.raises(ValueError, match="padding must be one of post, pre"):
        Convention(padding="left")


# --- pad: sides and the out-of-range id -----------------------------------------------------

def test_pad_keeps_the_first_ids_and_pads_at_the_end_by_default():
    out = pad([list(range(1, 451)), [7]], MAX_LEN, VOCAB_SIZE)
    assert out[0].tolist() == list(range(1, MAX_LEN + 1))
    assert out[1].tolist() == [7] + [0] * (MAX_LEN - 1)


def test_pad_out_of_range_ids():
    row = [[1, VOCAB_SIZE - 1, VOCAB_SIZE, 10 ** 9, 5]]
    assert pad(row, 6, VOCAB_SIZE)[0].tolist() == [1, VOCAB_SIZE - 1, 0, 0, 5, 0]
    assert pad(row, 6, VOCAB_SIZE, out_of_range=OOV_ID)[0].tolist() == \
        [1, VOCAB_SIZE - 1, 2, 2, 5, 0]


def test_pad_empty_inputs_and_dtype():
    assert pad([], MAX_LEN, VOCAB_SIZE).shape == (0, MAX_LEN)
    out = pad([[], np.arange(300, dtype=np.int16)], MAX_LEN, VOCAB_SIZE)
    assert out.dtype == np.int32 and not out[0].any() and out[1].tolist() == list(range(MAX_LEN))


def test_pad_refuses_negative_ids():
    with pytest.raises(ValueError, match=">= 0"):
        pad([[1, 2], [3, -1]], 5, 10)


@settings(max_examples=300, deadline=None)
@given(sequences=st.lists(st.lists(st.integers(0, 60), max_size=25), min_size=1, max_size=12),
       max_len=st.integers(1, 20), vocab_size=st.integers(1, 70),
       truncating=st.sampled_from(["post", "pre"]), padding=st.sampled_from(["post", "pre"]),
       out_of_range=st.sampled_from([PAD_ID, OOV_ID]))
def test_pad_is_keras_pad_sequences(sequences, max_len, vocab_size, truncating, padding,
                                    out_of_range):
    """Keras' pad_sequences, then ids >= vocab_size -> out_of_range (as the notebook / as
    load_data(num_words) do): every combination of sides."""
    mapped = [[v if v < vocab_size else out_of_range for v in s] for s in sequences]
    expected = keras_text().sequence.pad_sequences(
        mapped, maxlen=max_len, padding=padding, truncating=truncating, value=0)
    out = pad(sequences, max_len, vocab_size, out_of_range=out_of_range,
              truncating=truncating, padding=padding)
    assert out.tolist() == expected.tolist()


# --- conventions: encode_batch and the rows check ----------------------------------------------

@pytest.mark.parametrize("convention", [
    NOTEBOOK, Convention("oov", OOV_ID, "pre", "pre"), Convention("drop", PAD_ID, "pre", "post"),
    Convention("oov", PAD_ID, "post", "pre")])
def test_encode_batch_is_pad_of_encode_under_each_convention(convention):
    texts = ["good film zzz", "", "the movie " * 150 + "great qqq bad"]
    rows, words, unknown = encode_batch(texts, WORD_INDEX, 12, VOCAB_SIZE, convention)
    encoded = [encode(t, WORD_INDEX, unknown=convention.unknown_words)[0] for t in texts]
    assert rows.tolist() == pad_with(encoded, 12, VOCAB_SIZE, convention).tolist()
    assert words.tolist() == [3, 0, 303] and unknown.tolist() == [1, 0, 1]


def test_convention_problems_name_rows_made_another_way():
    rows, _, _ = encode_batch(["good zzz film", "bad"], WORD_INDEX, 6, VOCAB_SIZE)
    assert convention_problems(rows, NOTEBOOK) == []
    oov_rows, _, _ = encode_batch(["good zzz film"], WORD_INDEX, 6, VOCAB_SIZE,
                                  Convention(unknown_words="oov"))
    assert "OOV id 2" in convention_problems(oov_rows, NOTEBOOK)[0]
    front, _, _ = encode_batch(["good", "bad film"], WORD_INDEX, 6, VOCAB_SIZE,
                               Convention(padding="pre"))
    assert convention_problems(front, NOTEBOOK) == [
        "2 rows start with padding, so they were padded at the front"]


# --- against real imdb.npz rows and the real index (skipped without ../shared/data) -----------

needs_shared = pytest.mark.skipif(
    not (FIXTURE.is_file() and ARCHIVE.is_file() and INDEX.is_file()),
    reason=f"shared data not found at {SHARED_DATA}")


def _archive_texts(names: set | None = None, limit: int | None = None,
                   split: str | None = None) -> dict:
    member = re.compile(r"aclImdb/(train|test)/(pos|neg)/\d+_\d+\.txt$")
    texts = {}
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        for info in tar:
            m = member.search(info.name) if info.isfile() else None
            if not m or (names is not None and info.name not in names) or \
                    (split and m.group(1) != split):
                continue
            texts[info.name] = tar.extractfile(info).read().decode("utf-8", errors="replace")
            if limit and len(texts) == limit:
                break
    return texts


@needs_shared
def test_archive_text_encodes_to_the_real_imdb_npz_rows():
    """The 5,000 fixture rows are keras.datasets.imdb.load_data(num_words=500)'s, so ids
    >= 500 are the OOV id. Measured: 4,998 identical rows, and all 5,000 identical in their
    first 200 ids (all the model reads). The two others differ past id 200 because the text
    Keras encoded is not the archive's: train/neg/8040_1.txt has 10 words fewer at its end
    in imdb.npz, and train/pos/8712_8.txt holds two names ('åge', 'østbye') that the index
    lacks in this spelling but imdb.npz holds as one more word each."""
    with np.load(FIXTURE, allow_pickle=False) as f:
        ids, offsets, files = f["ids"], f["offsets"], f["files"]
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    texts = _archive_texts({f"aclImdb/{name}" for name in files})
    exact, head, differing = 0, 0, []
    for k, name in enumerate(files):
        row = ids[offsets[k]:offsets[k + 1]].tolist()
        ours = [i if i < 500 else OOV_ID for i in encode(texts[f"aclImdb/{name}"], index)[0]]
        exact += ours == row
        head += ours[:MAX_LEN] == row[:MAX_LEN]
        if ours != row:
            differing.append(str(name))
    assert (len(files), exact, head) == (5000, 4998, 5000)
    assert sorted(differing) == ["train/neg/8040_1.txt", "train/pos/8712_8.txt"]


@needs_shared
def test_every_training_word_is_in_the_index_and_test_words_are_mostly():
    """The index ranks the training reviews' words: with Keras' rule none is unknown.
    Test reviews have words it lacks (measured: about 1.1 % of tokens)."""
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    for split, bound in (("train", 0.0), ("test", 0.02)):
        words = unknown = 0
        for text in _archive_texts(limit=500, split=split).values():
            _, n, u = encode(text, index)
            words, unknown = words + n, unknown + u
        assert unknown / words <= bound, f"{split}: {unknown} of {words} words unknown"
        if split == "test":
            assert unknown > 0
