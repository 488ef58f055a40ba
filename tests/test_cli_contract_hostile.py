"""The CLI's contract on I/O: bad input or a bad environment is one line on stderr and exit
status 2; a reader that goes away (`| head -1`) ends the run quietly; a real bug keeps its
traceback. And a parity report folder is published whole, never half of two runs.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from testkit import PYTHON, cli, gen, one_error_line

pytestmark = pytest.mark.hardening

SCORE = [PYTHON, "-m", "imdb_edge.cli", "score"]


def shell(command: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, timeout=timeout)


def test_stdout_closed(models):
    done = shell(f"{PYTHON} -m imdb_edge.cli score {models / 'tiny.npz'} --text good >&-")
    assert done.returncode == 2
    assert done.stderr.decode().strip() == ("imdb-edge: error: stdout is closed; redirect it "
                                            "to a file or /dev/null")


def test_stdin_closed(models):
    done = shell(f"{PYTHON} -m imdb_edge.cli score {models / 'tiny.npz'} - <&-")
    assert done.returncode == 2 and done.stdout == b""
    one_error_line(done.stderr.decode(), "stdin is closed")


def test_stdout_full(models):
    done = shell(f"{PYTHON} -m imdb_edge.cli score {models / 'tiny.npz'} --text good "
                 "> /dev/full")
    assert done.returncode == 2
    one_error_line(done.stderr.decode(), "cannot write to stdout: No space left on device")


def test_reader_that_goes_away_ends_the_run_quietly(model_path, tmp_path):
    """`imdb-edge score ... | head -1`: no BrokenPipeError traceback, status 141 (as for a
    tool killed by SIGPIPE), the first line intact."""
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("a good film\n" * 3000)  # ~300 KB of results: more than a pipe holds
    model = model_path("bag.onnx", "onnxruntime")  # fast: 3000 reviews in a second
    done = shell(f"set -o pipefail; {PYTHON} -m imdb_edge.cli score {model} "
                 f"--file {reviews} | head -1; echo \"status ${{PIPESTATUS[0]}}\" >&2")
    assert json.loads(done.stdout.decode().splitlines()[0])["tokens"] == 3
    assert done.stderr.decode().strip().splitlines()[-1] == "status 141", done.stderr.decode()
    assert "Traceback" not in done.stderr.decode() and "Error" not in done.stderr.decode()


def test_disk_errors_are_one_line_for_every_verb(capsys, monkeypatch, models):
    """ENOSPC, EIO or EROFS while a verb runs (export writing an artifact, parity its
    report): one line and exit 2, whichever verb."""
    import imdb_edge.commands.export as export_command
    import imdb_edge.commands.score as score_command

    for number, module, verb, argv in [
            (errno.ENOSPC, export_command, "export", []),
            (errno.EIO, score_command, "score", [models / "tiny.npz", "--text", "x"]),
            (errno.EROFS, export_command, "export", [])]:
        def full(args, number=number):
            raise OSError(number, os.strerror(number), "out/imdb-float32.onnx")

        monkeypatch.setattr(module, "run", full)
        status, out, err = cli(capsys, verb, *argv)
        assert status == 2 and out == []
        one_error_line(err, rf"out/imdb-float32.onnx: {os.strerror(number)}")


@pytest.mark.parametrize("bug", [KeyError("artifact"), AttributeError("x"), ValueError("y"),
                                 TypeError("z")])
def test_a_bug_keeps_its_traceback(capsys, monkeypatch, models, bug):
    """Only the domain's errors (ImdbEdgeError) and the OS's I/O errors are one line: a bug
    must not pass for bad usage."""
    import imdb_edge.commands.score as score_command

    def broken(args):
        raise bug

    monkeypatch.setattr(score_command, "run", broken)
    with pytest.raises(type(bug)):
        cli(capsys, "score", models / "tiny.npz", "--text", "x")


def test_domain_errors_share_one_base():
    from imdb_edge.errors import ImdbEdgeError, InputError, UsageError
    from imdb_edge.parity import GoldenError
    from imdb_edge.runtime import ArtifactError
    from imdb_edge.runtime.backends import BackendError

    for error in (ArtifactError, BackendError, GoldenError, InputError, UsageError):
        assert issubclass(error, ImdbEdgeError)
    for error in (ArtifactError, BackendError, GoldenError, InputError):
        assert issubclass(error, ValueError)  # what API callers catch


# --- parity ----------------------------------------------------------------------------------

@pytest.fixture
def golden(models, tmp_path):
    from imdb_edge import parity
    from imdb_edge.metrics import edge_cases
    from imdb_edge.runtime import load

    reviews = gen.reference_ids(4)
    edges, names = edge_cases(random_rows=0)
    ids = np.concatenate([reviews, edges])
    probs = load(models / "tiny.npz").predict_ids(ids)
    reference = parity.build_reference(ids, probs, (probs[:4] >= 0.5).astype(np.int8),
                                       edge_rows=names, model=dict(path="tiny", sha256="tiny"),
                                       data=dict(source="made up"))
    path = tmp_path / "golden.npz"
    parity.save_golden(reference, str(path))
    return path


def parity(capsys, models, golden, report, *extra):
    return cli(capsys, "parity", models / "tiny.npz", "--golden", golden, "--report", report,
               "--no-plots", *extra)


def test_parity_disk_full_is_exit_2_not_a_failed_check(capsys, models, golden, tmp_path,
                                                       monkeypatch):
    import imdb_edge.atomic

    report = tmp_path / "report"
    status, _, _ = parity(capsys, models, golden, report)
    assert status == 0
    before = (report / "report.json").read_text()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imdb_edge.atomic.os, "fsync", full)
    status, out, err = parity(capsys, models, golden, report)
    assert status == 2
    one_error_line(err.splitlines()[-1] + "\n", "No space left on device")
    # the earlier report is untouched and no staging folder is left behind
    assert (report / "report.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["golden.npz", "report"]


def test_parity_report_is_published_whole(capsys, models, golden, tmp_path, monkeypatch):
    """Killed between report.json and report.md, a folder said FAIL in one and PASS in the
    other; plots of an earlier run stayed. Now a run that dies writing report.md leaves the
    earlier report whole, and a finished run replaces the folder, old plots included."""
    from imdb_edge import report as report_lib

    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "plots" / "gone.onnx.png").write_bytes(b"an earlier run's plot")
    (report / "report.md").write_text("# Parity: FAIL (an earlier run)\n")
    status, _, _ = parity(capsys, models, golden, report)
    assert status == 0
    assert sorted(p.name for p in report.iterdir()) == ["report.json", "report.md"]
    first = {p.name: p.read_bytes() for p in report.iterdir()}

    real = report_lib.atomic_write_text

    def die_on_markdown(path, text):
        if Path(path).name == "report.md":
            raise KeyboardInterrupt  # as a kill between the two files would
        real(path, text)

    monkeypatch.setattr(report_lib, "atomic_write_text", die_on_markdown)
    edited = tmp_path / "edited.npz"
    with np.load(golden) as f:
        arrays = {k: f[k] for k in f.files}
    status, _, _ = parity(capsys, models, golden, report, "--limit", "2")
    assert status == 130
    assert {p.name: p.read_bytes() for p in report.iterdir()} == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert not edited.exists() and arrays


def test_parity_refuses_to_replace_a_folder_of_other_files(capsys, models, golden, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    status, out, err = parity(capsys, models, golden, tmp_path)
    assert status == 2
    one_error_line(err, "holds other files .*mine.txt")
    assert (tmp_path / "mine.txt").read_text() == "keep me"
