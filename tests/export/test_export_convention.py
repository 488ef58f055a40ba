"""`export`'s preprocessing flags: recorded in every sidecar, and refused when the rows it is
given could not have been made that way."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from imdb_edge.cli import main
from testkit import make_npz

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                       reason="export needs TensorFlow (extra: export)"),
]


def _export(tmp_path: Path, data: Path, *flags) -> tuple[int, dict]:
    out = tmp_path / "out"
    code = main(["export", "--format", "numpy", "--data", str(data), "--validate", "20",
                 "--calibration", "10", "--out", str(out), *flags])
    sidecar = out / "imdb-float32.npz.json"
    return code, json.loads(sidecar.read_text())["preprocessing"] if sidecar.is_file() else {}


def _rows_with(tmp_path: Path, edit) -> Path:
    path = make_npz(tmp_path / "rows.npz", n_train=20, n_test=20)
    with np.load(path) as f:
        arrays = dict(f)
    edit(arrays["x_test"])
    np.savez(path, **arrays)
    return path


def test_the_notebook_convention_is_the_default_and_recorded(tmp_path):
    code, pre = _export(tmp_path, make_npz(tmp_path / "rows.npz", n_train=20, n_test=20))
    assert code == 0
    assert {k: pre[k] for k in ("unknown_words", "out_of_range_id", "truncating", "padding")} \
        == {"unknown_words": "drop", "out_of_range_id": 0, "truncating": "post", "padding": "post"}


def test_rows_holding_the_oov_id_contradict_drop_and_need_the_flag(tmp_path, capsys):
    def add_oov(x):
        x[3, 5] = 2

    data = _rows_with(tmp_path, add_oov)
    code, _ = _export(tmp_path, data)
    err = capsys.readouterr().err
    assert code == 2 and "contradict the preprocessing flags" in err and "OOV id 2" in err
    code, pre = _export(tmp_path, data, "--unknown-words", "oov")
    assert code == 0 and pre["unknown_words"] == "oov"


def test_rows_padded_at_the_front_need_the_padding_flag(tmp_path, capsys):
    def pad_front(x):
        for i in range(len(x)):
            n = int((x[i] != 0).sum())
            x[i] = np.concatenate([np.zeros(200 - n, x.dtype), x[i, :n]])

    data = _rows_with(tmp_path, pad_front)
    code, _ = _export(tmp_path, data)
    assert code == 2 and "padded at the front" in capsys.readouterr().err
    code, pre = _export(tmp_path, data, "--padding", "pre", "--truncating", "pre")
    assert code == 0 and (pre["padding"], pre["truncating"]) == ("pre", "pre")
