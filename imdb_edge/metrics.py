"""Compare an artifact's probabilities with the Keras model's (Polygraphy-style figures),
and the edge-case inputs every comparison includes. numpy only."""
from __future__ import annotations

from typing import Optional

import numpy as np

from imdb_edge.runtime.text import OOV_ID, START_ID
from imdb_edge.spec import REFERENCE, ModelSpec

THRESHOLD = 0.5


def edge_cases(seed: int = 0, random_rows: int = 16,
               spec: ModelSpec = REFERENCE) -> tuple[np.ndarray, list]:
    """Rows of ``spec``'s length and vocabulary that stress the preprocessing contract, plus
    seeded random id rows."""
    rows, names = [], []
    MAX_LEN, VOCAB_SIZE = spec.length, spec.vocab_size  # noqa: N806

    def add(name, row):
        rows.append(np.asarray(row, dtype=np.int32))
        names.append(name)

    add("all padding", np.zeros(MAX_LEN))
    add("start token only", [START_ID] + [0] * (MAX_LEN - 1))
    add("one word", [START_ID, 14 % VOCAB_SIZE] + [0] * (MAX_LEN - 2))
    add("OOV only", [START_ID] + [OOV_ID] * (MAX_LEN - 1))
    for token in (1, 2, 3, VOCAB_SIZE - 1):
        add(f"all id {token}", np.full(MAX_LEN, token))
    add("largest ids", np.arange(VOCAB_SIZE - MAX_LEN, VOCAB_SIZE) % VOCAB_SIZE)
    rng = np.random.default_rng(seed)
    add(f"{MAX_LEN} tokens", np.concatenate([[START_ID], rng.integers(
        min(4, VOCAB_SIZE - 1), max(min(5000, VOCAB_SIZE), 5), MAX_LEN - 1) % VOCAB_SIZE]))
    for i in range(random_rows):
        length = int(rng.integers(1, MAX_LEN + 1))
        row = np.zeros(MAX_LEN, dtype=np.int32)
        row[:length] = rng.integers(0, VOCAB_SIZE, length)
        add(f"random {i}", row)
    return np.stack(rows), names


def compare(reference: np.ndarray, candidate: np.ndarray,
            labels: Optional[np.ndarray] = None, threshold: float = THRESHOLD,
            examples: int = 3) -> dict:
    """Error figures of ``candidate`` against ``reference`` probabilities (same rows).

    ``labels`` (for the first len(labels) rows, the real reviews) adds accuracy figures.
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    got = np.asarray(candidate, dtype=np.float64).ravel()
    if ref.shape != got.shape:
        raise ValueError(f"cannot compare {got.shape} outputs with {ref.shape} reference outputs")
    abs_err = np.abs(got - ref)
    rel_err = abs_err / np.maximum(np.abs(ref), 1e-12)
    ref_label, got_label = ref >= threshold, got >= threshold
    flipped = np.flatnonzero(ref_label != got_label)
    # A flip's distance from the threshold says how close to the boundary Keras was.
    by_margin = flipped[np.argsort(np.abs(ref[flipped] - threshold))]
    out = dict(
        rows=int(ref.size),
        max_abs=float(abs_err.max()), mean_abs=float(abs_err.mean()),
        p99_abs=float(np.percentile(abs_err, 99)),
        max_rel=float(rel_err.max()), mean_rel=float(rel_err.mean()),
        p99_rel=float(np.percentile(rel_err, 99)),
        needed_atol=float(abs_err.max()),
        agreement=float(1.0 - flipped.size / ref.size), flips=int(flipped.size),
        flips_closest=[_flip(i, ref, got) for i in by_margin[:examples]],
        flips_farthest=[_flip(i, ref, got) for i in by_margin[::-1][:examples]],
    )
    if labels is not None:
        labels = np.asarray(labels).ravel().astype(bool)
        n = labels.size
        out["reviews"] = int(n)
        out["accuracy"] = float(np.mean(got_label[:n] == labels))
        out["keras_accuracy"] = float(np.mean(ref_label[:n] == labels))
        out["accuracy_delta_points"] = 100.0 * (out["accuracy"] - out["keras_accuracy"])
    return out


def _flip(i: int, ref: np.ndarray, got: np.ndarray) -> dict:
    return dict(row=int(i), keras=float(ref[i]), artifact=float(got[i]))
