"""curves.png: a training run's accuracy and loss per epoch, from its report."""
from __future__ import annotations

from pathlib import Path

from imdb_edge.atomic import atomic_write
from imdb_edge.train.schedule import PUBLISHED_TEST_ACCURACY


def plot_curves(report: dict, path: Path) -> None:
    """Accuracy and loss per epoch, the rate's cuts and the best epoch, as a PNG; with the
    published run's curve when both selected on the test set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [e["epoch"] for e in report["epochs"]]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    ax_acc.plot(epochs, [e["train_accuracy"] for e in report["epochs"]], label="train")
    ax_acc.plot(epochs, [e["accuracy"] for e in report["epochs"]],
                label=report["config"]["select_on"])
    if report["config"]["select_on"] == "test":
        # The published run also selected on the test set: the same quantity, epoch by epoch.
        ax_acc.plot(range(1, len(PUBLISHED_TEST_ACCURACY) + 1),
                    [a / 100 for a in PUBLISHED_TEST_ACCURACY], color="black", ls="--",
                    marker=".", label="published notebook (test)")
    ax_acc.axvline(report["best_epoch"], color="green", ls=":", label="best epoch")
    ax_loss.plot(epochs, [e["loss"] for e in report["epochs"]], label="train loss")
    for ax in (ax_acc, ax_loss):
        for i, drop in enumerate(report["lr_drops_after_epochs"]):
            ax.axvline(drop + 0.5, color="red", ls="--", lw=0.8, label="lr / 10" if i == 0 else None)
        ax.set_xlabel("epoch")
        ax.legend()
    ax_acc.set_ylabel("accuracy")
    ax_loss.set_ylabel("loss")
    fig.suptitle(f"test accuracy {report['test_accuracy']:.4f} (best epoch {report['best_epoch']})")
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
