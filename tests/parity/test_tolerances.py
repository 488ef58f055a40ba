"""The tolerance table's verdicts on hand-made metrics (no artifacts, no TensorFlow)."""
import pytest

from imdb_edge.tolerances import TOLERANCES, judge


def metrics(max_abs, agreement=1.0, delta=0.0):
    return {"max_abs": max_abs, "agreement": agreement, "accuracy_delta_points": delta}


@pytest.mark.parametrize("kind", ["dynamic", "int8", "int16x8"])
def test_a_clipped_quantized_output_fails_although_every_label_agrees(kind):
    # The int16x8 failure this bound exists for: labels kept, probabilities clipped 0.23 off.
    assert judge(kind, metrics(0.23)) == [f"max abs error 0.23 > {TOLERANCES[kind].max_abs:g}"]


@pytest.mark.parametrize("kind, figures", [
    ("dynamic", metrics(0.014, 0.998, -0.05)), ("int8", metrics(0.014, 0.998, 0.0)),
    ("int16x8", metrics(0.0034)), ("float32", metrics(2.4e-7)), ("float16", metrics(7.5e-5))])
def test_the_reference_models_measured_figures_pass(kind, figures):
    assert judge(kind, figures) == []


def test_each_broken_bound_is_reported():
    broken = judge("int8", metrics(0.2, 0.98, 0.6))
    assert len(broken) == 3 and "98.00% < 98.50%" in broken[1] and "+0.600" in broken[2]


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="no tolerance for artifact kind 'int4'"):
        judge("int4", metrics(0.0))
