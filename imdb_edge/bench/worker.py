"""A measuring child, run as ``python -m imdb_edge.bench.worker``: loads one artifact (or
the Keras model), warms it up, then times the calls the parent asks for. It uses nothing
of the other bench modules, only the runtime (or Keras), and never imports TensorFlow for
an artifact (tests/bench checks)."""
from __future__ import annotations

import json
import os
import sys
import time

WARMUP = 10  # calls before any is timed: caches, thread pools, tracing


def main(argv: list) -> int:
    """``python -m imdb_edge.bench.worker --worker runtime|keras ...``: load, warm up, then answer
    {"op": "single"|"batch", "start", "count", "mode"} lines with nanosecond timings."""
    import argparse

    p = argparse.ArgumentParser(prog="imdb_edge.bench.worker")
    p.add_argument("--worker", choices=("runtime", "keras"), required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--backend")
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)

    # Answers go to a private copy of stdout; fd 1 is pointed at stderr, so a library that
    # prints cannot corrupt them.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    try:
        ids, calls, ready = _load_and_warm_up(args)
    except Exception as exc:
        answers.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    answers.write(json.dumps(ready) + "\n")
    _answer(sys.stdin, answers, ids, calls, args.batch)
    answers.write(json.dumps({"peak_rss_kb": peak_rss_kb()}) + "\n")
    return 0


def _load_and_warm_up(args) -> tuple:
    """(ids, {mode: (single call, batch call)}, the ready message with load timings)."""
    t0 = time.monotonic()
    import numpy as np

    ids = np.load(args.ids)
    if args.worker == "runtime":
        from imdb_edge.runtime import load

        t1 = time.monotonic()
        model = load(args.path, backend=args.backend, threads=args.threads)
        t2 = time.monotonic()
        calls = {None: (model.predict_ids, model.predict_ids)}
    else:
        import keras
        import tensorflow as tf

        t1 = time.monotonic()
        model = keras.models.load_model(args.path, compile=False, safe_mode=True)
        t2 = time.monotonic()
        fn = tf.function(lambda x: model(x, training=False), input_signature=[
            tf.TensorSpec([None, ids.shape[1]], tf.int32)])

        def compiled(x):
            return fn(tf.constant(x)).numpy()

        def predict(x):
            return model.predict(x, batch_size=len(x), verbose=0)

        calls = {"function": (compiled, compiled), "predict": (predict, predict)}
    first = next(iter(calls.values()))[0]
    first(ids[:1])
    first_at = time.monotonic()
    for single, batched in calls.values():  # warm-up: caches, thread pools, tracing
        for i in range(WARMUP):
            single(ids[i % len(ids):][:1])
        batched(_rows(ids, 0, args.batch))
    return ids, calls, {"import_s": t1 - t0, "load_s": t2 - t1, "first_score_at": first_at}


def _answer(requests, answers, ids, calls, batch: int) -> None:
    """Time each requested call with perf_counter_ns; one JSON line of timings per request."""
    clock = time.perf_counter_ns
    for line in requests:
        request = json.loads(line)
        single, batched = calls[request.get("mode")]
        ns = []
        if request["op"] == "single":
            for i in range(request["start"], request["start"] + request["count"]):
                row = ids[i % len(ids)][None]
                t = clock()
                single(row)
                ns.append(clock() - t)
        else:
            rows = _rows(ids, request["start"], batch)
            t = clock()
            batched(rows)
            ns.append(clock() - t)
        answers.write(json.dumps({"ns": ns}) + "\n")


def peak_rss_kb() -> int:
    """This process's peak RSS since exec. VmHWM belongs to the current address space only;
    ru_maxrss would also count the process that spawned us (see _LAUNCHER)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _rows(ids, start: int, count: int):
    """``count`` contiguous rows from ``start``, wrapping around."""
    import numpy as np

    take = np.arange(start, start + count) % len(ids)
    return np.ascontiguousarray(ids[take])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
