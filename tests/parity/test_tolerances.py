"""The tolerance table's verdicts on hand-made metrics (no artifacts, no TensorFlow)."""
import pytest

from imdb_edge.tolerances import TOLERANCES, judge


def metrics(max_abs, agreement=1.0, delta=0.0, p99_abs=None, reviews=None):
    return {"max_abs": max_abs, "p99_abs": max_abs if p99_abs is None else p99_abs,
            "agreement": agreement, "accuracy_delta_points": delta, "reviews": reviews}


@pytest.mark.parametrize("kind", ["dynamic", "int8", "int16x8"])
def test_a_clipped_quantized_output_fails_although_every_label_agrees(kind):
    # The int16x8 failure this bound exists for: labels kept, most probabilities 0.2 off.
    assert judge(kind, metrics(0.23, p99_abs=0.20)) == [
        f"p99 abs error 0.2 > {TOLERANCES[kind].max_p99_abs:g}"]


@pytest.mark.parametrize("kind, figures", [   # measured on all 25,000 test reviews
    ("dynamic", metrics(0.0138, 0.9971, -0.01, p99_abs=0.0076)),
    ("int8", metrics(0.119, 0.9972, 0.02, p99_abs=0.0082)),     # one outlier review
    ("int16x8", metrics(0.103, 0.9999, 0.0, p99_abs=0.0010)),
    ("float32", metrics(3.0e-7)), ("float16", metrics(2.9e-4))])
def test_the_reference_models_measured_figures_pass(kind, figures):
    assert judge(kind, figures) == []


def test_each_broken_bound_is_reported():
    broken = judge("int8", metrics(0.2, 0.98, 0.6, p99_abs=0.06))
    assert len(broken) == 3 and "p99 abs error 0.06" in broken[0]
    assert "98.00% < 98.50%" in broken[1] and "+0.600" in broken[2]


def test_float_kinds_bound_every_row():
    assert judge("float32", metrics(2e-5, p99_abs=1e-7)) == ["max abs error 2e-05 > 1e-05"]


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="no tolerance for artifact kind 'int4'"):
        judge("int4", metrics(0.0))


def test_accuracy_bound_is_never_finer_than_one_review():
    # Measured: float16-b1 on tflite-runtime 2.14 flipped fast-tier review 430 (Keras
    # 0.49978, artifact 0.50044) while its max abs error was 8e-4 of the 1e-3 allowed.
    assert judge("float16", metrics(8.25e-4, 0.998, -0.2, reviews=500)) == []
    assert judge("float16", metrics(8.25e-4, 0.996, -0.4, reviews=500)) == [
        "accuracy delta -0.400 points exceeds ±0.2 (one review of 500)"]
    # With enough reviews the table's own bound holds: 0.05 points is 12 of 25,000.
    assert judge("float16", metrics(5e-4, 0.9995, -0.06, reviews=25000)) == [
        "accuracy delta -0.060 points exceeds ±0.05"]
