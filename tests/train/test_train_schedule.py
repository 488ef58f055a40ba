"""train/schedule.py on scripted accuracy sequences: pure logic, no TensorFlow."""
from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imdb_edge.train.schedule import ScheduleState, step

LR, DECAY = 5e-3, 1e-6


def run(accuracies, *, min_epochs, max_epochs):
    """Drive the schedule as the trainer does; returns (state, decisions, lr used per epoch)."""
    state = ScheduleState(lr=LR, decay=DECAY)
    decisions, lrs = [], []
    for accuracy in accuracies:
        lrs.append(state.lr)
        decision = step(state, accuracy, min_epochs=min_epochs, max_epochs=max_epochs)
        decisions.append(decision)
        if decision.stop:
            return state, decisions, lrs
    raise AssertionError(f"script of {len(accuracies)} accuracies ran out before a stop")


def test_schedule_data_and_trainer_import_without_tensorflow():
    """The schedule is pure logic, and the CLI's data check runs before TensorFlow starts."""
    code = ("import sys, imdb_edge.train.schedule, imdb_edge.train.data, imdb_edge.train.trainer; "
            "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_lr_drops_by_ten_exactly_when_accuracy_fell():
    accs = [0.50, 0.60, 0.55, 0.58, 0.58, 0.52, 0.70, 0.80, 0.80]
    state, decisions, lrs = run(accs, min_epochs=8, max_epochs=20)
    fell = [i > 0 and accs[i] < accs[i - 1] for i in range(len(accs))]
    assert [d.drop_lr for d in decisions[:8]] == fell[:8]        # epochs 3 and 6; not on a tie
    assert state.lr_drops == [3, 6]
    assert lrs == pytest.approx([5e-3] * 3 + [5e-4] * 3 + [5e-5] * 3)
    assert state.lr == pytest.approx(5e-5)


def test_decay_becomes_1e_5_after_a_drop():
    state = ScheduleState(lr=LR, decay=DECAY)
    step(state, 0.6, min_epochs=5, max_epochs=10)
    step(state, 0.7, min_epochs=5, max_epochs=10)
    assert state.decay == DECAY
    decision = step(state, 0.65, min_epochs=5, max_epochs=10)
    assert decision.drop_lr and not decision.stop
    assert state.decay == 1e-5 and state.lr == pytest.approx(5e-4)
    step(state, 0.6, min_epochs=5, max_epochs=10)                # a second drop keeps 1e-5
    assert state.decay == 1e-5 and state.lr == pytest.approx(5e-5)


@pytest.mark.parametrize("accs", [
    [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],   # falling all along
    [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],   # flat
    [0.5, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1],   # zig-zag
])
def test_epochs_up_to_min_epochs_always_run(accs):
    state, decisions, _ = run(accs, min_epochs=5, max_epochs=20)
    assert not any(d.stop for d in decisions[:4])
    assert state.epoch >= 5


def test_after_min_epochs_stop_at_the_first_epoch_that_did_not_rise():
    accs = [0.50, 0.60, 0.55, 0.60, 0.65, 0.70, 0.71, 0.71, 0.90]
    state, decisions, _ = run(accs, min_epochs=4, max_epochs=20)
    assert state.epoch == 8                                      # 0.71 -> 0.71 is not a rise
    assert decisions[-1].stop and not decisions[-1].drop_lr      # stopping, not dropping
    assert "stopped rising: epoch 8 did not beat epoch 7" in decisions[-1].reason
    assert state.best_epoch == 7 and state.best_accuracy == 0.71


def test_a_fall_after_min_epochs_stops_without_dropping_the_lr():
    state, decisions, _ = run([0.5, 0.6, 0.7, 0.8, 0.75], min_epochs=3, max_epochs=20)
    assert state.epoch == 5 and decisions[-1].stop
    assert state.lr_drops == [] and state.lr == LR and state.decay == DECAY


def test_epoch_min_epochs_itself_is_judged():
    """As written, the rule 'go on only while accuracy rises' applies from epoch min_epochs:
    if epoch min_epochs did not beat epoch min_epochs - 1, training stops right there."""
    state, decisions, _ = run([0.5, 0.6, 0.7, 0.65, 0.9], min_epochs=4, max_epochs=20)
    assert state.epoch == 4 and decisions[-1].stop
    state, _, _ = run([0.5, 0.6, 0.7, 0.75, 0.7], min_epochs=4, max_epochs=20)
    assert state.epoch == 5


def test_max_epochs_caps_a_run_that_keeps_rising():
    accs = [0.5 + 0.01 * i for i in range(30)]
    state, decisions, _ = run(accs, min_epochs=3, max_epochs=7)
    assert state.epoch == 7
    assert decisions[-1].stop and "cap (7)" in decisions[-1].reason
    assert state.best_epoch == 7


def test_max_epochs_wins_over_min_epochs():
    state, _, _ = run([0.5] * 10, min_epochs=20, max_epochs=2)
    assert state.epoch == 2


def test_min_equals_max_runs_exactly_that_many():
    state, _, _ = run([0.9, 0.1, 0.5, 0.2, 0.3], min_epochs=3, max_epochs=3)
    assert state.epoch == 3


def test_best_epoch_tracking_keeps_the_first_of_equal_bests():
    accs = [0.5, 0.7, 0.6, 0.7, 0.65, 0.66]
    state, decisions, _ = run(accs, min_epochs=6, max_epochs=6)
    assert [d.improved for d in decisions] == [True, True, False, False, False, False]
    assert state.best_epoch == 2 and state.best_accuracy == 0.7
    assert state.accuracies == accs


def test_state_survives_a_json_round_trip():
    """The trainer stores the state in checkpoint/state.json and rebuilds it on --resume."""
    import dataclasses
    import json

    state, _, _ = run([0.5, 0.4, 0.6, 0.7], min_epochs=4, max_epochs=4)
    back = ScheduleState(**json.loads(json.dumps(dataclasses.asdict(state))))
    assert back == state and back.epoch == 4


@settings(max_examples=300, deadline=None)
@given(accs=st.lists(st.sampled_from([0.5, 0.6, 0.7, 0.8, 0.9]), min_size=40, max_size=40),
       min_epochs=st.integers(1, 15), extra=st.integers(0, 15))
def test_schedule_properties(accs, min_epochs, extra):
    max_epochs = min_epochs + extra
    state, decisions, lrs = run(accs, min_epochs=min_epochs, max_epochs=max_epochs)
    n = state.epoch
    assert min(min_epochs, max_epochs) <= n <= max_epochs
    # Between min_epochs and the stop, every epoch rose; the stop is a cap or a non-rise.
    assert all(accs[e - 1] > accs[e - 2] for e in range(max(min_epochs, 2), n))
    assert n == max_epochs or (n >= min_epochs and n >= 2 and accs[n - 1] <= accs[n - 2])
    # lr drops: exactly the falls of the epochs that did not stop the run.
    assert state.lr_drops == [e for e in range(2, n) if accs[e - 1] < accs[e - 2]]
    assert state.lr == pytest.approx(LR * 0.1 ** len(state.lr_drops))
    assert state.decay == (1e-5 if state.lr_drops else DECAY)
    for e in range(2, n + 1):                                   # lr used by epoch e
        assert lrs[e - 1] == pytest.approx(LR * 0.1 ** sum(d < e for d in state.lr_drops))
    # Best epoch: the first epoch with the highest accuracy seen.
    assert state.best_accuracy == max(accs[:n])
    assert state.best_epoch == accs[:n].index(max(accs[:n])) + 1
    assert [d.stop for d in decisions] == [False] * (n - 1) + [True]
