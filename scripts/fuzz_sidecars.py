"""Sidecar fuzzer: can an edited sidecar beside the true artifact make the runtime score
silently wrong, and does a verify key refuse every edited or re-signed file?

    python scripts/fuzz_sidecars.py artifacts/imdb-int8-b1.tflite [more] -n 300 \
        --mode both --report fuzz-sidecars.json

Cases, the same for (artifact, seed, index): first every leaf of the sidecar's JSON
deleted, set to null or to another JSON type, numbers at their edges (0, -1, +-1, 2**31,
2**63, 10**30, a float for an integer, NaN, +-Infinity), strings emptied, suffixed or
swapped for other formats, quantizations and rules, lists emptied, cut, doubled or
reversed, and unknown keys added; then N seeded edits of the JSON text (a digit changed, a
character deleted, inserted or doubled). See scripts/sidecar_cases.py.

Each case is loaded and scored (texts and id rows) in a child process, whose log pins a
crash or a hang on its case. Outcomes:

  refused  an ImdbEdgeError (ArtifactError, InputError, SignatureError): a clear refusal
  same     scored exactly as with the true sidecar (probability, label, counts)
  follows  scored otherwise, and only fields the artifact cannot confirm were edited
           (sidecar_cases.CONFIGURATION), each to a value the runtime should accept: the
           sidecar is their one record, a signature their protection
  wrong    scored otherwise after any other edit: silently wrong, a finding
  accepted (signed mode) got past the signature check: a finding
  error, crashed, hung   any other exception, a dead or stuck child: findings

Modes: ``plain`` loads each edited sidecar as it is. ``signed`` signs the true files with
a key, then plays an attacker who can write every file but has not that key: each case
(and each artifact mutant of fuzz_artifacts.py, its sidecar's sha256 and size rewritten)
is re-signed with another key and loaded as ``score --verify-key`` loads it; every case
must be refused, and no parser may see it. Needs the [sign] extra.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from fuzz_children import limit_memory
from fuzz_mutations import Mutator
from sidecar_cases import all_cases, judge

MODES = ("plain", "signed")
DEFAULT_N = 200        # text edits per artifact (the field edits come on top)
ARTIFACT_MUTANTS = 60  # signed mode: artifact mutants per artifact
STALL_S = 60.0         # a child without progress this long is hung
MEMORY_GIB = 4.0       # address-space limit of each child
# Reviews every case scores; the long one opens with words its end lacks, so either
# truncating side shows (without saturating the score, as all-opinion text does).
TEXTS = ["A moving, beautifully acted film.", "Dull and far too long; I left early.",
         "wonderful " * 20 + "the story of a man " * 60, "", "zzzzqqq unknownword the the the"]
FINDINGS = ("wrong", "accepted", "error", "crashed", "hung")


def cases_of(artifact: Path, mode: str, n: int, seed: int) -> list:
    text = Path(f"{artifact}.json").read_text(encoding="utf-8")
    return all_cases(text, mode, n, seed, ARTIFACT_MUTANTS)


# --- the child: score each case, log every step ---------------------------------------------

def worker(artifact: Path, mode: str, seed: int, n: int, start: int, log_path: Path) -> None:
    """Score cases ``start``... in this process, one JSON line per step in ``log_path``:
    {"i", "event": "start"} before a case, {"i", "event": "end", ...} after it, written
    unbuffered so the parent knows which case a dead child was on."""
    from imdb_edge.runtime import load

    limit_memory(MEMORY_GIB)  # a huge batch must fail here, not swap
    log = open(log_path, "a", buffering=1, encoding="utf-8")
    cases = cases_of(artifact, mode, n, seed)
    folder = Path(tempfile.mkdtemp(prefix="sidecars-", dir=log_path.parent))
    files = [artifact.name, f"{artifact.name}.json", "vocab.txt"]
    for name in files:
        shutil.copyfile(artifact.parent / name, folder / name)
    target, keys = folder / artifact.name, None
    true_model = load(target)
    probe = probes(true_model, folder)
    expected = _score(true_model, probe)
    if mode == "signed":
        keys = _keys(folder)
        _check_true_files_verify(target, keys, probe, expected, load)
    mutator = Mutator(artifact.read_bytes(), seed)
    true_sidecar = json.loads(Path(f"{artifact}.json").read_text(encoding="utf-8"))
    for index in range(start, len(cases)):
        desc, text, fields = cases[index]
        log.write(json.dumps(dict(i=index, event="start")) + "\n")
        if text is None:  # an artifact mutant, its sidecar re-hashed to match
            data = mutator.mutate(index)[1]
            target.write_bytes(data)
            text = json.dumps(dict(true_sidecar, sha256=hashlib.sha256(data).hexdigest(),
                                   size_bytes=len(data)))
        Path(f"{target}.json").write_text(text, encoding="utf-8")
        outcome, error = _outcome(target, keys, (probe, expected), (fields, text), load)
        log.write(json.dumps(dict(i=index, event="end", kind=desc, fields=fields,
                                  outcome=outcome, error=error)) + "\n")
        if desc.startswith("artifact"):  # the true artifact again for the next case
            shutil.copyfile(artifact, target)
    log.close()


def _check_true_files_verify(target: Path, keys: dict, probe, expected: list, load) -> None:
    """Signed with our key, the true files verify and score as before: so each refusal
    below is the edit's doing, not a broken set-up."""
    from imdb_edge.signing import sign, verified_copy

    sign(target, keys["ours"])
    with verified_copy(target, keys["ours.pub"]) as verified:
        if _score(load(verified), probe) != expected:
            raise SystemExit("the verified true files score differently")


def _outcome(target, keys, baseline, case, load) -> tuple:
    """(outcome, error) of one case (its edited fields and sidecar text); see the doc."""
    from imdb_edge.errors import ImdbEdgeError
    from imdb_edge.helpers import one_line

    probe, expected = baseline
    try:
        if keys is None:
            got = _score(load(target), probe)
        else:
            from imdb_edge.errors import SignatureError
            from imdb_edge.signing import sign, verified_copy

            sign(target, keys["theirs"])  # the attacker re-signs with the key they have
            try:
                with verified_copy(target, keys["ours.pub"]) as verified:
                    got = _score(load(verified), probe)
            except SignatureError as exc:
                return "refused", one_line(exc, 200)
            return "accepted", "passed the signature check"
    except ImdbEdgeError as exc:
        return ("refused" if keys is None else "accepted"), one_line(exc, 200)
    except Exception as exc:  # noqa: BLE001 - every other exception is a finding
        return "error", f"{type(exc).__name__}: {exc}"[:300]
    return judge(got, expected, *case), None


def probes(model, folder: Path, rows: int = 24) -> tuple:
    """(texts, id rows) every case is scored on, made once from the true model: TEXTS, a
    review of words ranked past the vocabulary size (they become the out-of-range id),
    and seeded random rows of every length (their scores fall on both sides of 0.5)."""
    import numpy as np

    words = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    rare = " ".join(words[model.vocab_size:model.vocab_size + 12] + ["good", "film"])
    rng = np.random.default_rng(0)
    ids = np.zeros((rows, model.max_len), np.int32)
    for row, length in enumerate(np.linspace(1, model.max_len, rows).astype(int)):
        ids[row, 0], ids[row, 1:length] = 1, rng.integers(3, model.vocab_size, length - 1)
    return TEXTS + [rare], ids


def _score(model, probe) -> list:
    texts, ids = probe
    return model.score_texts(texts) + model.score_ids(ids)


def _keys(folder: Path) -> dict:
    """Our key pair (the true files are signed with it) and the attacker's private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    paths = {}
    for name in ("ours", "theirs"):
        key = ec.generate_private_key(ec.SECP256R1())
        paths[name] = folder.parent / f"{name}.pem"
        paths[name].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        paths[f"{name}.pub"] = folder.parent / f"{name}.pub"
        paths[f"{name}.pub"].write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return paths


# --- the parent: children, attribution, figures ---------------------------------------------

def fuzz(artifact, n: int = DEFAULT_N, *, mode: str = "plain", seed: int = 0,
         stall: float = STALL_S) -> dict:
    """Every case of one artifact in one mode; the figures and every finding."""
    artifact = Path(artifact).resolve()
    cases, results, started = cases_of(artifact, mode, n, seed), {}, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-sidecars-") as tmp:
        while len(results) < len(cases):
            start = len(results)
            log_path = Path(tmp) / f"log-{start}.jsonl"
            ended = _child([artifact, mode, seed, n, start], log_path, stall)
            events = [json.loads(line) for line in log_path.read_text().splitlines()]
            if not events:  # it died before its first case: the set-up is broken
                raise RuntimeError(f"the worker for {artifact.name} failed before any case "
                                   f"({ended}): {Path(f'{log_path}.err').read_text()[-2000:]}")
            results.update((e["i"], e) for e in events if e["event"] == "end")
            if ended != "ok" and len(results) < len(cases):
                index = len(results)  # the case the child died or stalled on
                results[index] = dict(i=index, kind=cases[index][0], fields=cases[index][2],
                                      outcome="hung" if ended == "hung" else "crashed",
                                      error=ended)
    counts = Counter(r["outcome"] for r in results.values())
    return dict(artifact=artifact.name, mode=mode, seed=seed, tried=len(cases),
                seconds=round(time.monotonic() - started, 1),
                **{k: counts[k] for k in ("refused", "same", "follows") + FINDINGS},
                **{f"{k}_fields": dict(Counter(f for r in results.values()
                                               if r["outcome"] == k for f in r["fields"] or ()))
                   for k in ("same", "follows")},
                findings=[r for r in results.values() if r["outcome"] in FINDINGS])


def worker_command() -> list:
    """How a child is started (a test replaces it to plant a runtime that checks less)."""
    return [sys.executable, str(Path(__file__).resolve())]


def _child(job: list, log_path: Path, stall: float) -> str:
    """Run one worker; "ok", "exit N" (N < 0: killed by signal -N) or "hung"."""
    artifact, mode, seed, n, start = job
    command = worker_command() + ["--worker", str(artifact), "--mode", mode, "--seed",
                                  str(seed), "-n", str(n), "--start", str(start),
                                  "--log", str(log_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    log_path.touch()
    with open(f"{log_path}.err", "wb") as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                start_new_session=True)
    size, last = 0, time.monotonic()
    while True:
        try:
            status = proc.wait(timeout=0.1)
            return "ok" if status == 0 else f"exit {status}"
        except subprocess.TimeoutExpired:
            pass
        if log_path.stat().st_size != size:
            size, last = log_path.stat().st_size, time.monotonic()
        if time.monotonic() - last > stall:
            proc.kill()
            proc.wait()
            return "hung"


def format_table(reports: list) -> str:
    columns = ("tried", "refused", "same", "follows") + FINDINGS
    lines = ["| artifact | mode | " + " | ".join(columns) + " | seconds |",
             "|---|---|" + "---:|" * (len(columns) + 1)]
    lines += [f"| {r['artifact']} | {r['mode']} | " + " | ".join(str(r[c]) for c in columns)
              + f" | {r['seconds']} |" for r in reports]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="+", type=Path)
    parser.add_argument("-n", type=int, default=DEFAULT_N, help="text edits per artifact")
    parser.add_argument("--mode", choices=MODES + ("both",), default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, help="write every figure and finding as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.artifacts[0], args.mode, args.seed, args.n, args.start, args.log)
        return 0
    modes = MODES if args.mode == "both" else (args.mode,)
    reports = [fuzz(a, args.n, mode=m, seed=args.seed) for a in args.artifacts for m in modes]
    print(format_table(reports))
    for r in reports:
        for f in r["findings"]:
            print(f"- {r['artifact']} [{r['mode']}] #{f['i']} {f['kind']}: {f['outcome']} "
                  f"{f.get('error') or ''}")
    if args.report:
        args.report.write_text(json.dumps(dict(seed=args.seed, n=args.n, reports=reports),
                                          indent=2) + "\n")
    return 1 if any(r["findings"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
