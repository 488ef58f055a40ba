"""--distribute mirrored on two logical CPU devices: one epoch on the tiny data.

Logical devices must be configured before TensorFlow initialises, so the run happens in a
child process. The trainer does not record the replica count, so the child wraps
``trainer._strategy`` to read ``num_replicas_in_sync`` off the strategy it returns.
"""
from __future__ import annotations

import json
import subprocess

import pytest

pytest.importorskip("tensorflow", reason="the [train] extra (TensorFlow) is not installed")

from trainkit import PYTHON, subprocess_env  # noqa: E402

pytestmark = pytest.mark.slow

MIRRORED_ON_TWO_CPUS = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from imdb_edge.train import trainer
strategies = []
make = trainer._strategy
def spy(name):
    strategies.append(make(name))
    return strategies[-1]
trainer._strategy = spy
report = trainer.train(trainer.TrainConfig(out=sys.argv[2], data=sys.argv[1], min_epochs=1,
                                           max_epochs=1, distribute="mirrored"))
print("RESULT " + json.dumps(dict(
    replicas=[s.num_replicas_in_sync for s in strategies],
    kinds=[type(s).__name__ for s in strategies],
    devices=[str(d) for d in tf.config.list_logical_devices("CPU")],
    epochs=report["epochs_run"], test_accuracy=report["test_accuracy"])))
"""


def test_mirrored_on_two_logical_cpus(tiny_npz, tmp_path):
    out = tmp_path / "mirrored"
    proc = subprocess.run([PYTHON, "-c", MIRRORED_ON_TWO_CPUS, str(tiny_npz), str(out)],
                          env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    assert len(result["devices"]) == 2
    assert result["kinds"] == ["MirroredStrategy"] and result["replicas"] == [2]
    assert result["epochs"] == 1 and 0 <= result["test_accuracy"] <= 1
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["distribute"] == "mirrored"
    assert (out / "model.keras").is_file() and (out / "curves.png").is_file()
