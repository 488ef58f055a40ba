"""Parity: the Keras model against every exported artifact, on every installed backend.

    from imdb_edge.parity import ParityOptions, run, make_golden
    report = run(ParityOptions(artifacts=("artifacts",), data="aclImdb_v1.tar.gz"))
    report.status, report.exit_code            # "PASS" / "FAIL", 0 / 1

    make_golden("golden.npz", limit=2000)      # host, with Keras: inputs + Keras outputs
    run(ParityOptions(artifacts=("artifacts",), golden="golden.npz"))   # device, no TF

Every artifact sees the same rows: test reviews first (padded ids, all 25,000 unless
limited), then the edge cases of ``metrics.edge_cases`` with seeded random id rows. The
figures come from ``metrics.compare`` and PASS/FAIL from ``tolerances.judge``: the one
table that export validation uses too.

This module imports neither TensorFlow nor the train/export packages at module level; only
the Keras reference (``keras_reference``, used by ``make_golden`` and by ``run`` without a
golden file) and the ``tensorflow_lite`` backend import TensorFlow, so a golden replay runs
on a device with numpy and one inference backend.
"""
from __future__ import annotations

from imdb_edge.parity.golden import (GoldenError, Reference, build_reference, keras_reference,
                                    load_golden, make_golden, save_golden, versions)
from imdb_edge.parity.run import ParityOptions, Report, check, run

__all__ = ["GoldenError", "ParityOptions", "Reference", "Report", "build_reference", "check",
           "keras_reference", "load_golden", "make_golden", "run", "save_golden", "versions"]
