"""Sidecars and the files they name: every way out of the artifact's folder is refused, and
every refusal is one clear line and exit status 2 from the CLI.

tests/runtime/test_runtime_load.py already checks the API for a missing or malformed
sidecar, schema versions, '../' and absolute names, hash mismatches and one symlink leaving
the folder; this adds the symlink variants, special files (a FIFO would block a read
forever), sizes, odd names, and the CLI's exit codes for all of them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import PYTHON, cli, edit_sidecar, one_error_line

from imdb_edge.runtime import ArtifactError, load

pytestmark = pytest.mark.hardening


@pytest.fixture
def npz(copy_of):
    return copy_of("tiny.npz")


@pytest.fixture
def elsewhere(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def move_out(path: Path, folder: Path) -> Path:
    """Move ``path`` to ``folder`` and leave a symlink to it in its place."""
    target = folder / path.name
    os.replace(path, target)
    os.symlink(target, path)
    return target


# --- symlinks --------------------------------------------------------------------------------

def test_vocabulary_symlink_leaving_the_folder(npz, elsewhere):
    move_out(npz.parent / "vocab.txt", elsewhere)
    with pytest.raises(ArtifactError, match="vocab.txt is a symlink leaving the artifact's folder"):
        load(npz)


def test_symlink_chain_that_ends_outside(npz, elsewhere):
    """inside -> inside -> outside: the final target is what counts."""
    outside = move_out(npz, elsewhere)
    os.remove(npz)
    os.symlink(outside, npz.parent / "hop.npz")
    os.symlink("hop.npz", npz)
    with pytest.raises(ArtifactError, match="tiny.npz is a symlink leaving"):
        load(npz)


def test_dangling_symlink_to_outside(npz, elsewhere):
    os.remove(npz)
    os.symlink(elsewhere / "never-made.npz", npz)
    with pytest.raises(ArtifactError, match="symlink leaving"):
        load(npz)


def test_dangling_symlink_inside(npz):
    os.remove(npz)
    os.symlink("never-made.npz", npz)
    with pytest.raises(ArtifactError, match="artifact .*tiny.npz not found"):
        load(npz)


def test_folder_reached_through_a_symlink_is_fine(npz, tmp_path):
    """Only where the files end up matters, not how the folder was reached."""
    link = tmp_path / "models-link"
    os.symlink(npz.parent, link)
    assert load(link / npz.name).backend_name == "numpy"


# --- special files and sizes -------------------------------------------------------------------

LOAD_IN_A_CHILD = "import sys; from imdb_edge.runtime import load; load(sys.argv[1])"


@pytest.mark.parametrize("which", ["artifact", "vocabulary", "sidecar"])
def test_fifo_is_refused_without_blocking(npz, which):
    """A FIFO in place of a file would block read() until someone writes to it. Run in a
    child with a timeout, so a regression fails instead of hanging the test session."""
    path = {"artifact": npz, "vocabulary": npz.parent / "vocab.txt",
            "sidecar": Path(f"{npz}.json")}[which]
    os.remove(path)
    os.mkfifo(path)
    for argv in ([PYTHON, "-c", LOAD_IN_A_CHILD, str(npz)],
                 [PYTHON, "-m", "imdb_edge.cli", "score", str(npz), "--text", "fine"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode != 0
        assert f"cannot read {which} {path} (not a regular file)" in done.stderr, done.stderr
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1


def test_a_folder_as_the_vocabulary(npz):
    os.remove(npz.parent / "vocab.txt")
    os.mkdir(npz.parent / "vocab.txt")
    with pytest.raises(ArtifactError, match="cannot read vocabulary .*not a regular file"):
        load(npz)


def test_artifact_bigger_than_its_sidecar_says_is_not_read(npz, monkeypatch):
    with open(npz, "ab") as f:
        f.write(b"\0" * 4096)
    read = []
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or b"")
    with pytest.raises(ArtifactError, match=r"tiny.npz is \d+ bytes, its sidecar says \d+"):
        load(npz)
    assert "tiny.npz" not in read


@pytest.mark.parametrize("size", ["2308812", None, -1, 1.5, True])
def test_size_bytes_must_be_a_byte_count(npz, size):
    edit_sidecar(npz, size_bytes=size)
    with pytest.raises(ArtifactError, match=re.escape(f"size_bytes must be a file size in "
                                                      f"bytes (0 to {1 << 40}), got {size!r}")):
        load(npz)


def test_huge_sidecar_is_not_parsed(npz, monkeypatch):
    Path(f"{npz}.json").write_bytes(b" " * (16 << 20) + b"{}")
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("a huge sidecar was parsed"))
    with pytest.raises(ArtifactError, match=r"sidecar .* is 16777218 bytes; sidecars are a few KB"):
        load(npz)


def test_deeply_nested_sidecar(npz):
    Path(f"{npz}.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ArtifactError, match="not valid JSON|expected a JSON object"):
        load(npz)


# --- names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", ".", "..", "vocab\x00.txt", "..\\vocab.txt", "sub/../vocab.txt",
                                  "/etc/passwd", 5, None, ["vocab.txt"]],
                         ids=["empty", "dot", "dotdot", "NUL", "backslash", "dotdot inside",
                              "absolute", "int", "null", "list"])
def test_odd_vocabulary_names(npz, name):
    edit_sidecar(npz, preprocessing__vocabulary_file=name)
    with pytest.raises(ArtifactError, match="must be a plain file name in the artifact's folder"):
        load(npz)


def test_vocabulary_with_a_matching_hash_but_not_utf8(generator_folder):
    path = generator_folder(vocabulary=b"caf\xe9\n")
    with pytest.raises(ArtifactError, match="vocab.txt is not UTF-8"):
        load(path)


def test_empty_vocabulary_with_a_matching_hash(generator_folder):
    with pytest.raises(ArtifactError, match="vocab.txt is empty"):
        load(generator_folder(vocabulary=b""))


@pytest.fixture
def generator_folder(npz):
    """A valid copy whose vocabulary is replaced and re-hashed in the sidecar."""
    import hashlib

    def make(vocabulary: bytes) -> Path:
        (npz.parent / "vocab.txt").write_bytes(vocabulary)
        edit_sidecar(npz, preprocessing__vocabulary_sha256=hashlib.sha256(vocabulary).hexdigest())
        return npz

    return make


# --- the CLI: one line, exit 2 -----------------------------------------------------------------

def _symlink_out(path: Path) -> None:
    outside = path.parent.parent / f"outside-{path.name}"
    os.replace(path, outside)
    os.symlink(outside, path)


CLI_CASES = {
    "missing sidecar": (lambda a: os.remove(f"{a}.json"), r"no sidecar .*tiny.npz.json"),
    "malformed JSON": (lambda a: Path(f"{a}.json").write_text("{"), "is not valid JSON"),
    "schema_version 1": (lambda a: edit_sidecar(a, schema_version=1),
                         "schema_version 1 is not supported"),
    "vocabulary missing": (lambda a: os.remove(a.parent / "vocab.txt"),
                           "vocabulary .*vocab.txt not found"),
    "vocabulary wrong hash": (lambda a: (a.parent / "vocab.txt").write_text("good\nbad\n"),
                              "vocabulary .*does not match its sidecar"),
    "artifact ../": (lambda a: edit_sidecar(a, artifact="../tiny.npz"), "plain file name"),
    "artifact absolute": (lambda a: edit_sidecar(a, artifact=str(a)), "plain file name"),
    "vocabulary ../": (lambda a: edit_sidecar(a, preprocessing__vocabulary_file="../vocab.txt"),
                       "plain file name"),
    "vocabulary absolute": (lambda a: edit_sidecar(a, preprocessing__vocabulary_file="/etc/hosts"),
                            "plain file name"),
    "artifact symlink leaving": (lambda a: _symlink_out(a), "tiny.npz is a symlink leaving"),
    "vocabulary symlink leaving": (lambda a: _symlink_out(a.parent / "vocab.txt"),
                                   "vocab.txt is a symlink leaving"),
    "artifact hash": (lambda a: a.write_bytes(a.read_bytes()[::-1]),
                      "artifact .*does not match its sidecar"),
    "artifact truncated": (lambda a: a.write_bytes(a.read_bytes()[:1000]),
                           r"is 1000 bytes, its sidecar says"),
}


@pytest.mark.parametrize("how", ["--text", "--ids"])
@pytest.mark.parametrize("tamper,message", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_cli_exit_2_with_one_line(capsys, npz, tmp_path, tamper, message, how):
    ids = tmp_path / "ids.txt"
    ids.write_text(" ".join(["1"] * 200) + "\n")
    tamper(npz)
    argv = ["score", npz] + (["--text", "a good film"] if how == "--text" else ["--ids", ids])
    status, out, err = cli(capsys, *argv)
    assert status == 2 and out == []
    one_error_line(err, message)


def test_cli_exit_2_in_a_fresh_process(npz):
    """The console entry point, not just main(): no traceback, one line, status 2."""
    edit_sidecar(npz, artifact="../../etc/passwd")
    done = subprocess.run([sys.executable, "-m", "imdb_edge.cli", "score", str(npz), "--text", "x"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    one_error_line(done.stderr, "must be a plain file name")
