"""`imdb-edge score`: one JSON line per review; bad input is one line on stderr and exit 2."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from imdb_edge.cli import main
from runtime_helpers import artifact
from testkit import cli


def score(capsys, *argv, stdin: bytes | None = None, monkeypatch=None):
    status, out, err = cli(capsys, "score", *argv, stdin=stdin, monkeypatch=monkeypatch)
    return status, [json.loads(line) for line in out], err


def test_texts(capsys, numpy_model, model_dir):
    status, results, err = score(capsys, model_dir / "tiny.npz", "--text", "a good film",
                                 "--text", "awful zzz")
    assert status == 0 and err == ""
    assert results == numpy_model.score_texts(["a good film", "awful zzz"])
    assert list(results[0]) == ["probability", "label", "tokens", "unknown"]


def test_file_one_review_per_line(capsys, numpy_model, model_dir, tmp_path):
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes(b"a good film\r\n\nthe plot\x0cwas bad\n")  # CRLF, blank line, form feed
    status, results, _ = score(capsys, model_dir / "tiny.npz", "--file", reviews)
    assert status == 0
    assert results == numpy_model.score_texts(["a good film", "", "the plot\x0cwas bad"])


@pytest.mark.parametrize("how", [["-"], ["--file", "-"]])
def test_stdin(capsys, monkeypatch, numpy_model, model_dir, how):
    status, results, _ = score(capsys, model_dir / "tiny.npz", *how,
                               stdin="great acting\nbad plot".encode(), monkeypatch=monkeypatch)
    assert status == 0
    assert results == numpy_model.score_texts(["great acting", "bad plot"])


def write_ids(path, rows):
    path.write_text("".join(" ".join(map(str, row)) + "\n" for row in rows))
    return path


def test_ids_file(capsys, numpy_model, model_dir, tmp_path, reference_ids):
    path = write_ids(tmp_path / "ids.txt", reference_ids[:3])
    status, results, _ = score(capsys, model_dir / "tiny.npz", "--ids", path)
    assert status == 0
    assert results == numpy_model.score_ids(reference_ids[:3])
    assert results[0]["tokens"] == int(np.count_nonzero(reference_ids[0])) - 1  # less START


ROW = ["5"] * 200
BAD_IDS_FILES = {
    "short line": ([ROW, ROW[:-1]], "ids.txt line 2: expected 200 ids, got 199"),
    "long line": ([ROW + ["5"]], "line 1: expected 200 ids, got 201"),
    "blank line": ([ROW, [], ROW], "line 2: expected 200 ids, got 0"),
    "not an integer": ([ROW, ROW, ROW[:16] + ["x1"] + ROW[17:]],
                       "line 3, value 17: 'x1' is not an integer"),
    "float": ([ROW[:-1] + ["1.0"]], "line 1, value 200: '1.0' is not an integer"),
    "out of range": ([ROW[:-1] + ["20000"]],
                     r"line 1, value 200: id 20000 is outside \[0, 20000\)"),
    "negative": ([["-1"] + ROW[1:]], r"line 1, value 1: id -1 is outside"),
    "empty file": ([], "no rows of ids"),
}


@pytest.mark.parametrize("rows,message", BAD_IDS_FILES.values(), ids=BAD_IDS_FILES.keys())
def test_bad_ids_file_exits_2(capsys, model_dir, tmp_path, rows, message):
    path = write_ids(tmp_path / "ids.txt", rows)
    status, results, err = score(capsys, model_dir / "tiny.npz", "--ids", path)
    assert status == 2 and results == []
    assert len(err.splitlines()) == 1 and err.startswith("imdb-edge score: error: ")
    assert re.search(message, err), err


@pytest.mark.parametrize("argv,message", [
    ([], "exactly one of --text, --file, - .stdin. or --ids$"),
    (["--text", "x", "--file", "f"], r"got --text, --file\)"),
    (["-", "--ids", "f"], r"got -, --ids\)"),
    (["--file", "missing.txt"], "No such file or directory"),
    (["--text", "x", "--threads", "0"], "threads must be a whole number from 1 to 64"),
    (["--text", "x", "--backend", "onnxruntime"], "runs onnx artifacts, this one is numpy"),
])
def test_usage_errors_exit_2(capsys, model_dir, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    status, results, err = score(capsys, model_dir / "tiny.npz", *argv)
    assert status == 2 and results == []
    assert len(err.splitlines()) == 1
    assert re.search(message, err.strip()), err


def test_bad_files_exit_2(capsys, model_dir, tmp_path):
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    for argv, message in [(["--file", tmp_path / "latin1.txt"], "not UTF-8 text (byte 3)"),
                          (["--file", tmp_path / "empty.txt"], "no reviews in"),
                          (["--file", tmp_path], "Is a directory")]:
        status, _, err = score(capsys, model_dir / "tiny.npz", *argv)
        assert status == 2 and message in err, err


def test_bad_artifacts_exit_2(capsys, model_copy):
    data = model_copy.read_bytes()
    model_copy.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    status, _, err = score(capsys, model_copy, "--text", "x")
    assert status == 2 and "does not match its sidecar" in err
    os.remove(f"{model_copy}.json")
    status, _, err = score(capsys, model_copy, "--text", "x")
    assert status == 2 and "no sidecar" in err
    status, _, err = score(capsys, model_copy.parent / "absent.onnx", "--text", "x")
    assert status == 2 and "no sidecar" in err


def test_unknown_backend_is_an_argparse_error(capsys, model_dir):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(model_dir / "tiny.npz"), "--text", "x", "--backend", "tflite"])
    assert exit_info.value.code == 2


def test_console_script_end_to_end(model_dir):
    """The installed `imdb-edge` entry point, reading stdin, in a fresh process."""
    done = subprocess.run([sys.executable, "-m", "imdb_edge.cli", "score",
                           str(model_dir / "tiny.npz"), "-"],
                          input="a good film\nawful\n", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["tokens"] for r in results] == [3, 1]
    bad = subprocess.run([sys.executable, "-m", "imdb_edge.cli", "score",
                          str(model_dir / "tiny.npz")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize("name,backend", [("tiny.npz", None), ("tiny_b1.tflite", "litert"),
                                          ("tiny_b1.onnx", "onnxruntime")])
def test_bad_input_is_the_only_line_on_stderr(capfd, model_dir, tmp_path, name, backend):
    """Checked before the model loads, so interpreter start-up chatter (LiteRT's XNNPACK
    line goes straight to file descriptor 2) does not come with it."""
    path = artifact(model_dir, name, backend)
    ids = write_ids(tmp_path / "ids.txt", [ROW, ROW[:5]])
    assert main(["score", str(path), "--ids", str(ids)]) == 2
    assert main(["score", str(path), "--file", str(tmp_path / "absent.txt")]) == 2
    out, err = capfd.readouterr()
    assert out == "" and len(err.splitlines()) == 2, err
