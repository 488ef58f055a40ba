"""Load: eight threads through one Model give exactly the single-threaded scores, and memory
stays flat over 100,000 scores.

The 10,000-review runs use the "bag" models (embedding GATHER, mean, dense, sigmoid: see
testkit), which go through the same runtime and interpreter paths as the real network
some 50x faster; the tiny attention-LSTM (the real graph: a WHILE loop in TFLite, a Scan in
ONNX) gets fewer reviews, and the pure-numpy LSTM fewer still.
"""
from __future__ import annotations

import json
import subprocess
import threading

import numpy as np
import pytest

from testkit import PYTHON, TESTS, random_reviews

pytestmark = [pytest.mark.slow, pytest.mark.hardening]

CASES = [("bag.tflite", "litert", 10_000), ("bag.onnx", "onnxruntime", 10_000),
         ("tiny_bany.tflite", "litert", 400), ("tiny_bany.onnx", "onnxruntime", 400),
         ("tiny_b1.tflite", "litert", 200), ("tiny.npz", "numpy", 48)]
THREADS = 8


def shares(n: int, seed: int = 3) -> list:
    """Each thread's list of (start, stop) calls over n reviews: call sizes 1..97, so a
    dynamic-batch interpreter is resized on nearly every call."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, n), size=max(n // 48, min(n - 1, 2 * THREADS)),
                              replace=False))
    calls = list(zip(np.r_[0, cuts], np.r_[cuts, n]))
    return [calls[k::THREADS] for k in range(THREADS)]


@pytest.mark.parametrize("name,backend,n", CASES, ids=[f"{b}-{m}-{n}" for m, b, n in CASES])
def test_eight_threads_score_exactly_as_one(model_path, name, backend, n):
    from imdb_edge.runtime import load

    model = load(model_path(name, backend), backend=backend, threads=1)
    reviews = random_reviews(n, seed=5)
    work = shares(n)
    # Single-threaded, the very same calls in the same sizes: the reference.
    expected = {call: model.score_texts(reviews[call[0]:call[1]]) for part in work for call in part}
    got, errors = {}, []
    start = threading.Barrier(THREADS)

    def run(part):
        try:
            start.wait()
            for call in part:
                got[call] = model.score_texts(reviews[call[0]:call[1]])
        except Exception as exc:  # re-raised below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(part,)) for part in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(len(v) for v in got.values()) == n
    assert got == expected  # every probability, label and count, bit for bit
    probabilities = [r["probability"] for v in got.values() for r in v]
    assert np.std(probabilities) > 0.01  # the scores do differ from review to review


# Run in a child so its RSS is this workload's alone.
SCORE_MANY = r"""
import json, sys
sys.path.insert(0, sys.argv[4])
from testkit import peak_rss_mb as peak, random_reviews, rss_mb
from imdb_edge.runtime import load

model = load(sys.argv[1], backend=sys.argv[2], threads=1)
total, batch = int(sys.argv[3]), 64
reviews = random_reviews(6400, seed=11)     # reused: the same memory for the text each round
samples, done = [], 0
while done < total:
    for k in range(0, len(reviews), batch):
        results = model.score_texts(reviews[k:k + batch])
        done += len(results)
        if done % 10_000 < batch:
            samples.append((done, round(rss_mb(), 1), round(peak(), 1)))
        if done >= total:
            break
print(json.dumps(samples))
"""


def test_memory_stays_flat_over_100000_scores(model_path):
    """100,000 reviews through score_texts in calls of 64 (tokenising, checking, the
    interpreter, the result dicts). RSS and peak RSS after the first 10,000 (everything
    allocated once by then) against the end: a leak of even 100 bytes a review would add
    9 MB."""
    path = model_path("bag.tflite", "litert")
    done = subprocess.run([PYTHON, "-c", SCORE_MANY, str(path), "litert", "100000",
                           str(TESTS)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    samples = json.loads(done.stdout)
    (_, rss_start, peak_start), (count, rss_end, peak_end) = samples[0], samples[-1]
    print(f"RSS after 10,000 scores {rss_start} MB (peak {peak_start}), after {count:,} "
          f"{rss_end} MB (peak {peak_end}); samples {samples}")
    assert count >= 100_000
    assert rss_end - rss_start < 8, samples
    assert peak_end - peak_start < 8, samples
