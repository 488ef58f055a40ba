"""The runtime on an emulated Raspberry Pi (Raspberry Pi OS bookworm 64-bit: Debian 12,
aarch64, Python 3.11) gives the same scores as on x86_64, with each backend's real aarch64
wheel and no TensorFlow. See docs/pi.md.

Each backend scores every artifact of its format (fixture ``pi_artifacts``) under qemu and
natively on x86_64 with the same pinned wheels; the two are compared with the tolerance of
the artifact's kind. Emulation is slow (hundreds of times native), so the emulated work is
bounded: IMDB_EDGE_PI_REVIEWS reviews per (artifact, backend), at most
IMDB_EDGE_PI_MAX_REVIEWS in all, plus IMDB_EDGE_PI_SINGLE scored one at a time for latency.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.pi, pytest.mark.slow]

PROBE = Path(__file__).with_name("pi_probe.py")

# runtime backend name (load(backend=...)) -> (scripts/pi_emulation.sh site, artifact format)
BACKENDS = {"litert": ("litert", "tflite"),
            "tflite_runtime": ("tflite", "tflite"),
            "onnxruntime": ("onnx", "onnx"),
            "numpy": ("numpy", "numpy")}

# Tolerances, one table, by the sidecar's "quantization". Not the artifact-vs-Keras table
# (imdb_edge/tolerances.py): here one artifact runs on two CPUs with the same backend
# version, so only the kernels (NEON against AVX/SSE) and their summation order differ, and
# the bounds are tighter. Float artifacts compute in float32: 1e-5. Quantized kernels may
# round an activation one step apart: a looser atol plus label agreement, provisional until
# measured on exported artifacts (a failure gives the atol that would have been needed).
TOLERANCE = {  # quantization -> (atol, minimum label agreement)
    "float32": (1e-5, 1.0),
    "numpy": (1e-5, 1.0),
    "float16": (1e-5, 1.0),     # fp16 weights are dequantized; the arithmetic is float32
    "dynamic": (1e-3, 0.99),
    "int16x8": (1e-3, 0.99),
    "int8": (2 / 256 + 1e-6, 0.99),   # two output steps; see tolerance() for the scale
}
FLOAT_KINDS = ("float32", "numpy", "float16")


def tolerance(sidecar: dict) -> tuple:
    """(atol, label agreement) for an artifact. An int8 output is compared in steps of its
    own scale (the sidecar's output.scale) when the sidecar gives one."""
    kind = sidecar["quantization"]
    if kind not in TOLERANCE:
        pytest.fail(f"no aarch64-vs-x86_64 tolerance for quantization {kind!r}: "
                    "add it to TOLERANCE")
    atol, agreement = TOLERANCE[kind]
    scale = (sidecar.get("output") or {}).get("scale")
    if kind == "int8" and scale:
        atol = 2 * scale + 1e-6
    return atol, agreement

REVIEWS = int(os.environ.get("IMDB_EDGE_PI_REVIEWS", "24"))
MAX_REVIEWS = int(os.environ.get("IMDB_EDGE_PI_MAX_REVIEWS", "320"))
SINGLE = int(os.environ.get("IMDB_EDGE_PI_SINGLE", "4"))
CPU = os.environ.get("PI_EMU_CPU", "cortex-a72")


def test_emulated_python_is_bookworm_aarch64(pi_emulation):
    """The userland is what Raspberry Pi OS bookworm 64-bit ships: aarch64, CPython 3.11,
    glibc 2.36, and no TensorFlow anywhere on the path."""
    code = ("import json, os, platform, importlib.util as u; print(json.dumps({"
            "'machine': platform.machine(), 'python': platform.python_version(), "
            "'libc': os.confstr('CS_GNU_LIBC_VERSION'), "
            "'tensorflow': u.find_spec('tensorflow') is not None}))")
    info = json.loads(pi_emulation.run("numpy", ["-c", code]).stdout)
    assert info["machine"] == "aarch64"
    assert info["python"].startswith("3.11.")
    assert info["libc"] == "glibc 2.36"
    assert info["tensorflow"] is False


def test_emulated_cli_scores_from_the_wheel(pi_emulation, pi_artifacts):
    """`imdb-edge score` works from the installed wheel (what a Pi user runs), on the
    cheapest artifact available."""
    choices = [(backend, pi_artifacts[BACKENDS[backend][1]][0])
               for backend in ("numpy", "litert", "onnxruntime")
               if pi_artifacts.get(BACKENDS[backend][1])]
    if not choices:
        pytest.skip("no artifact to score")
    backend, artifact = choices[0]
    done = pi_emulation.run(BACKENDS[backend][0], [
        "-m", "imdb_edge.cli", "score", artifact, "--backend", backend,
        "--text", "A moving, beautifully acted film.", "--text", ""])
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == 2
    assert all(0.0 <= r["probability"] <= 1.0 and r["label"] in ("negative", "positive")
               for r in results)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_emulated_scores_match_x86(backend, pi_emulation, pi_artifacts, pi_report,
                                   tmp_path):
    site, fmt = BACKENDS[backend]
    artifacts = pi_artifacts.get(fmt, [])
    if not artifacts:
        pytest.skip(f"no {fmt} artifact to score (tiny {fmt} models need "
                    f"{'TensorFlow' if fmt == 'tflite' else 'onnx'} on the host)")
    pairs = sum(len(pi_artifacts.get(f, [])) for _, f in BACKENDS.values())
    n_reviews = max(4, min(REVIEWS, MAX_REVIEWS // max(pairs, 1) - SINGLE))

    failures = []
    for artifact in artifacts:
        sidecar = json.loads(Path(f"{artifact}.json").read_text(encoding="utf-8"))
        reviews_file = tmp_path / f"{artifact.name}.reviews.json"
        reviews_file.write_text(json.dumps(make_reviews(artifact, sidecar, n_reviews)))
        args = [PROBE, "--artifact", artifact, "--backend", backend,
                "--reviews", reviews_file, "--single", SINGLE]
        arm = json.loads(pi_emulation.run(site, args, arch="aarch64").stdout)
        x86 = json.loads(pi_emulation.run(site, args, arch="x86_64").stdout)

        assert arm["machine"] == "aarch64" and x86["machine"] == "x86_64"
        assert arm["backend"] == backend and arm["backend_version"] == x86["backend_version"]
        assert not arm["tensorflow_importable"] and not arm["tensorflow_imported"]

        atol, agreement = tolerance(sidecar)
        threshold = sidecar["threshold"]
        problems = compare(np.array(arm["probabilities"]), np.array(x86["probabilities"]),
                           atol, agreement, threshold, "aarch64 vs x86_64")
        if sidecar["quantization"] in FLOAT_KINDS:
            # Quantized kernels may quantize activations per batch, so only float results
            # must not depend on the batch a review is scored in.
            problems += compare(np.array(arm["single_probabilities"]),
                                np.array(arm["probabilities"][:SINGLE]),
                                atol, agreement, threshold, "aarch64 one-by-one vs batched")
        pi_report.append(timing_line(backend, artifact, sidecar, arm, x86))
        if problems:
            failures.append(f"{artifact.name} ({sidecar['quantization']}): " + "; ".join(problems))
    assert not failures, "\n".join(failures)


def compare(got, want, atol, agreement, threshold, what) -> list:
    """Problems found, with Polygraphy-style error figures; [] when within tolerance."""
    assert got.shape == want.shape and got.size > 0, f"{what}: shapes {got.shape} {want.shape}"
    err = np.abs(got - want)
    rel = err / np.maximum(np.abs(want), 1e-12)
    agree = float(np.mean((got >= threshold) == (want >= threshold)))
    problems = []
    if err.max() > atol or agree < agreement:
        problems.append(
            f"{what}: abs err max {err.max():.3g} mean {err.mean():.3g} "
            f"p99 {np.percentile(err, 99):.3g}; rel err max {rel.max():.3g} mean "
            f"{rel.mean():.3g}; labels agree {agree:.1%} (need {agreement:.0%}); "
            f"atol {atol:g} given, {err.max():.3g} needed")
    return problems


def timing_line(backend, artifact, sidecar, arm, x86) -> str:
    arm_single = np.median(arm["single_latency_s"]) if arm["single_latency_s"] else float("nan")
    x86_single = np.median(x86["single_latency_s"]) if x86["single_latency_s"] else float("nan")
    n = len(arm["probabilities"])
    err = np.max(np.abs(np.array(arm["probabilities"]) - np.array(x86["probabilities"])))
    return (
        f"{backend} {arm['backend_version']} on {artifact.name} ({sidecar['quantization']}): "
        f"EMULATED {CPU}, not a device timing: {arm_single * 1e3:.0f} ms/review one at a time, "
        f"{arm['batch_s'] / n * 1e3:.0f} ms/review batched ({n}), load+imports "
        f"{arm['load_s']:.1f} s | x86_64 native {x86_single * 1e3:.1f} ms/review | "
        f"max |aarch64 - x86_64| {err:.2g}")


def make_reviews(artifact: Path, sidecar: dict, n: int, seed: int = 20240611) -> list:
    """Reviews in the artifact's own vocabulary, with what real text has: unknown words,
    <br /> tags, punctuation and capitals, words beyond the model's vocabulary, lengths
    from empty to past max_len. Deterministic, so both sides score the same text."""
    pre = sidecar["preprocessing"]
    words = (artifact.parent / pre["vocabulary_file"]).read_text(encoding="utf-8").split("\n")
    words = [w for w in words if w]
    in_vocab = words[:max(1, pre["vocab_size"] - pre["index_from"] - 1)]   # ids < vocab_size
    rng = random.Random(seed)
    reviews = [""]
    while len(reviews) < n:
        length = rng.choice([rng.randint(1, 40), rng.randint(40, pre["max_len"] + 60)])
        tokens = []
        for _ in range(length):
            roll = rng.random()
            if roll < 0.85:
                tokens.append(rng.choice(in_vocab))
            elif roll < 0.92:
                tokens.append(rng.choice(words))          # may lie beyond vocab_size
            elif roll < 0.96:
                tokens.append(f"zq{rng.randint(0, 999)}x")  # unknown word
            else:
                tokens.append(rng.choice(["<br />", "!", "...", ","]))
        text = " ".join(tokens)
        reviews.append(text.capitalize() if rng.random() < 0.5 else text.upper())
    return reviews[:n]
