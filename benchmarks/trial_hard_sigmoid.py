"""Trial: the reference schedule with Keras 2's LSTM recurrent activation.

    python benchmarks/trial_hard_sigmoid.py --select-on test --data PATH --out DIR

Keras before 2.3 defaulted ``LSTM(recurrent_activation=...)`` to ``hard_sigmoid``, then
clip(0.2 x + 0.5, 0, 1) (Keras 3's ``hard_sigmoid`` has slope 1/6), where Keras 3 uses
``sigmoid``. The published notebook predates the change, so this is ``imdb-edge train
--gate hard_sigmoid`` (with any other flag of ``train``), to see whether the gate explains
the gap to the published accuracy (docs/results.md, "Training"). The model is a family
member like any other: train/model.py builds it from its spec, and the exporters read its
gates from the saved file.
"""
from __future__ import annotations

import sys


def main(argv: list) -> int:
    from imdb_edge.cli import main as cli

    if any(arg == "--gate" or arg.startswith("--gate=") for arg in argv):
        print("trial_hard_sigmoid.py: --gate is this trial's own setting (hard_sigmoid)",
              file=sys.stderr)
        return 2
    return cli(["train", "--gate", "hard_sigmoid", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
