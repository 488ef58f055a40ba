"""Every kind of file a user saves the notebook's model as, through `imdb-edge export` and
`imdb-edge score`: one table.

    python benchmarks/user_models.py --data ../shared/data/aclImdb_v1.tar.gz --work WORK \
        [--validate 500] [--quantize float32 dynamic] [--markdown table.md]

tests/make_user_models.py writes the files as users do: the notebook's cell at its size
(length 100, vocabulary 10,000, embedding 16, or --length/--vocab/--embed) with Keras'
default layer names, trained briefly on --data's reviews (3 epochs on 5,000; without
--data, random weights), in Keras 2 (tf_keras: .h5, SavedModel folder and .keras, with
hard_sigmoid and with sigmoid gates) and in Keras 3 (.keras, and the cell run twice, so
the layers are lstm_1, ...). Each file is exported once per format as a user would,
``imdb-edge export --model FILE --format FORMAT --data ARCHIVE`` (plus --validate,
--quantize and --batch 1, to keep the run short), and every artifact then scores a review
with ``imdb-edge score``. Per artifact: the export's exit status, its validation figures
against the model (max abs error and label agreement over --validate test reviews and the
edge rows), and the largest difference from the probabilities the file's own framework
computed when it wrote the file. Two files outside the family end the table: Keras 3's
own hard_sigmoid (not Keras 2's) and a Lambda layer, each refused with exit status 2.
Files already in WORK are reused.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "tests" / "make_user_models.py"
# name: (generator flags, the files it writes)
KINDS = {
    "keras2-hard_sigmoid": (["--engine", "tf_keras", "--gate", "hard_sigmoid"],
                            ("model.h5", "saved_model", "model.keras")),
    "keras2-sigmoid": (["--engine", "tf_keras"], ("model.h5", "saved_model", "model.keras")),
    "keras3": (["--engine", "keras"], ("model.keras",)),
    "keras3-twice": (["--engine", "keras", "--twice"], ("model.keras",)),
}
REFUSED = ("keras3_hard_sigmoid", "lambda")  # out-of-family files --variants writes
FORMATS = ("tflite", "onnx", "numpy")
REVIEW = "A moving, beautifully acted film."


def run(args: list, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    return subprocess.run(args, capture_output=True, text=True, env=env, **kwargs)


def make_files(work: Path, kinds: list, sizes: list, data) -> None:
    """Each kind's files and expected.npz, and the refused variants, unless already there."""
    trained = ["--train-on", data] if data else []
    wanted = {work / kind / "expected.npz": KINDS[kind][0] + trained for kind in kinds}
    wanted[work / "refused" / REFUSED[0] / "model.keras"] = ["--engine", "keras", "--variants"]
    for marker, flags in wanted.items():
        folder = marker.parent.parent if "--variants" in flags else marker.parent
        if marker.exists():
            continue
        made = run([sys.executable, str(GENERATOR), str(folder), *flags, *sizes])
        if made.returncode:
            raise SystemExit(f"{GENERATOR.name} {' '.join(flags)} failed:\n{made.stderr[-3000:]}")


def export(model: Path, fmt: str, out: Path, args) -> tuple[int, str]:
    command = [sys.executable, "-m", "imdb_edge.cli", "export", "--model", str(model),
               "--format", fmt, "--validate", str(args.validate), "--calibration",
               str(args.calibration), "--quantize", *args.quantize, "--batch", "1",
               "--out", str(out)] + (["--data", args.data] if args.data else [])
    done = run(command)
    # A failed check is listed under the table on stdout; a refusal is stderr's last line.
    lines = (done.stdout if done.returncode == 1 else done.stderr).strip().splitlines()
    return done.returncode, lines[-1] if lines else ""


def artifact_rows(out: Path, expected: Path) -> list:
    """(artifact, max abs, agreement, max abs vs the writing framework, score exit)."""
    from imdb_edge.runtime import load

    with np.load(expected) as f:
        ids, framework = f["ids"], f["probabilities"]
    manifest = json.loads((out / "manifest.json").read_text())["artifacts"]
    rows = []
    for entry in manifest:
        artifact = out / entry["artifact"]
        versus = float(np.abs(load(artifact).predict_ids(ids) - framework).max())
        scored = run([sys.executable, "-m", "imdb_edge.cli", "score", str(artifact),
                      "--text", REVIEW])
        rows.append((entry["artifact"], entry["max_abs"], entry["agreement"], versus,
                     scored.returncode))
    return rows


def measure(args) -> tuple[list, list]:
    """(one dict per file and format, one (variant, exit, message) per refused file)."""
    work = Path(args.work)
    sizes = ["--length", str(args.length), "--vocab", str(args.vocab), "--embed", str(args.embed)]
    make_files(work, args.kinds, sizes, args.data)
    results = []
    for kind in args.kinds:
        for name in KINDS[kind][1]:
            for fmt in args.formats:
                out = work / "artifacts" / kind / f"{Path(name).stem}-{fmt}"
                code, last = export(work / kind / name, fmt, out, args)
                published = (out / "manifest.json").is_file()
                results.append(dict(file=f"{kind}/{name}", format=fmt, exit=code, message=last,
                                    artifacts=artifact_rows(out, work / kind / "expected.npz")
                                    if published else []))
                print(f"{kind}/{name} {fmt}: exit {code}", file=sys.stderr, flush=True)
    refused = [(variant, *export(work / "refused" / variant / "model.keras", "numpy",
                                 work / "artifacts" / "refused" / variant, args))
               for variant in REFUSED]
    return results, refused


def render(results: list, refused: list) -> list[str]:
    """One row per file, one column per artifact; failures and refusals listed below."""
    names = list(dict.fromkeys(a[0] for r in results for a in r["artifacts"]))
    lines = ["Each cell: max abs error against the model on the validation rows / against the "
             "file's own framework on its rows (expected.npz).", "",
             "| file | exit (" + ", ".join(dict.fromkeys(r["format"] for r in results)) + ") | "
             + " | ".join(f"`{n}`" for n in names) + " | lowest agreement | scored |",
             "|---|---|" + "---:|" * (len(names) + 2)]
    for file in dict.fromkeys(r["file"] for r in results):
        mine = [r for r in results if r["file"] == file]
        found = {a[0]: a for r in mine for a in r["artifacts"]}
        cells = [f"{found[n][1]:.1e} / {found[n][3]:.1e}" if n in found else "-" for n in names]
        lowest = min((a[2] for a in found.values()), default=None)
        lines.append(f"| {file} | {', '.join(str(r['exit']) for r in mine)} | " + " | ".join(cells)
                     + f" | {'-' if lowest is None else f'{100 * lowest:.2f} %'} | "
                     f"{sum(a[4] == 0 for a in found.values())} of {len(found)} |")
    notes = [f"- {r['file']}, {r['format']}: exit {r['exit']}: {r['message']}"
             for r in results if r["exit"] != 0]
    notes += [f"- Keras 3 `{variant}` (refused as it should be): exit {code}: {message}"
              for variant, code, message in refused]
    return lines + [""] + notes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="the IMDB archive (default: the rows packaged with imdb-edge)")
    p.add_argument("--work", required=True, help="folder for the model files and artifacts")
    p.add_argument("--kinds", nargs="+", choices=tuple(KINDS), default=list(KINDS))
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    p.add_argument("--quantize", nargs="+", default=["float32", "dynamic"])
    p.add_argument("--validate", type=int, default=500)
    p.add_argument("--calibration", type=int, default=200)
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--vocab", type=int, default=10000)
    p.add_argument("--embed", type=int, default=16)
    p.add_argument("--markdown", help="also write the table here")
    p.add_argument("--json", help="also write every figure here")
    args = p.parse_args(argv)
    results, refused = measure(args)
    lines = render(results, refused)
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(results=results, refused=refused), indent=1))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
