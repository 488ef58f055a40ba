"""Raw text of any size or content is tokenised in bounded time and memory, then scored or
refused with one clear line: 10 MB reviews, binary junk, invalid UTF-8, punctuation only.

The property tests here cover tokenize/encode on random text; tests/train/test_train_text.py
has the padding properties on random id lists, tests/runtime/test_runtime_inputs_property.py
the id-range checks.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest

from testkit import PYTHON, TESTS, cli, one_error_line

from imdb_edge.runtime import text

pytestmark = pytest.mark.hardening

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TEN_MB = 10_000_000


def huge(kind: str) -> str:
    """A 10 MB review of one kind (the text, built before anything is measured)."""
    if kind == "words":
        return "the good film was awful zzz qqq " * (TEN_MB // 32)
    if kind == "one word":
        return "a" * TEN_MB
    if kind == "punctuation":
        return ("!?.,;:-()[]{}\"" * (TEN_MB // 14 + 1))[:TEN_MB]
    if kind == "line breaks":
        return "<br />" * (TEN_MB // 6)
    if kind == "binary junk":
        return np.random.default_rng(0).bytes(TEN_MB).decode("latin-1")
    if kind == "NUL bytes":
        return "\0" * TEN_MB
    if kind == "emoji":  # 10 MB of UTF-8, 4 bytes a character in memory too
        return "\U0001F600 good " * (TEN_MB // 10)
    raise ValueError(kind)


KINDS = ["words", "one word", "punctuation", "line breaks", "binary junk", "NUL bytes", "emoji"]
EXPECTED_TOKENS = {"words": 7 * TEN_MB // 32, "one word": 1, "punctuation": 0, "line breaks": TEN_MB // 6,
                   }  # NUL bytes and emoji are word characters to Keras' rule

# Run in a child: the peak RSS of a fresh process says what scoring one review cost.
MEASURE = r"""
import json, sys, time
sys.path[:0] = [sys.argv[3], sys.argv[4]]
from testkit import peak_rss_mb
from test_text_hostile import huge
from imdb_edge.runtime import load
model = load(sys.argv[1])
model.score_texts(["warm up"])
review = huge(sys.argv[2])
before = peak_rss_mb()
started = time.perf_counter()
[result] = model.score_texts([review])
seconds = time.perf_counter() - started
extra = peak_rss_mb() - before
print(json.dumps(dict(result, seconds=seconds, extra_mb=extra,
                      text_mb=len(review.encode("utf-8", "surrogatepass")) / 1e6)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_10_mb_review_costs_bounded_time_and_memory(model_path, kind):
    """Words are streamed, not listed: before this was fixed, 10 MB of words took ~200 MB
    (a list of 2.2 million words, then of their ids). Now memory is a few copies of the
    text at most, and time a couple of seconds."""
    from pathlib import Path

    done = subprocess.run([PYTHON, "-c", MEASURE, str(model_path("tiny.npz")), kind,
                           str(TESTS), str(Path(__file__).parent)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    print(f"{kind}: {result['seconds']:.2f} s, +{result['extra_mb']:.0f} MB peak RSS for "
          f"{result['text_mb']:.0f} MB of text, {result['tokens']} tokens")
    assert 0.0 <= result["probability"] <= 1.0
    if kind in EXPECTED_TOKENS:
        assert result["tokens"] == EXPECTED_TOKENS[kind]
    assert result["seconds"] < 60
    # 4 bytes a character for emoji; words and ids beyond the row are never kept.
    limit = 5 * TEN_MB / 1e6 * (4 if kind == "emoji" else 1)
    assert result["extra_mb"] < limit, result


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--file", "stdin"])
def test_cli_scores_a_10_mb_line(model_path, tmp_path, how):
    review = huge("words").encode()
    args = [PYTHON, "-m", "imdb_edge.cli", "score", str(model_path("tiny.npz"))]
    if how == "--file":
        (tmp_path / "big.txt").write_bytes(review + b"\nshort one\n")
        done = subprocess.run(args + ["--file", str(tmp_path / "big.txt")], capture_output=True,
                              timeout=300)
    else:
        done = subprocess.run(args + ["-"], input=review + b"\nshort one\n", capture_output=True,
                              timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["tokens"] for r in results] == [EXPECTED_TOKENS["words"], 2]


INVALID_UTF8 = {
    "latin-1": (b"caf\xe9 good\n", 3),
    "lone continuation byte": (b"good \x80 film\n", 5),
    "overlong slash": (b"\xc0\xaf\n", 0),
    "UTF-16 surrogate": (b"ok \xed\xa0\x80\n", 3),
    "truncated sequence at the end": (b"good film \xe2\x82", 10),
    "deep in a 10 MB file": (b"good " * 2_000_000 + b"\xff\n", 10_000_000),
}


@pytest.mark.parametrize("data,byte", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_file_exits_2(capsys, model_path, tmp_path, data, byte):
    path = tmp_path / "reviews.txt"
    path.write_bytes(data)
    status, out, err = cli(capsys, "score", model_path("tiny.npz"), "--file", path)
    assert status == 2 and out == []
    one_error_line(err, rf"reviews.txt: not UTF-8 text \(byte {byte}\)")


@pytest.mark.parametrize("data,byte", [INVALID_UTF8["latin-1"], INVALID_UTF8["UTF-16 surrogate"]],
                         ids=["latin-1", "UTF-16 surrogate"])
def test_invalid_utf8_stdin_exits_2(model_path, data, byte):
    """Real stdin of a fresh process, through the console entry point."""
    for how in (["-"], ["--file", "-"]):
        done = subprocess.run([sys.executable, "-m", "imdb_edge.cli", "score",
                               str(model_path("tiny.npz")), *how], input=data,
                              capture_output=True, timeout=300)
        assert done.returncode == 2 and done.stdout == b""
        one_error_line(done.stderr.decode(), rf"stdin: not UTF-8 text \(byte {byte}\)")


def test_odd_but_valid_text_is_scored(capsys, model_path, tmp_path):
    """Valid UTF-8 that is not prose: each line is scored, in order, with finite results."""
    lines = ["!!! ??? ...", "", "\ufeffgood film", "\x00\x01\x02", "😀😀 great", "\u202eawful",
             "it's 10/10", "<br /><br />", "a\u2028b", "Ünïcödé ßtraße", "\t\t"]
    path = tmp_path / "odd.txt"
    path.write_bytes("\n".join(lines).encode() + b"\n")
    status, out, err = cli(capsys, "score", model_path("tiny.npz"), "--file", path)
    assert status == 0, err
    results = [json.loads(line) for line in out]
    assert [r["tokens"] for r in results] == [len(text.tokenize(line)) for line in lines]
    assert [r["tokens"] for r in results][:4] == [0, 0, 2, 1]   # \x00\x01\x02 is one word
    assert all(0.0 <= r["probability"] <= 1.0 for r in results)


def test_python_strings_no_file_could_hold(numpy_model_or_skip):
    """Lone surrogates and other code points that are not valid UTF-8 still tokenise."""
    results = numpy_model_or_skip.score_texts(["\ud800 good \udfff", "\udc80" * 1000, "\uffff"])
    assert [r["tokens"] for r in results] == [3, 1, 1]


@pytest.fixture
def numpy_model_or_skip(model_path):
    from imdb_edge.runtime import load

    return load(model_path("tiny.npz"))


# --- properties on random text ------------------------------------------------------------------

WORDS = ["the", "good", "film", "it's", "10", "bad", "zzz"]
PIECES = WORDS + [" ", "  ", "<br />", "<BR/>", "<br", "/>", "'", "!", ".", "\n", "\t", "Ünï",
                  "\x00", "\ud800", "😀", "\u2028", "İ", "ß", "GOOD", "Film", "1950s"]
texts = st.one_of(st.text(max_size=300),
                  st.lists(st.sampled_from(PIECES), max_size=80).map("".join),
                  st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join))
WORD = re.compile("[^" + re.escape(text.FILTERS + " ") + "]+")


@settings(max_examples=300, deadline=None)
@given(texts, texts)
def test_tokens_hold_no_separator_and_compose(first, second):
    words = text.tokenize(first)
    assert all(WORD.fullmatch(w) for w in words)
    assert text.tokenize(" ".join(words)) == words                # idempotent
    if "<" not in first + second:  # a line-break tag could span the join
        assert text.tokenize(f"{first} {second}") == words + text.tokenize(second)


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=6), st.integers(2, 12), st.integers(4, 14),
       st.booleans())
def test_encode_batch_invariants(reviews, max_len, vocab_size, stream):
    """encode_batch equals padding encode()'s output (the training path), for both its
    list and its streaming way of reading words; every id is in range, START comes first,
    padding fills the end, and the counts are over the whole review."""
    index = {w: rank for rank, w in enumerate(WORDS + ["great", "awful"], start=1)}
    with mock.patch.object(text, "_STREAM_FROM", 0 if stream else text._STREAM_FROM):
        ids, tokens, unknown = text.encode_batch(reviews, index, max_len, vocab_size)
    encoded = [text.encode(r, index)[0] for r in reviews]
    np.testing.assert_array_equal(ids, text.pad(encoded, max_len, vocab_size))
    assert ids.dtype == np.int32 and ids.shape == (len(reviews), max_len)
    assert ((ids >= 0) & (ids < vocab_size)).all()
    assert (ids[:, 0] == text.START_ID).all()
    for row, review, n, u in zip(ids, reviews, tokens, unknown):
        words = text.tokenize(review)
        assert n == len(words) and u == sum(w not in index for w in words)
        known = [index[w] + text.INDEX_FROM for w in words if w in index]  # unknown: dropped
        kept = min(len(known), max_len - 1)
        assert not row[1 + kept:].any()                              # padding at the end only
        expected = known[:kept]
        assert row[1:1 + kept].tolist() == [i if i < vocab_size else text.PAD_ID
                                            for i in expected]


def test_streaming_threshold_is_what_makes_huge_reviews_cheap():
    """The two ways of reading words agree on a review just over the threshold."""
    review = "good film " * (text._STREAM_FROM // 10 + 7)
    index = {"good": 1}
    ids, tokens, unknown = text.encode_batch([review], index, 200, 20000)
    assert tokens[0] == 2 * (text._STREAM_FROM // 10 + 7) and unknown[0] == tokens[0] // 2
    assert ids[0, :3].tolist() == [text.START_ID, 4, 4]           # "film" is dropped
