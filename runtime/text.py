"""Text -> token ids, and ids -> the fixed-length rows the model takes.

This module is the single definition of preprocessing: the archive loader, export
calibration and the device runtime all call it, so raw text scored on a device is encoded
exactly as in training. It needs nothing but the standard library and numpy.

The word rule is Keras' ``text_to_word_sequence`` with its defaults, the rule the IMDB word
index (and so ``imdb.npz``) was counted with: lowercase, every character of ``FILTERS``
becomes a space, split on the single space. Accented letters, ``\\x85``, ``\\x96``, ``\\r``
and other whitespace stay inside words, as they do in Keras.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import re
from typing import Iterable, Mapping, Sequence

import numpy as np

# Keras IMDB conventions (keras.datasets.imdb.load_data defaults).
PAD_ID = 0
START_ID = 1
OOV_ID = 2
INDEX_FROM = 3
# A model's sizes (max_len, vocab_size) come from the model: imdb_edge.spec and the sidecar.

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
TOKENIZER_RULE = ("keras text_to_word_sequence: lowercase; each of " + repr(FILTERS) +
                  " -> ' '; split on ' '")
# Bumped whenever the rule changes, so caches and sidecars keyed on it go stale.
TOKENIZER_VERSION = 3

# What becomes of a word missing from the index: "drop" skips it, as imdb.npz does for
# test words; "oov" writes OOV_ID, for models trained with an OOV token.
UNKNOWN_POLICIES = ("drop", "oov")
# Which end of a long review is cut, and which end of a short one is padded: the notebook
# keeps the first ids and pads at the end ("post"); keras.utils.pad_sequences defaults to
# "pre" for both.
SIDES = ("post", "pre")



def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Convention:
    """How a model's rows are made from a review's words. The defaults are the notebook's:
    unknown words dropped (imdb.npz), ids >= the vocabulary size -> 0, the first ids kept,
    padding at the end."""
    unknown_words: str = "drop"     # "drop" | "oov"
    out_of_range_id: int = PAD_ID   # PAD_ID, or OOV_ID as load_data(num_words=N) does
    truncating: str = "post"        # "post" keeps the first ids, "pre" the last
    padding: str = "post"           # "post" pads at the end, "pre" at the front

    def __post_init__(self):
        _check_choice("unknown_words", self.unknown_words, UNKNOWN_POLICIES)
        _check_choice("out_of_range_id", self.out_of_range_id, (PAD_ID, OOV_ID))
        _check_choice("truncating", self.truncating, SIDES)
        _check_choice("padding", self.padding, SIDES)


NOTEBOOK = Convention()

# A word is a maximal run of characters that are neither a filter nor the space: the same
# words as Keras' translate-then-split, found in one pass of the regex engine.
_WORD = re.compile("[^" + re.escape(FILTERS + " ") + "]+")
_STREAM_FROM = 1 << 20  # characters; below this a list of the words is cheap and faster


def tokenize(text: str) -> list[str]:
    """Split a review into words the way the Keras IMDB word index was built."""
    return _words(text)


def _words(text: str):
    """The words of ``text``; a generator for huge texts, so memory stays with the text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    normal = text.lower()
    if len(normal) < _STREAM_FROM:
        return _WORD.findall(normal)
    return (match.group() for match in _WORD.finditer(normal))


def encode(text: str, word_index: Mapping[str, int], *, unknown: str = "drop",
           keep: int | None = None, truncating: str = "post") -> tuple[list[int], int, int]:
    """Return ([START, ids...], words in the review, unknown words).

    ``word_index`` maps word -> frequency rank (1 = most frequent), as in
    ``imdb_word_index.json``; a known word of rank r becomes r + INDEX_FROM. With ``keep``,
    only the ``keep`` ids the row will hold are kept (the first, or with ``truncating="pre"``
    the last), so a 10 MB review costs memory for its text, not for two million ids. Ids
    beyond the model's vocabulary are kept here; ``pad`` maps them.
    """
    _check_choice("unknown", unknown, UNKNOWN_POLICIES)
    _check_choice("truncating", truncating, SIDES)
    head = [START_ID]
    counts = [0, 0]  # words, unknown words: updated by _ids_counted as it runs
    ids = _ids_counted(_words(text), word_index, unknown == "oov", counts)
    if keep is None:
        head.extend(ids)
    elif truncating == "post":
        head.extend(itertools.islice(ids, max(keep - 1, 0)))
        collections.deque(ids, maxlen=0)  # count the rest
    else:
        head = list(collections.deque(itertools.chain(head, ids), maxlen=keep))
    return head, counts[0], counts[1]


def _ids_counted(words, word_index, oov: bool, counts: list):
    for word in words:
        counts[0] += 1
        rank = word_index.get(word)
        if rank is None:
            counts[1] += 1
            if oov:
                yield OOV_ID
        else:
            yield rank + INDEX_FROM


def pad(sequences: Sequence[Sequence[int]], max_len: int, vocab_size: int, *,
        out_of_range: int = PAD_ID, truncating: str = "post",
        padding: str = "post") -> np.ndarray:
    """Rows of exactly ``max_len`` ids: cut long sequences at the ``truncating`` end, map ids
    >= ``vocab_size`` to ``out_of_range`` (0 as the notebook's padding does, OOV_ID as
    ``load_data(num_words=N)`` does), pad with PAD_ID at the ``padding`` end.

    Vectorised: one concatenate and one scatter, no Python loop over cells.
    """
    _check_choice("truncating", truncating, SIDES)
    _check_choice("padding", padding, SIDES)
    n = len(sequences)
    out = np.zeros((n, max_len), dtype=np.int32)
    if n == 0:
        return out
    kept = [s[:max_len] if truncating == "post" else s[max(len(s) - max_len, 0):]
            for s in sequences]
    # intp: np.repeat takes its counts as the platform index type (int32 on a 32-bit Pi).
    lengths = np.fromiter((len(s) for s in kept), dtype=np.intp, count=n)
    if lengths.sum() == 0:
        return out
    flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in kept])
    if flat.min() < 0:
        raise ValueError("token ids must be >= 0")
    flat[flat >= vocab_size] = out_of_range
    rows = np.repeat(np.arange(n), lengths)
    starts = np.cumsum(lengths) - lengths
    cols = np.arange(flat.size) - np.repeat(starts, lengths)
    if padding == "pre":
        cols += np.repeat(max_len - lengths, lengths)
    out[rows, cols] = flat
    return out


def encode_batch(texts: Iterable[str], word_index: Mapping[str, int], max_len: int,
                 vocab_size: int, convention: Convention = NOTEBOOK):
    """Encode and pad many reviews. Returns (ids (N, max_len) int32, word counts, unknown
    counts), the same rows as ``pad([encode(t)[0] ...])`` under ``convention``."""
    c = convention
    encoded = [encode(t, word_index, unknown=c.unknown_words, keep=max_len,
                      truncating=c.truncating) for t in texts]
    counts = np.array([e[1] for e in encoded], dtype=np.int64)
    unknowns = np.array([e[2] for e in encoded], dtype=np.int64)
    return pad_with([e[0] for e in encoded], max_len, vocab_size, c), counts, unknowns


def pad_with(sequences, max_len: int, vocab_size: int, convention: Convention = NOTEBOOK):
    """``pad`` with a convention's out-of-range id and sides."""
    return pad(sequences, max_len, vocab_size, out_of_range=convention.out_of_range_id,
               truncating=convention.truncating, padding=convention.padding)


def convention_problems(rows: np.ndarray, convention: Convention) -> list[str]:
    """What in already-padded ``rows`` a convention could not have produced (rows made
    another way, e.g. an .npz padded at the front while the convention pads at the end)."""
    problems = []
    if convention.unknown_words == "drop" and convention.out_of_range_id != OOV_ID and \
            (rows == OOV_ID).any():
        problems.append(f"they hold the OOV id {OOV_ID}, which unknown words 'drop' with "
                        f"out-of-range id {convention.out_of_range_id} never writes")
    if convention.padding == "post" and len(rows):
        # Padded at the end, a row's first cell is padding only if the whole row is.
        front = int(((rows[:, 0] == PAD_ID) & (rows != PAD_ID).any(axis=1)).sum())
        if front:
            problems.append(f"{front} rows start with padding, so they were padded at the front")
    return problems

