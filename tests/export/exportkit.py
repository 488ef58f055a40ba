"""Helpers for the export tests: a small IMDB archive (fixtures wrapping it: conftest.py).

The archive's reviews run past the reference length and use words beyond the reference
vocabulary, so a model's length and vocabulary change the rows its reviews encode to.
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np

WORDS = 30_000  # ranked words in the index: more than any vocabulary the tests use
REVIEWS = 200   # per split


def review_texts(n: int, seed: int) -> list[tuple[int, str]]:
    """(label, text): positive reviews draw most words from ranks 1..1000, negative ones from
    500..1500, so the classes overlap halfway; every review also has words of any rank and
    words missing from the index, and lengths run from 5 to 350 words."""
    rng = np.random.default_rng(seed)
    reviews = []
    for i in range(n):
        label = i % 2
        ranks = rng.integers(1, 1001, rng.integers(5, 350)) + 500 * (1 - label)
        words = [f"w{rank}" for rank in ranks]
        for spot in rng.integers(0, len(words), max(1, len(words) // 10)):
            words[spot] = f"w{rng.integers(1, WORDS + 1)}" if spot % 3 else f"unseen{spot}"
        reviews.append((label, " ".join(words) + "."))
    return reviews


def build_archive(folder: Path) -> Path:
    """aclImdb_v1.tar.gz with imdb_word_index.json beside it, byte-for-byte repeatable."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for split, seed in (("train", 1), ("test", 2)):
            for i, (label, body) in enumerate(review_texts(REVIEWS, seed)):
                raw = body.encode()
                info = tarfile.TarInfo(f"aclImdb/{split}/{'pos' if label else 'neg'}/{i}_7.txt")
                info.size, info.mtime = len(raw), 0
                tar.addfile(info, io.BytesIO(raw))
    (folder / "imdb_word_index.json").write_text(
        json.dumps({f"w{rank}": rank for rank in range(1, WORDS + 1)}))
    return archive
