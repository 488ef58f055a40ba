"""The published learning-rate schedule and stopping rule, as pure logic (no TensorFlow).

After every epoch the selection accuracy is compared with the previous epoch's:
* it fell  -> divide the learning rate by 10 and start a fresh Adam with time decay 1e-5;
* epochs 1..min_epochs always run; after that, training goes on only while accuracy rises;
* the best epoch's weights are the ones kept and shipped.
"""
from __future__ import annotations

import dataclasses

# The published notebook run's test accuracy (%) after each of its epochs 1-21: the curve
# the training plot overlays on ours.
PUBLISHED_TEST_ACCURACY = (67.83, 72.23, 73.71, 75.29, 76.98, 79.68, 80.86, 82.44, 83.35,
                           83.94, 84.35, 84.46, 84.92, 85.23, 85.25, 85.56, 85.50, 85.55,
                           85.59, 85.64, 85.60)


@dataclasses.dataclass
class Decision:
    improved: bool  # this epoch is the best so far: keep its weights
    drop_lr: bool   # accuracy fell: lr /= 10, fresh optimizer
    stop: bool
    reason: str = ""


@dataclasses.dataclass
class ScheduleState:
    lr: float                    # base learning rate of the current optimizer
    decay: float                 # its legacy time decay: lr / (1 + decay * iterations)
    accuracies: list = dataclasses.field(default_factory=list)
    best_epoch: int = 0          # 1-based; 0 = none yet
    best_accuracy: float = -1.0
    lr_drops: list = dataclasses.field(default_factory=list)  # epochs after which lr dropped

    @property
    def epoch(self) -> int:
        return len(self.accuracies)


def step(state: ScheduleState, accuracy: float, *, min_epochs: int, max_epochs: int,
         lr_factor: float = 0.1, decay_after_drop: float = 1e-5) -> Decision:
    """Record one finished epoch's accuracy, update ``state`` and say what happens next."""
    previous = state.accuracies[-1] if state.accuracies else None
    state.accuracies.append(float(accuracy))
    epoch = state.epoch
    improved = accuracy > state.best_accuracy
    if improved:
        state.best_epoch, state.best_accuracy = epoch, float(accuracy)
    fell = previous is not None and accuracy < previous
    rose = previous is None or accuracy > previous
    if epoch >= max_epochs:
        return Decision(improved, False, True, f"reached the epoch cap ({max_epochs})")
    if epoch >= min_epochs and not rose:
        return Decision(improved, False, True,
                        f"accuracy stopped rising: epoch {epoch} did not beat epoch {epoch - 1} "
                        f"(past the {min_epochs} epochs that always run)")
    if fell:
        state.lr *= lr_factor
        state.decay = decay_after_drop
        state.lr_drops.append(epoch)
    return Decision(improved, fell, False)
