"""Helpers for the training-side tests: a tiny raw IMDB archive (the .npz: testkit).

Everything is built by the tests themselves in temporary folders, so these tests need
neither the network nor ../shared/data. The real data is used only by tests that say so
and skip cleanly without it. Fixtures wrapping these live in conftest.py.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
import tarfile
from pathlib import Path


PROJECT = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT.parent / "shared" / "data"

# A small word index in the Keras format: word -> frequency rank (1 = most frequent).
WORD_INDEX = {"the": 1, "a": 2, "movie": 3, "film": 4, "good": 5, "bad": 6, "great": 7,
              "awful": 8, "plot": 9, "it's": 10, "10": 11, "was": 12}

# (split, label folder) -> [(file id, rating, text)]. Every text encodes to a distinct row,
# so a row identifies its review in the tests.
REVIEWS = {
    ("train", "pos"): [(0, 9, "A great movie.<br /><br />Good plot!"),
                       (1, 10, "It's GOOD, the film"),
                       (2, 8, "great great 10/10")],
    ("train", "neg"): [(0, 1, "An awful movie<br/>bad plot"),
                       (1, 2, "BAD, bad film; zzz"),
                       (2, 3, "the plot was awful")],
    ("test", "pos"): [(0, 7, "good film"), (1, 8, "great plot")],
    ("test", "neg"): [(0, 2, "bad film"), (1, 4, "awful, the movie")],
}

# Archive members that are not labelled reviews and must be ignored by the loader.
EXTRA_MEMBERS = {
    "aclImdb/README": "Large Movie Review Dataset v1.0",
    "aclImdb/imdb.vocab": "the\nand\n",
    "aclImdb/train/urls_pos.txt": "http://www.imdb.com/title/tt0453418/usercomments\n",
    "aclImdb/train/unsup/0_0.txt": "an unlabelled review that must not be read",
    "aclImdb/train/labeledBow.feat": "9 0:9 1:1\n",
}


@dataclasses.dataclass
class TinyImdb:
    archive: Path          # .../data/aclImdb_v1.tar.gz
    word_index: Path       # .../data/imdb_word_index.json (beside the archive)
    folder: Path           # the archive extracted: .../extracted/aclImdb

    def expected(self, split: str) -> dict[tuple, int]:
        """Encoded-and-padded row (as a tuple) -> label, for every review of ``split``."""
        from imdb_edge.runtime.text import encode, pad
        from imdb_edge.spec import REFERENCE

        rows = {}
        for label in ("pos", "neg"):
            for _id, _rating, text in REVIEWS[(split, label)]:
                rows[tuple(pad([encode(text, WORD_INDEX)[0]], REFERENCE.length,
                                REFERENCE.vocab_size)[0])] = int(label == "pos")
        return rows


def write_tar_gz(path: Path, members: dict[str, bytes]) -> None:
    """A gzip'd tar holding ``members`` (name -> bytes), byte-for-byte repeatable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mtime = 0
            tar.addfile(info, io.BytesIO(members[name]))


def review_members() -> dict[str, bytes]:
    members = {f"aclImdb/{split}/{label}/{file_id}_{rating}.txt": text.encode()
               for (split, label), items in REVIEWS.items() for file_id, rating, text in items}
    members.update({name: text.encode() for name, text in EXTRA_MEMBERS.items()})
    return members


def build_tiny_imdb(tmp_path: Path) -> TinyImdb:
    """The tiny archive with its word index beside it, and the same reviews extracted."""
    data = tmp_path / "data"
    archive = data / "aclImdb_v1.tar.gz"
    members = review_members()
    write_tar_gz(archive, members)
    index = data / "imdb_word_index.json"
    index.write_text(json.dumps(WORD_INDEX))
    extracted = tmp_path / "extracted"
    for name, raw in members.items():
        (extracted / name).parent.mkdir(parents=True, exist_ok=True)
        (extracted / name).write_bytes(raw)
    (extracted / "imdb_word_index.json").write_text(json.dumps(WORD_INDEX))
    return TinyImdb(archive=archive, word_index=index, folder=extracted / "aclImdb")


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for child Python processes: quiet TensorFlow, the test's own cache."""
    env = dict(os.environ)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", IMDB_EDGE_CACHE=str(tmp_path / "cache"),
               PYTHONUNBUFFERED="1")
    env.pop("IMDB_EDGE_DATA", None)
    return env


PYTHON = sys.executable
