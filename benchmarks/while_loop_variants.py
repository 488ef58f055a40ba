"""Where the batch-1 time of the TFLite artifact goes: variants of the exported graph, timed
side by side on LiteRT. Evidence for export/graph.py, not a change to it.

    python benchmarks/while_loop_variants.py --model MODEL.keras [--calls 1000] [--data PATH]
                                             [--quantize dynamic] [--json PATH]

Each variant is built from the same weights, converted as export/tflite.py converts
(builtin ops, batch 1; ``dynamic``: per-tensor dynamic-range int8 weights, ``float32``: no
optimisation), loaded in one LiteRT interpreter each (1 thread, XNNPACK on, the runtime's
defaults) and called in turns, one test review per turn, so every variant sees the same
machine load. Prints a Markdown table: p50 / p10 / p99 per call, per loop step, and the
largest difference from the exported graph's output.

* export             - ``export.graph.inference_function``: what ``imdb-edge export`` ships
                       for every mode but int8 (the token read with one GATHER of column t).
* rotated_ids        - the ids loop variable rotated by one position per step, the body
                       reading column 0 (two STRIDED_SLICEs and a CONCATENATION more per
                       step; the workaround export/graph.py explains).
* ids_by_slice       - the token read as ``ids[:, t]``: a STRIDED_SLICE whose begin and end
                       TFLite builds with two PACKs every step.
* input_precomputed  - the export step with the input projection x @ kernel + bias done
                       for all 200 steps before the loop (one GATHER and FC fewer per step).
* empty_loop         - a WHILE of 200 iterations whose body adds 1: the loop's own cost.
* recurrent_fc_only  - a WHILE whose body is the recurrent FULLY_CONNECTED alone: the cost
                       of the one big matrix product per step.
* gates_ifo          - the export step with the gate columns reordered i, f, o, g: one
                       LOGISTIC over 600 columns instead of three over 200.
* fused_step         - gates_ifo, and the two products as one: [x, h] @ [kernel; recurrent]
                       with the bias in the FULLY_CONNECTED (a CONCATENATION, one FC and
                       no ADDs per step; one quantization scale for both weights).
* unrolled           - ``inference_function(unroll=True)``: 200 copies of the step, no WHILE.
* unrolled_input_precomputed - input_precomputed, unrolled: every step's input is a static
                       slice, so every op of the 200 steps is one XNNPACK can take.

``--no-xnnpack`` runs every variant on the builtin kernels alone (LiteRT's
BUILTIN_WITHOUT_DEFAULT_DELEGATES). The "RSS +MB" column is the peak resident memory a
fresh process gains by building, allocating and calling the variant's interpreter once
(measured apart, since this process has TensorFlow's heap): XNNPACK packs the weights of
each FULLY_CONNECTED it takes, so a weight shared by 200 unrolled products is packed 200
times.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from variant_graphs import VARIANTS, build  # beside this script, on sys.path when it runs


def convert(fn, quantize: str) -> bytes:
    """As export/tflite.py converts float32 and dynamic (the two modes that need no
    calibration): its own converter."""
    from imdb_edge.export.tflite import saved_model_converter

    with tempfile.TemporaryDirectory(prefix="imdb-edge-variant-") as tmp:
        return bytes(saved_model_converter(fn, tmp, quantize).convert())


def time_side_by_side(models: dict, ids, log, xnnpack: bool = True) -> dict:
    """One LiteRT interpreter per variant (1 thread), called in turns on each review."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    calls, grown_mb = {}, {}
    for name, content in models.items():
        grown_mb[name] = _rss_growth_mb(content, xnnpack)
        interpreter = Interpreter(model_content=content, num_threads=1,
                                  experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]["index"]
        out = interpreter.get_output_details()[0]["index"]

        def call(row, interpreter=interpreter, inp=inp, out=out):
            interpreter.set_tensor(inp, row)
            interpreter.invoke()
            return float(interpreter.get_tensor(out)[0, 0])

        calls[name] = call
    names = list(calls)
    times = {n: [] for n in names}
    outputs = {n: [] for n in names}
    for call in calls.values():  # warm-up
        for row in ids[:20]:
            call(row[None])
    for k, row in enumerate(ids):
        row = row[None]
        for name in names[k % len(names):] + names[:k % len(names)]:  # rotate who goes first
            start = time.perf_counter_ns()
            outputs[name].append(calls[name](row))
            times[name].append(time.perf_counter_ns() - start)
        if k % 200 == 199:
            log(f"{k + 1}/{len(ids)} calls per variant")
    reference = np.asarray(outputs["export"])
    results = {}
    for name in names:
        ms = np.asarray(times[name]) / 1e6
        results[name] = {"bytes": len(models[name]), "rss_growth_mb": grown_mb[name],
                         "p50_ms": float(np.percentile(ms, 50)),
                         "p10_ms": float(np.percentile(ms, 10)),
                         "p99_ms": float(np.percentile(ms, 99)),
                         "max_abs_diff_vs_export": float(np.abs(np.asarray(outputs[name]) -
                                                                reference).max())}
    return results


_RSS_CHILD = """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from imdb_edge.bench.worker import peak_rss_kb
peak_mb = lambda: peak_rss_kb() / 1024
before = peak_mb()
kind = OpResolverType.AUTO if sys.argv[2] == "1" else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
it = Interpreter(model_path=sys.argv[1], num_threads=1, experimental_op_resolver_type=kind)
it.allocate_tensors()
inp = it.get_input_details()[0]
it.set_tensor(inp["index"], np.ones(inp["shape"], np.int32))
it.invoke()  # delegates pack their weights on the first call
print(peak_mb() - before)
"""


def _rss_growth_mb(content: bytes, xnnpack: bool) -> float:
    """Peak RSS a fresh process gains by loading and calling the model once."""
    import subprocess

    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(content)
        f.flush()
        done = subprocess.run([sys.executable, "-c", _RSS_CHILD, f.name, "1" if xnnpack else "0"],
                              capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from imdb_edge import resources
    from imdb_edge.export.graph import loaded
    from imdb_edge.train import data as data_lib

    source = loaded(keras.models.load_model(args.model, compile=False, safe_mode=True))
    variants = ["export"] + [v for v in args.variants if v != "export"]
    models = {}
    for kind in variants:
        _log(f"converting {kind} ({args.quantize})")
        models[kind] = convert(build(kind, source), args.quantize)
    ids = data_lib.load(resources.data_source(args.data)).x_test[:args.calls].astype(np.int32)
    results = time_side_by_side(models, ids, _log, xnnpack=not args.no_xnnpack)
    _print_table(results, args.quantize, args.no_xnnpack, steps=source.spec.length)
    if args.json:
        Path(args.json).write_text(json.dumps({"quantize": args.quantize, "calls": args.calls,
                                               "xnnpack": not args.no_xnnpack,
                                               "results": results}, indent=2) + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="trained .keras model")
    p.add_argument("--calls", type=int, default=1000, help="calls per variant (default 1000)")
    p.add_argument("--data", help="IMDB source of test reviews (default: $IMDB_EDGE_DATA, else "
                   "the 1,000 packaged with imdb-edge)")
    p.add_argument("--quantize", choices=("dynamic", "float32"), default="dynamic")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--no-xnnpack", action="store_true",
                   help="builtin kernels only (no XNNPACK delegate)")
    p.add_argument("--json", help="also write the figures as JSON")
    return p


def _log(message):
    print(f"variants: {message}", file=sys.stderr, flush=True)


def _print_table(results: dict, quantize: str, no_xnnpack: bool, steps: int) -> None:
    """The Markdown table of every variant, relative to the export's p50."""
    base = results["export"]["p50_ms"]
    kernels = "builtin kernels only" if no_xnnpack else "XNNPACK on"
    print(f"| variant ({quantize}, batch 1, LiteRT, 1 thread, {kernels}) | size | RSS +MB | "
          "p50 ms | p10 ms | p99 ms | per step us | vs export | max abs diff vs export |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['bytes'] / 1024:,.0f} KB | {r['rss_growth_mb']:.0f} | "
              f"{r['p50_ms']:.3f} | {r['p10_ms']:.3f} | {r['p99_ms']:.3f} | "
              f"{r['p50_ms'] / steps * 1e3:.2f} | {base / r['p50_ms']:.2f}x | "
              f"{r['max_abs_diff_vs_export']:.1e} |")
    print(f"\nLoad average at the end: {' / '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"({os.cpu_count()} logical cores).")
    if {"empty_loop", "recurrent_fc_only"} & set(results):
        print("The diff of empty_loop and recurrent_fc_only is meaningless: they compute "
              "something else.")


if __name__ == "__main__":
    sys.exit(main())
