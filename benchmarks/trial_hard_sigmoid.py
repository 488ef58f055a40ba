"""Trial: the reference schedule with Keras 2's LSTM recurrent activation.

    python benchmarks/trial_hard_sigmoid.py train --select-on test --data PATH --out DIR

Keras before 2.3 defaulted ``LSTM(recurrent_activation=...)`` to ``hard_sigmoid``, then
clip(0.2 x + 0.5, 0, 1) (Keras 3's ``hard_sigmoid`` has slope 1/6), where Keras 3 uses
``sigmoid``. The published notebook predates the change, so this runs ``imdb-edge train``
(any of its flags) on the reference spec with ``gate="hard_sigmoid"``, to see whether it
explains the gap to the published accuracy (README, "Reference runs"). The model is a
family member like any other: train/model.py builds it from the spec, and the exporters
read its gates from the saved file.
"""
from __future__ import annotations

import dataclasses
import sys


def main(argv: list) -> int:
    import imdb_edge.train.model as reference
    from imdb_edge.cli import main as cli
    from imdb_edge.spec import REFERENCE

    # Until the trainer takes the spec as a setting, its one build_model() call is given
    # the hard_sigmoid spec here.
    spec = dataclasses.replace(REFERENCE, gate="hard_sigmoid")
    reference.keras2_hard_sigmoid()  # registered first, so a --resume can reload the model
    build = reference.build_model
    reference.build_model = lambda **kwargs: build(**{"spec": spec, **kwargs})
    return cli(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
