"""Write the data files that ship inside the package (imdb_edge/resources.py says what each
holds), from the IMDB archive and its word index:

    python scripts/make_packaged_rows.py --data PATH/aclImdb_v1.tar.gz [--out imdb_edge/data]

Rows are encoded by ``imdb_edge.train.data`` (the tokenizer training uses), and are the
first rows of the loader's shuffled splits, so they are the rows `imdb-edge export
--data ARCHIVE` would calibrate and validate on: calibration from the training split only,
validation from the test split. Ids are stored as uint16 (every id is below 20000).
Rerun it when the tokenizer version changes; tests/test_packaged_rows.py checks.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = 500   # export's default --calibration
VALIDATION = 1000   # test reviews; export's default --validate is larger, --data gives all


def build(data: str, calibration: int = CALIBRATION, validation: int = VALIDATION) -> tuple:
    """(rows arrays for np.savez_compressed, vocab.txt bytes)."""
    from imdb_edge.helpers import file_sha256
    from imdb_edge.runtime import text
    from imdb_edge.spec import REFERENCE
    from imdb_edge.train import data as data_lib

    source = data_lib.resolve_source(data)
    if source is None:
        raise SystemExit("pass --data PATH/aclImdb_v1.tar.gz (or set IMDB_EDGE_DATA)")
    dataset = data_lib.load(source)
    archive = Path(source)
    archive = archive / data_lib.ARCHIVE_NAME if archive.is_dir() else archive
    index_path = data_lib._find_word_index(archive)
    index = data_lib.load_word_index(index_path)
    ranked = sorted(index.items(), key=lambda kv: kv[1])
    if [rank for _, rank in ranked] != list(range(1, len(ranked) + 1)) or \
            any("\n" in word for word, _ in ranked):
        raise SystemExit(f"{index_path}: ranks must be 1..N and words without newlines")
    vocabulary = ("\n".join(word for word, _ in ranked) + "\n").encode("utf-8")
    meta = dict(tokenizer_version=text.TOKENIZER_VERSION, max_len=REFERENCE.length,
                vocab_size=REFERENCE.vocab_size, source=archive.name,
                source_sha256=data_lib.source_digest(archive),
                word_index_sha256=file_sha256(index_path), calibration=calibration,
                validation=validation, made_by="scripts/make_packaged_rows.py")
    rows = dict(x_train=dataset.x_train[:calibration].astype(np.uint16),
                y_train=dataset.y_train[:calibration].astype(np.uint8),
                x_test=dataset.x_test[:validation].astype(np.uint16),
                y_test=dataset.y_test[:validation].astype(np.uint8),
                meta=np.array(json.dumps(meta, sort_keys=True)))
    return rows, vocabulary


def main(argv=None) -> int:
    from imdb_edge import resources
    from imdb_edge.atomic import atomic_write

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="aclImdb_v1.tar.gz or its folder, with imdb_word_index.json "
                   "beside it (default: $IMDB_EDGE_DATA)")
    p.add_argument("--out", default=str(ROOT / "imdb_edge" / "data"), help="output folder")
    args = p.parse_args(argv)
    rows, vocabulary = build(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / resources.ROWS_NAME) as f:
        np.savez_compressed(f, **rows)
    with atomic_write(out / resources.VOCABULARY_NAME) as f:
        f.write(vocabulary)
    for name in (resources.ROWS_NAME, resources.VOCABULARY_NAME):
        print(f"{out / name}: {(out / name).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
