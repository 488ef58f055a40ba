"""`imdb-edge bench`: every artifact x backend and the Keras model, measured side by side.

One run gives one table. Each figure comes from a process of its own, so no two rows share
memory, imports or thread pools:

* cold start: a fresh ``imdb-edge score ARTIFACT --text REVIEW`` (for Keras, a fresh
  ``python -c`` that imports Keras, loads the model and predicts one review), timed from just
  before the spawn to the moment its first score line reaches us; repeated ``cold_runs``
  times, rows taking turns, median reported. Its peak RSS is ``ru_maxrss`` from ``wait4``
  in a bare launcher process that spawns it (``children._LAUNCHER`` says why).
* latency and throughput: one long-lived worker per row (``worker.py``, run as
  ``python -m imdb_edge.bench.worker ...``). All workers are started first, then they take
  turns in rounds of ``BLOCK`` batch-1 calls plus a share of the batch-``batch`` calls, so
  a machine whose load drifts during the run (another job, thermal throttling) slows every
  row alike instead of whichever ran last. Each call is timed with ``perf_counter_ns``
  around the public ``Model.predict_ids`` (for Keras, the compiled ``tf.function`` call
  and ``model.predict``), input conversion included. A worker reports its own peak RSS
  (VmHWM) when it stops.

Figures are of the machine they were measured on; the report names its CPU, core count
and load average, and ratios to Keras taken in the same run are what carry to other
machines. Nothing here imports TensorFlow except the Keras worker and Keras cold start.
"""
from __future__ import annotations

from imdb_edge.bench.plan import BenchOptions
from imdb_edge.bench.report import to_markdown, write_report
from imdb_edge.bench.run import bench

__all__ = ["BenchOptions", "bench", "to_markdown", "write_report"]
