"""The reviews an export calibrates and validates on, as rows of the model it exports.

Artifacts are compared with their model on reviews encoded the way the model was trained:
at its length and vocabulary, under its preprocessing convention. By source:

* the IMDB archive (``--data aclImdb_v1.tar.gz`` or its folder): the reviews' text is
  encoded for the model (``imdb_edge.train.data.load`` with its spec and convention), so
  the rows are exact for any member of the family;
* an .npz of the user's own rows: taken as they are, so they must be the model's length;
  ids at or beyond its vocabulary become the convention's out-of-range id, as the encoder
  makes them;
* the rows packaged with imdb-edge (no ``--data``): encoded the notebook's way at the
  reference length and vocabulary, without their text. ``fit_rows`` derives the rows of a
  member no longer and no larger from them, which is exact; anything else is refused,
  naming the fix.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np

from imdb_edge import resources
from imdb_edge.errors import UsageError
from imdb_edge.runtime import text
from imdb_edge.spec import REFERENCE, ModelSpec

ENCODE_HINT = "pass --data with the IMDB archive (aclImdb_v1.tar.gz), whose text is encoded " \
              "for the model"


@dataclasses.dataclass
class Rows:
    calibration: np.ndarray  # training reviews (never test ones), for int8 / int16x8
    reviews: np.ndarray      # test reviews, for validation
    labels: np.ndarray       # the test reviews' labels
    source: str              # what they were read from, and how they were made


def load_rows(data: Optional[str], spec: ModelSpec, convention: text.Convention, *,
              calibration: int, validate: int) -> Rows:
    """The first ``calibration`` training and ``validate`` test reviews of ``data`` (else
    $IMDB_EDGE_DATA, else the packaged rows) as rows of ``spec`` under ``convention``.
    Raises UsageError (or the loader's DataError) where no exact rows can be had."""
    from imdb_edge.train import data as data_lib

    source = resources.data_source(data)
    if Path(source).resolve() == resources.rows().resolve():
        made = resources.rows_meta()
        dataset = data_lib.load_npz(source, length=made["max_len"])
        where = f"the packaged rows ({made['max_len']} ids, vocabulary {made['vocab_size']})"
        train = fit_rows(dataset.x_train[:calibration], spec, convention, made["vocab_size"], where)
        test = fit_rows(dataset.x_test[:validate], spec, convention, made["vocab_size"], where)
        how = f"{where}, fitted to the model's {spec.length} ids and vocabulary {spec.vocab_size}"
    else:
        dataset = data_lib.load(source, convention=convention, spec=spec)
        problems = text.convention_problems(dataset.x_test, convention)
        if problems:
            raise UsageError(f"the rows in {dataset.source} contradict the preprocessing flags: "
                             f"{'; '.join(problems)}; pass the flags they were made with")
        where = f"the rows in {dataset.source}"
        train = within_vocabulary(dataset.x_train[:calibration], spec, convention, where)
        test = within_vocabulary(dataset.x_test[:validate], spec, convention, where)
        how = f"{dataset.source}, at the model's {spec.length} ids"
    return Rows(train, test, dataset.y_test[:validate], how)


def fit_rows(rows: np.ndarray, spec: ModelSpec, convention: text.Convention,
             vocab_size: int = REFERENCE.vocab_size, where: str = "these rows") -> np.ndarray:
    """The rows ``spec``'s model takes for the reviews of ``rows``, which were encoded the
    notebook's way at their own length and vocabulary ``vocab_size``, without their text.

    Exact, or UsageError. A notebook row is START and the review's first ids, each id at or
    beyond the vocabulary set to 0 where it stands, then padding at the end. So its first L
    cells are the row of the same review at length L, and setting the ids at or beyond a
    smaller vocabulary V to 0 gives the row at V (those beyond the old vocabulary are 0
    already). A longer length would need the ids that were cut, a larger vocabulary the ids
    that became 0, another convention other rows (the last ids kept, padding in front, OOV
    ids for unknown words or for ids beyond the vocabulary): none is in the rows."""
    rows = np.asarray(rows, np.int32)
    length = rows.shape[1]
    problems = []
    if convention != text.NOTEBOOK:
        problems.append("they were encoded the notebook's way (first ids kept, padded at the "
                        "end, unknown words dropped, ids beyond the vocabulary 0), not as the "
                        "preprocessing flags say")
    if spec.length > length:
        problems.append(f"reviews cut at {length} ids cannot be lengthened to the model's "
                        f"{spec.length}")
    if spec.vocab_size > vocab_size:
        problems.append(f"ids at or beyond {vocab_size} were set to 0, so a vocabulary of "
                        f"{spec.vocab_size} cannot be restored")
    if problems:
        raise UsageError(f"{where} cannot give this model's rows exactly: "
                         f"{'; '.join(problems)}; {ENCODE_HINT}")
    return within_vocabulary(rows[:, :spec.length], spec, convention, where)


def within_vocabulary(rows: np.ndarray, spec: ModelSpec, convention: text.Convention,
                      where: str) -> np.ndarray:
    """``rows`` with every id at or beyond ``spec``'s vocabulary made the convention's
    out-of-range id, as ``imdb_edge.runtime.text.pad`` makes them."""
    rows = np.asarray(rows, np.int32)
    if rows.size and rows.min() < 0:
        raise UsageError(f"{where} hold negative ids; ids are 0 (padding) or more")
    return np.where(rows >= spec.vocab_size, convention.out_of_range_id, rows).astype(np.int32)
