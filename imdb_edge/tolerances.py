"""The one tolerance table, per artifact kind, shared by export validation and `parity`.

Float kinds are judged on absolute error; quantized kinds on label agreement and on task
accuracy versus Keras (in percentage points), since their probabilities legitimately move,
and on the 99th percentile of the absolute error rather than its maximum: an honest
quantization moves the bulk of the outputs little, with rare outlier reviews, while a
squashed or clipped output moves most of them and can still keep nearly every label
(benchmarks/README.md, "Why quantized kinds bound the p99 error"). docs/parity.md shows
this table, written from it by scripts/tolerance_table.py.
TensorFlow-free: devices apply the same table in `imdb-edge parity --golden`.
"""
from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Tolerance:
    max_abs: Optional[float] = None         # max |p_artifact - p_keras| over all rows
    max_p99_abs: Optional[float] = None     # 99th percentile of |p_artifact - p_keras|
    min_agreement: Optional[float] = None   # share of reviews with the same label as Keras
    max_accuracy_delta: Optional[float] = None  # |acc_artifact - acc_keras|, percentage points


TOLERANCES = {
    "float32": Tolerance(max_abs=1e-5, min_agreement=1.0),
    "float16": Tolerance(max_abs=1e-3, max_accuracy_delta=0.05),
    "dynamic": Tolerance(max_p99_abs=0.05, min_agreement=0.995, max_accuracy_delta=0.2),
    "int8": Tolerance(max_p99_abs=0.05, min_agreement=0.985, max_accuracy_delta=0.5),
    "int16x8": Tolerance(max_p99_abs=0.05, min_agreement=0.985, max_accuracy_delta=0.5),
}


def tolerance_for(quantization: str) -> Tolerance:
    try:
        return TOLERANCES[quantization]
    except KeyError:
        raise ValueError(f"no tolerance for artifact kind {quantization!r}; "
                         f"known: {', '.join(TOLERANCES)}") from None


def judge(quantization: str, metrics: dict) -> list:
    """Return the broken tolerances as readable strings (empty list = PASS)."""
    tol = tolerance_for(quantization)
    broken = []
    if tol.max_abs is not None and metrics["max_abs"] > tol.max_abs:
        broken.append(f"max abs error {metrics['max_abs']:.3g} > {tol.max_abs:g}")
    if tol.max_p99_abs is not None and metrics["p99_abs"] > tol.max_p99_abs:
        broken.append(f"p99 abs error {metrics['p99_abs']:.3g} > {tol.max_p99_abs:g}")
    if tol.min_agreement is not None and metrics["agreement"] < tol.min_agreement:
        broken.append(f"label agreement {100 * metrics['agreement']:.2f}% < "
                      f"{100 * tol.min_agreement:.2f}%")
    delta = metrics.get("accuracy_delta_points")
    if tol.max_accuracy_delta is not None and delta is not None:
        bound, why = accuracy_bound(tol, metrics.get("reviews"))
        if abs(delta) > bound + 1e-9:
            broken.append(f"accuracy delta {delta:+.3f} points exceeds ±{bound:g}{why}")
    return broken


def accuracy_bound(tol: Tolerance, reviews: Optional[int]) -> tuple:
    """(bound in points, note): on N reviews accuracy moves in steps of 100/N points, so a
    bound finer than one step would fail a single flip of a review that sat on the
    threshold (500 fast-tier reviews: 0.2 points), which max_abs already bounds. The
    bound is never finer than one review."""
    if not reviews or 100.0 / reviews <= tol.max_accuracy_delta:
        return tol.max_accuracy_delta, ""
    return 100.0 / reviews, f" (one review of {reviews})"
