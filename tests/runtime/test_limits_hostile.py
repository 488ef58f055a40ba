"""Bounded threads, bounded memory, strict ids.

--threads is capped (LiteRT died with SIGSEGV at 100,000 threads, onnxruntime took 3.8 GB);
a vocabulary is refused by its size before it is read; --file refuses devices and reviews
over MAX_REVIEW_BYTES; --ids is read in batches; an .npz is refused on its members'
declared sizes before anything is inflated; ids are ASCII decimal only.
"""
from __future__ import annotations

import io
import os
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from testkit import (MAX_LEN, PYTHON, TESTS, VOCAB, cli, edit_sidecar, gen, npy, npz_with,
                     one_error_line)

pytestmark = pytest.mark.hardening


@pytest.fixture
def load_never_called(monkeypatch):
    import imdb_edge.runtime

    def forbidden(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(imdb_edge.runtime, "load", forbidden)


# --- threads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("threads", ["65", "100000", "0"])
def test_score_threads_are_bounded(capsys, models, load_never_called, threads):
    """Refused before the model loads: 100,000 used to print a result and then SIGSEGV."""
    from imdb_edge.runtime.backends import _common

    monkey = _common.threads_or_none
    status, out, err = cli(capsys, "score", models / "tiny_bany.tflite", "--text", "good film",
                           "--threads", threads)
    assert status == 2 and out == []
    one_error_line(err, "threads must be a whole number from 1 to 64")
    assert monkey is _common.threads_or_none


@pytest.mark.parametrize("name,backend", [("tiny.npz", "numpy"), ("bag.onnx", "onnxruntime"),
                                          ("bag.tflite", "litert")])
def test_load_threads_bound(model_path, name, backend):
    from imdb_edge.runtime import load

    path = model_path(name, backend)
    with pytest.raises(ValueError, match="threads must be a whole number from 1 to 64"):
        load(path, backend=backend, threads=65)
    assert load(path, backend=backend, threads=64).predict_ids([[1] * MAX_LEN]).shape == (1,)


def test_parity_and_bench_threads_are_bounded(capsys, models, tmp_path):
    status, _, err = cli(capsys, "parity", models / "tiny.npz", "--golden", tmp_path / "g.npz",
                         "--threads", "65")
    assert status == 2
    with pytest.raises(SystemExit) as exit_info:
        cli(capsys, "bench", models / "tiny.npz", "--threads", "100000")
    assert exit_info.value.code == 2
    assert "must be a whole number from 1 to 64" in capsys.readouterr().err


# --- the numpy backend's BLAS threads --------------------------------------------------------

def test_numpy_backend_limits_blas_per_call_only(model_path):
    """The limit holds while the backend runs and is lifted after: nothing is set at
    import or at load."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from imdb_edge.runtime import load

    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]

    before = blas_threads()
    if not before:
        pytest.skip("numpy is linked to no BLAS threadpoolctl can see")
    model = load(model_path("tiny.npz"), backend="numpy", threads=1)
    assert blas_threads() == before
    seen = []
    from imdb_edge.runtime.backends import numpy_ref

    real = numpy_ref.forward

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)

    numpy_ref.forward = spy
    try:
        model.predict_ids([[1] * MAX_LEN])
    finally:
        numpy_ref.forward = real
    assert seen == [[1] * len(before)]
    assert blas_threads() == before


# --- the vocabulary --------------------------------------------------------------------------

def test_huge_vocabulary_is_refused_by_size_before_it_is_read(copy_of, monkeypatch):
    """A 2 GB vocab.txt was read whole (13.5 s, 2.15 GB) before its hash was checked."""
    from imdb_edge.runtime import ArtifactError, load

    path = copy_of("tiny.npz")
    vocab = path.parent / "vocab.txt"
    with open(vocab, "r+b") as f:
        f.truncate(2 << 30)  # sparse: no disk used
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: reads.append(self.name) or real(self))
    started = time.monotonic()
    with pytest.raises(ArtifactError, match=r"vocabulary .*vocab.txt is 2147483648 bytes, over"):
        load(path)
    assert "vocab.txt" not in reads and time.monotonic() - started < 5


def test_vocabulary_size_recorded_in_the_sidecar(copy_of, monkeypatch):
    from imdb_edge.runtime import ArtifactError, load

    path = copy_of("tiny.npz")
    vocab = path.parent / "vocab.txt"
    size = vocab.stat().st_size
    edit_sidecar(path, preprocessing__vocabulary_size_bytes=size)
    assert load(path).predict_ids([[1] * MAX_LEN]).shape == (1,)
    with open(vocab, "ab") as f:
        f.write(b"extra\n")
    with pytest.raises(ArtifactError, match=rf"vocabulary .* is {size + 6} bytes, its sidecar "
                                            rf"says {size}"):
        load(path)
    for bad in (-1, 1.5, "12", 1 << 41):
        edit_sidecar(path, preprocessing__vocabulary_size_bytes=bad)
        with pytest.raises(ArtifactError, match="vocabulary_size_bytes must be a file size"):
            load(path)


# --- --file and stdin ------------------------------------------------------------------------

def score_child(args, stdin=None, shell=None, timeout=120):
    """`imdb-edge score ...` in a child under a 1.5 GB address-space limit."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))

    argv = shell or [PYTHON, "-m", "imdb_edge.cli", "score", *map(str, args)]
    return subprocess.run(argv, stdin=stdin, capture_output=True, timeout=timeout,
                          preexec_fn=limit, shell=bool(shell))


def test_file_that_is_a_device_is_refused(models):
    started = time.monotonic()
    done = score_child([models / "tiny.npz", "--file", "/dev/zero"])
    assert done.returncode == 2 and time.monotonic() - started < 30
    one_error_line(done.stderr.decode(), "/dev/zero: a device or special file, not a regular "
                                         "file or a pipe")
    with open("/dev/zero", "rb") as zero:
        done = score_child([models / "tiny.npz", "-"], stdin=zero)
    assert done.returncode == 2
    one_error_line(done.stderr.decode(), "stdin is not a regular file or a pipe")


def test_an_endless_line_through_a_pipe_stops_at_the_review_bound(models):
    """`cat /dev/zero | imdb-edge score X -` grew to 9.95 GB in 20 s; now it stops once
    one line is over MAX_REVIEW_BYTES, in a child limited to 1.5 GB."""
    from imdb_edge.commands.score import MAX_REVIEW_BYTES

    command = (f"cat /dev/zero | {PYTHON} -m imdb_edge.cli score {models / 'tiny.npz'} -")
    done = score_child(None, shell=command)
    assert done.returncode == 2, done.stderr[-2000:]
    one_error_line(done.stderr.decode(), rf"stdin line 1 is over {MAX_REVIEW_BYTES >> 20} MiB")


def test_a_long_review_in_a_file_is_refused(models, tmp_path, capsys):
    from imdb_edge.commands import score

    path = tmp_path / "reviews.txt"
    path.write_bytes(b"good\n" + b"a" * (score.MAX_REVIEW_BYTES + 1) + b"\n")
    status, out, err = cli(capsys, "score", models / "tiny.npz", "--file", path)
    assert status == 2 and out == []
    one_error_line(err, "reviews.txt line 2 is over 16 MiB")
    path.write_bytes(b"a" * score.MAX_REVIEW_BYTES + b"\r\n")  # exactly the bound: scored
    status, out, _ = cli(capsys, "score", models / "tiny.npz", "--file", path)
    assert status == 0 and len(out) == 1


def test_text_batches_are_bounded(tmp_path, monkeypatch):
    from imdb_edge.commands import score

    path = tmp_path / "reviews.txt"
    path.write_text("good\n" * 2500)
    assert [len(b) for b in score.text_batches(str(path))] == [1024, 1024, 452]
    monkeypatch.setattr(score, "BATCH_BYTES", 100)
    assert max(len(b) for b in score.text_batches(str(path))) == 25


def test_text_with_invalid_utf8_is_refused_like_file(models):
    """argv bytes that are not UTF-8 were silently dropped; --file refused them."""
    done = subprocess.run([os.fsencode(PYTHON), b"-m", b"imdb_edge.cli", b"score",
                           os.fsencode(models / "tiny.npz"), b"--text", b"good",
                           b"--text", b"caf\xe9 film"], capture_output=True, timeout=120)
    assert done.returncode == 2 and done.stdout == b""
    one_error_line(done.stderr.decode(), r"--text 2: not UTF-8 text \(byte 3\)")


# --- --ids -----------------------------------------------------------------------------------

def write_ids(path: Path, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for start in range(0, rows, 1000):
            block = rng.integers(0, VOCAB, (min(1000, rows - start), MAX_LEN))
            f.write("".join(" ".join(map(str, row)) + "\n" for row in block))
    return path


MEASURE_IDS = r"""
import sys
sys.path[:0] = [sys.argv[3]]
from testkit import peak_rss_mb, rss_mb
import imdb_edge.runtime, imdb_edge.cli
model = imdb_edge.runtime.load(sys.argv[1])  # backend, weights and buffers first
model.predict_ids([[1] * 200] * 64)
base = rss_mb("VmRSS")
sys.stdout = open("/dev/null", "w")
status = imdb_edge.cli.main(["score", sys.argv[1], "--ids", sys.argv[2]])
print(status, base, peak_rss_mb(), file=sys.stderr)
"""


def ids_peak_mb(model: Path, path: Path) -> float:
    done = subprocess.run([PYTHON, "-c", MEASURE_IDS, str(model), str(path),
                           str(TESTS)], capture_output=True, text=True,
                          timeout=600)
    status, base, peak = done.stderr.split()[-3:]
    assert status == "0", done.stderr[-2000:]
    return float(peak) - float(base)


def test_ids_are_read_in_batches(model_path, tmp_path):
    """--ids held about 8.6x the file in memory; now a batch of 1024 rows at a time, so
    the peak does not grow with the file."""
    model = model_path("bag.onnx", "onnxruntime")
    small = write_ids(tmp_path / "small.txt", 4000)
    large = write_ids(tmp_path / "large.txt", 24000)
    small_mb, large_mb = small.stat().st_size / 1e6, large.stat().st_size / 1e6
    small_extra, large_extra = ids_peak_mb(model, small), ids_peak_mb(model, large)
    print(f"--ids: +{small_extra:.0f} MB peak for {small_mb:.0f} MB of ids, "
          f"+{large_extra:.0f} MB for {large_mb:.0f} MB")
    assert large_extra < small_extra + 5, (small_extra, large_extra)
    assert large_extra < 0.8 * large_mb


def test_id_batches(tmp_path):
    from imdb_edge.commands.score import id_batches

    path = write_ids(tmp_path / "ids.txt", 2500)
    batches = list(id_batches(str(path), MAX_LEN, VOCAB))
    assert [len(b) for b in batches] == [1024, 1024, 452]
    assert all(b.dtype == np.int32 for b in batches)


STRICT = {
    "underscore": ("1_0", r"'1_0' is not an integer in ASCII decimal"),
    "plus sign": ("+12", r"'\+12' is not an integer"),
    "leading zeros": ("0012", r"'0012' is not an integer in ASCII decimal without leading zeros"),
    "minus zero": ("-0", r"'-0' is not an integer"),
    "Arabic-Indic digits": ("\u0663\u0664", r"is not an integer"),
    "fullwidth digits": ("\uff11\uff12", r"is not an integer"),
    "superscript two": ("\u00b2", r"is not an integer"),
    "no-break space inside": ("1\u00a02", r"is not an integer|expected 200 ids"),
}


@pytest.mark.parametrize("field,message", STRICT.values(), ids=STRICT.keys())
def test_ids_are_ascii_decimal_only(capsys, models, tmp_path, load_never_called, field, message):
    row = ["5"] * MAX_LEN
    row[9] = field
    path = tmp_path / "ids.txt"
    path.write_text(" ".join(row) + "\n", encoding="utf-8")
    status, out, err = cli(capsys, "score", models / "tiny.npz", "--ids", path)
    assert status == 2 and out == []
    one_error_line(err, message)


def test_zero_and_tabs_are_fine(capsys, models, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("\t".join(["1"] + ["0"] * (MAX_LEN - 1)) + "\r\n")
    status, out, err = cli(capsys, "score", models / "tiny.npz", "--ids", path)
    assert status == 0 and len(out) == 1, err


# --- .npz archives ---------------------------------------------------------------------------

def zip_bomb(mb: int) -> bytes:
    """The six arrays, the embedding declaring ``mb`` MB of zeros (deflated to ~1/1000)."""
    weights = gen.make_weights()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in weights.items():
            if name != "embedding":
                z.writestr(f"{name}.npy", npy(array))
        rows = mb * 1_000_000 // (20 * 4)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, dict(descr="<f4", fortran_order=False,
                                                          shape=(rows, 20)))
        with z.open("embedding.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            zeros = bytes(1 << 20)
            for _ in range(rows * 20 * 4 >> 20):
                member.write(zeros)
    return buffer.getvalue()


def test_zip_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    """Re-signed npz zip bombs reached 2.15 GB before they were refused."""
    from imdb_edge.runtime import ArtifactError, load

    data = zip_bomb(400)
    assert len(data) < 2_000_000
    path = gen.write_artifact(tmp_path, "bomb.npz", data, "numpy")
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load read a zip bomb"))
    with pytest.raises(ArtifactError, match=r"members declare \d+ bytes, over 16 times the "
                                            r"archive's \d+: refused before inflating"):
        load(path)


def test_npy_header_claiming_a_huge_shape(tmp_path, monkeypatch):
    from imdb_edge.runtime import ArtifactError, load

    weights = {f"{k}.npy": npy(v) for k, v in gen.make_weights().items()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, dict(descr="<f4", fortran_order=False,
                                                      shape=(10 ** 9, 20)))
    weights["embedding.npy"] = header.getvalue() + b"\0" * 64
    path = gen.write_artifact(tmp_path, "huge.npz", npz_with(weights), "numpy")
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load read it"))
    with pytest.raises(ArtifactError, match=r"embedding.npy declares \d+ bytes but its header "
                                            r"describes 80000000\d+"):
        load(path)


def test_member_that_is_not_npy(tmp_path, capsys):
    """An .npz member without the .npy suffix came back from numpy as raw bytes, and the
    dtype check raised AttributeError."""
    weights = {f"{k}.npy": npy(v) for k, v in gen.make_weights().items()}
    weights["notes.txt"] = b"hello"
    path = gen.write_artifact(tmp_path, "odd.npz", npz_with(weights), "numpy")
    status, out, err = cli(capsys, "score", path, "--text", "good")
    assert status == 2 and out == []
    one_error_line(err, r"member 'notes.txt' is not a .npy array")
    del weights["notes.txt"]
    weights["bias"] = weights.pop("bias.npy")
    path = gen.write_artifact(tmp_path, "odd.npz", npz_with(weights), "numpy")
    status, out, err = cli(capsys, "score", path, "--text", "good")
    assert status == 2
    one_error_line(err, r"member 'bias' is not a .npy array")
