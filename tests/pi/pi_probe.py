"""Score reviews with the project's runtime and print one JSON object: run on both sides.

    scripts/pi_emulation.sh run --backend litert -- tests/pi/pi_probe.py \
        --artifact artifacts/imdb-float32-b1.tflite --backend litert --reviews reviews.json

The same file runs under the emulated aarch64 Python and on the x86_64 host (both through
scripts/pi_emulation.sh, each with only numpy + one backend on its path), so the two JSON
results can be compared value by value. Standard library, numpy and imdb_edge.runtime only.

Output: machine, python, numpy and backend versions, whether TensorFlow could be imported
(it must not be), the probabilities for every review (batched ``predict_text``) and
per-review latencies of ``predict_text`` one review at a time.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import platform
import sys
import time

# Distribution that provides each runtime backend, to report its version.
DISTRIBUTIONS = {"litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime",
                 "onnxruntime": "onnxruntime", "numpy": "numpy"}


def version(dist: str):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--backend", required=True, help="runtime backend name, as load() takes")
    parser.add_argument("--reviews", required=True, help="JSON file: a list of review strings")
    parser.add_argument("--single", type=int, default=8,
                        help="how many reviews to also score one at a time, for latency")
    args = parser.parse_args(argv)

    with open(args.reviews, encoding="utf-8") as f:
        reviews = json.load(f)

    t0 = time.perf_counter()
    import numpy as np
    from imdb_edge.runtime import load

    model = load(args.artifact, backend=args.backend)
    t_load = time.perf_counter() - t0

    t0 = time.perf_counter()
    probs = model.predict_text(reviews)
    t_batch = time.perf_counter() - t0

    latencies, single = [], []
    for review in reviews[:args.single]:
        t0 = time.perf_counter()
        single.append(float(model.predict_text([review])[0]))
        latencies.append(time.perf_counter() - t0)

    json.dump({
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "backend": model.backend_name,
        "backend_version": version(DISTRIBUTIONS.get(model.backend_name, model.backend_name)),
        "tensorflow_importable": importlib.util.find_spec("tensorflow") is not None,
        "tensorflow_imported": "tensorflow" in sys.modules,
        "artifact": args.artifact,
        "quantization": model.sidecar.quantization,
        "probabilities": [float(p) for p in np.asarray(probs, dtype=np.float64)],
        "single_probabilities": single,
        "load_s": t_load,
        "batch_s": t_batch,
        "single_latency_s": latencies,
    }, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
