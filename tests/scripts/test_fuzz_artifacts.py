"""Damaged artifacts never hang the runtime, and never reach a parser past a pinned hash.

scripts/fuzz_artifacts.py makes the mutants (empty, 8-byte header, truncations, flips and
overwrites aimed at the non-weight bytes) and loads each in a child process. Seeded and
bounded here: IMDB_EDGE_FUZZ_N mutants per format and mode (300 unless set); set
IMDB_EDGE_FUZZ_REPORT=path.json to keep the figures. For a longer run use the script's CLI.
"""
from __future__ import annotations

import json
import os
import sys
import warnings

import pytest

from testkit import PROJECT, keep, load_script

FUZZER = PROJECT / "scripts" / "fuzz_artifacts.py"
fuzz = load_script("fuzz_artifacts", FUZZER)
mutations = load_script("fuzz_mutations", FUZZER.parent / "fuzz_mutations.py")

pytestmark = pytest.mark.hardening

N = int(os.environ.get("IMDB_EDGE_FUZZ_N", fuzz.DEFAULT_N))
FORMATS = [("tiny_bany.tflite", "litert"), ("tiny_bany.onnx", "onnxruntime"),
           ("tiny.npz", "numpy")]
FORMAT_IDS = [name.split(".")[-1] for name, _ in FORMATS]


# --- the mutator ----------------------------------------------------------------------------

def test_mutants_are_seeded_and_always_differ(model_path):
    data = model_path("tiny.npz").read_bytes()
    a, b, other = fuzz.Mutator(data, 0), fuzz.Mutator(data, 0), fuzz.Mutator(data, 1)
    mutants = [a.mutate(i) for i in range(60)]
    assert mutants == [b.mutate(i) for i in range(60)]
    assert [m[1] for m in mutants[10:]] != [other.mutate(i)[1] for i in range(10, 60)]
    assert all(m[1] != data for m in mutants)
    kinds = [m[0] for m in mutants]
    assert kinds[:3] == ["empty", "header-8", "truncate-1%"] and mutants[1][1] == data[:8]
    assert mutants[9][1] == data[:-1]
    assert len({k.split("@")[0] for k in kinds[10:]}) >= 6  # every kind of damage shows up


@pytest.mark.parametrize("name,backend", FORMATS, ids=FORMAT_IDS)
def test_mutations_aim_at_structure_not_weights(model_path, name, backend):
    """Random floats fill ~99 % of these files; the regions the mutator aims at are the few
    KB of headers, tables and tags around them."""
    data = model_path(name).read_bytes()
    regions = mutations.structure_regions(data)
    covered = sum(end - start for start, end in regions)
    assert regions[0][0] == 0 and regions[-1][1] == len(data)
    assert 2048 <= covered < len(data) // 20


# --- pinned: the sidecar on the device is the real one ----------------------------------------

@pytest.mark.parametrize("name,backend", FORMATS, ids=FORMAT_IDS)
def test_pinned_hash_refuses_every_mutant_before_any_parser(model_path, name, backend):
    path = model_path(name, backend)
    report = fuzz.fuzz(path, N, mode="pinned",
                       settings=fuzz.Settings(batch=100, backend=backend))
    keep(report)
    assert report["tried"] == N
    assert report["reached_parser"] == 0, report["findings"]
    assert report["refused_cleanly"] == report["refused_before_parser"] == N
    assert (report["crashed"], report["hung"], report["other_errors"]) == (0, 0, 0)
    # Refused on the size when it changed, else on the SHA-256: nothing else is needed.
    assert sum(report["refusals"].values()) == N
    assert all("its sidecar says" in reason or "does not match its sidecar" in reason
               for reason in report["refusals"]), report["refusals"]


# --- resigned: the sidecar was rewritten to match the damage ---------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name,backend", FORMATS, ids=FORMAT_IDS)
def test_resigned_mutants_reach_the_parser_and_are_all_accounted_for(model_path, name, backend):
    """Every mutant reaches the parser. Each is then refused with an ArtifactError, or
    loads and scores finite probabilities, or crashes or hangs the child: the native
    libraries are not hardened against hostile files (and a model is code: a damaged loop
    bound runs for ever), which is why the hash is checked first. Crashes and hangs are
    counted, pinned on one mutant each, and reported as warnings; any other exception, or a
    NaN score, fails the test."""
    path = model_path(name, backend)
    report = fuzz.fuzz(path, N, mode="resigned",
                       settings=fuzz.Settings(batch=20, backend=backend))
    keep(report)
    assert report["tried"] == report["reached_parser"] == N
    assert report["other_errors"] == 0, report["findings"]
    assert report["accepted_out_of_range"] == 0, report["findings"]
    assert (report["refused_cleanly"] + report["accepted"] + report["crashed"]
            + report["hung"]) == N
    assert report["refused_cleanly"] >= N // 2  # most damage to structure is caught
    native = [f"#{f['index']} {f['kind']}: {f['outcome']} {f['signal'] or ''} at {f['stage']}"
              for f in report["findings"] if f["outcome"] in (fuzz.CRASHED, fuzz.HUNG)]
    assert len(native) == report["crashed"] + report["hung"]  # each pinned on its mutant
    if native:
        warnings.warn(f"{name}: {len(native)} of {N} re-signed mutants crashed or hung "
                      f"{backend} in the child process: {'; '.join(native)}")
    unpinned = [note for note in report["notes"] if "no mutant did alone" in note]
    if unpinned:  # a batch died but no mutant does alone: state carried between mutants
        warnings.warn(f"{name}: {'; '.join(unpinned)}")


# --- the harness itself --------------------------------------------------------------------

PLANTED = r"""
import os, signal, sys, time
sys.path.insert(0, sys.argv.pop(1))
import imdb_edge.runtime as runtime

real_load = runtime.load

def planted(path, **kwargs):
    size = os.path.getsize(path)
    if size == 0:                   # mutant 0 ("empty"): a segfault in native code
        os.kill(os.getpid(), signal.SIGSEGV)
    if size == 8:                   # mutant 1 ("header-8"): a parser that never returns
        time.sleep(3600)
    return real_load(path, **kwargs)

runtime.load = planted
import fuzz_artifacts
sys.exit(fuzz_artifacts.main())
"""


def test_harness_pins_a_crash_and_a_hang_on_their_mutants(model_path, tmp_path, monkeypatch):
    """A child that segfaults or stops making progress takes down its batch only; the batch
    is re-run one mutant per child and the crash and the hang are pinned on the right ones."""
    wrapper = tmp_path / "planted.py"
    wrapper.write_text(PLANTED)
    monkeypatch.setattr(fuzz, "worker_command",
                        lambda: [sys.executable, str(wrapper), str(FUZZER.parent)])
    report = fuzz.fuzz(model_path("tiny.npz"), 6, mode="pinned",
                       settings=fuzz.Settings(batch=6, stall=5))
    outcomes = {f["index"]: (f["outcome"], f["signal"]) for f in report["findings"]}
    assert outcomes == {0: ("crashed", "SIGSEGV"), 1: ("hung", None)}
    assert (report["tried"], report["refused_cleanly"], report["crashed"], report["hung"]) == \
        (6, 4, 1, 1)
    assert report["notes"][0] == "batch 0..5 crashed:SIGSEGV; re-run one by one"


def test_cli_writes_the_figures(model_path, tmp_path):
    """The longer-run entry point: a table on stdout, every figure in --report."""
    import subprocess

    out = tmp_path / "fuzz.json"
    done = subprocess.run([sys.executable, str(FUZZER), str(model_path("tiny.npz")), "-n", "12",
                           "--report", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| tiny.npz | pinned | 12 | 0 | 12 |" in done.stdout
    reports = json.loads(out.read_text())["reports"]
    assert [(r["mode"], r["tried"]) for r in reports] == [("pinned", 12), ("resigned", 12)]
