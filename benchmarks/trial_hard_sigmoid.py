"""Trial: the reference schedule with Keras 2's LSTM recurrent activation.

    python benchmarks/trial_hard_sigmoid.py train --select-on test --data PATH --out DIR

Keras before 2.3 defaulted ``LSTM(recurrent_activation=...)`` to ``hard_sigmoid``, then
clip(0.2 x + 0.5, 0, 1) (Keras 3's ``hard_sigmoid`` has slope 1/6), where Keras 3 uses
``sigmoid``. The published notebook predates the change, so this runs ``imdb-edge train``
(any of its flags) on the reference model with that one difference, to see whether it
explains the gap to the published accuracy (README, "Reference runs"). Evidence, not a
supported model: the exporters refuse it (they check for ``sigmoid``).
"""
from __future__ import annotations

import sys


def main(argv: list) -> int:
    import keras
    from keras import ops

    import imdb_edge.train.model as reference
    from imdb_edge.cli import main as cli

    @keras.saving.register_keras_serializable(package="imdb_edge_trial")
    def keras2_hard_sigmoid(x):
        return ops.clip(0.2 * x + 0.5, 0.0, 1.0)

    plain_lstm = keras.layers.LSTM

    def build_model():
        # The reference builder, with its one LSTM given Keras 2's recurrent activation.
        keras.layers.LSTM = lambda *a, **k: plain_lstm(
            *a, recurrent_activation=keras2_hard_sigmoid, **k)
        try:
            return build_reference()
        finally:
            keras.layers.LSTM = plain_lstm

    build_reference = reference.build_model
    reference.build_model = build_model
    return cli(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
