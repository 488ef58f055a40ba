"""Export quantized TFLite / ONNX / numpy artifacts, validated against Keras.

Convert the trained Keras model to edge artifacts, each with a JSON sidecar; check that each
loads on its target runtimes and matches Keras within the tolerance table; publish only
artifacts that pass. Exit 0 all passed, 1 a check failed, 2 bad usage.
"""
# `imdb-edge export`: flags map one to one onto imdb_edge.export.pipeline.ExportOptions.
from __future__ import annotations

import sys
from pathlib import Path

from imdb_edge.errors import UsageError, quiet_tensorflow


PUBLISHED = ("PASS", "UNVALIDATED")  # the outcomes whose artifact was moved into --out


def add_arguments(p) -> None:
    from imdb_edge.export.formats import FORMATS, MODES, ON_MISMATCH, TARGETS
    from imdb_edge.export.plan import ExportOptions

    defaults = ExportOptions()
    p.add_argument("--format", action="append", choices=(*FORMATS, "all"),
                   help="artifact format; repeat for several (default: all = "
                   f"{', '.join(FORMATS)})")
    p.add_argument("--quantize", nargs="+", choices=MODES, metavar="MODE",
                   help=f"modes to build: {', '.join(MODES)} (default: every mode the format "
                   "supports; int16x8 is TFLite-only, numpy is float32-only)")
    p.add_argument("--model", help="trained Keras model: a .keras or .h5 file (Keras 2 or 3) or a "
                   "Keras 2 SavedModel folder; read without running code from it (default: the "
                   "reference model shipped with imdb-edge)")
    p.add_argument("--out", default=defaults.out, help="output folder (default: %(default)s)")
    p.add_argument("--data", help="dataset for calibration and validation, as for `train` "
                   "(default: $IMDB_EDGE_DATA, else the Keras download)")
    p.add_argument("--batch", nargs="+", type=int, default=list(defaults.batches), metavar="N",
                   help="TFLite batch sizes to build, one artifact each (default: "
                   f"{' '.join(map(str, defaults.batches))}); ONNX and numpy artifacts take any batch")
    p.add_argument("--calibration", type=int, default=defaults.calibration, metavar="N",
                   help="training reviews used to calibrate int8/int16x8 (default: %(default)s)")
    p.add_argument("--validate", type=int, default=defaults.validate, metavar="N",
                   help="test reviews compared with Keras, plus edge cases (default: %(default)s)")
    p.add_argument("--no-validate", action="store_true", help="skip the comparison with Keras")
    p.add_argument("--target", action="append", choices=TARGETS,
                   help="runtime each artifact must load on; repeat for several "
                   "(default: litert and tflite-runtime-2.14 for TFLite, onnxruntime for ONNX)")
    p.add_argument("--on-mismatch", choices=ON_MISMATCH, default=defaults.on_mismatch,
                   help="when an artifact would not load on a target: refuse it or warn (default: %(default)s)")
    p.add_argument("--int8-io", action="store_true",
                   help="give TFLite int8 artifacts an int8 output tensor (input ids stay int32)")
    p.add_argument("--sign-key", metavar="KEY",
                   help="sign each published artifact with its sidecar and vocab.txt into "
                   "X.sig with this private key (PEM, elliptic curve; needs the [sign] "
                   "extra); `score --verify-key` then refuses anything else")
    add_convention_flags(p)


def add_convention_flags(p) -> None:
    """How the model's training rows were made from words; the defaults are the notebook's
    (keras.datasets.imdb rows, first ids kept, padded at the end)."""
    from imdb_edge.runtime.text import NOTEBOOK, SIDES, UNKNOWN_POLICIES

    g = p.add_argument_group("preprocessing the model was trained with (recorded in each sidecar)")
    g.add_argument("--unknown-words", choices=UNKNOWN_POLICIES, default=NOTEBOOK.unknown_words,
                   help="words missing from the vocabulary: drop them, as imdb.npz does, or "
                   "write the OOV id 2 (default: %(default)s)")
    g.add_argument("--out-of-range-id", type=int, choices=(0, 2), default=NOTEBOOK.out_of_range_id,
                   help="what ids >= the vocabulary size become: 0, as the notebook's padding "
                   "does, or 2, as load_data(num_words=N) does (default: %(default)s)")
    g.add_argument("--truncating", choices=SIDES, default=NOTEBOOK.truncating,
                   help="which ids a long review keeps: post = the first, pre = the last "
                   "(keras.utils.pad_sequences' default) (default: %(default)s)")
    g.add_argument("--padding", choices=SIDES, default=NOTEBOOK.padding,
                   help="where a short review is padded: post = at the end, pre = at the front "
                   "(keras.utils.pad_sequences' default) (default: %(default)s)")


def convention_of(args):
    from imdb_edge.runtime.text import Convention

    return Convention(unknown_words=args.unknown_words, out_of_range_id=args.out_of_range_id,
                      truncating=args.truncating, padding=args.padding)


def run(args) -> int:
    from imdb_edge import signing

    if args.sign_key:
        signing.signer(args.sign_key)  # a key that cannot sign is refused before the export
    quiet_tensorflow()
    from imdb_edge.export.formats import FORMATS
    from imdb_edge.export.pipeline import ExportOptions, export

    formats = tuple(FORMATS) if not args.format or "all" in args.format \
        else tuple(dict.fromkeys(args.format))
    if args.calibration < 1 or args.validate < 1:
        raise UsageError("--calibration and --validate must be at least 1 (use --no-validate to skip)")
    options = ExportOptions(out=args.out, formats=formats,
                            modes=tuple(args.quantize) if args.quantize else None,
                            batches=tuple(dict.fromkeys(args.batch)), data=args.data,
                            calibration=args.calibration,
                            validate=0 if args.no_validate else args.validate,
                            targets=tuple(args.target) if args.target else None,
                            on_mismatch=args.on_mismatch, int8_io=args.int8_io,
                            convention=convention_of(args))
    if args.model:
        options.model = args.model
    outcomes = export(options, log=_log)
    published = [Path(args.out) / o.artifact for o in outcomes if o.status in PUBLISHED]
    for signature in signing.sign_published(published, args.sign_key):
        _log(f"signed {signature.name}")
    print(format_table(outcomes))
    return 0 if all(o.status in PUBLISHED for o in outcomes) else 1


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def format_table(outcomes) -> str:
    """A Markdown table: artifact, size, ops, error, agreement, accuracy delta, runtimes."""
    lines = ["| artifact | status | size | ops | max abs err | agreement | acc delta (pts) | loads on |",
             "|---|---|---:|---|---:|---:|---:|---|"]
    for o in outcomes:
        p = o.parity or {}
        ok = [t for t, v in o.runtimes.items() if v == "ok"]
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
            o.artifact, o.status, f"{o.size_bytes / 1024:.0f} KB" if o.size_bytes else "-",
            o.ops or "-", f"{p['max_abs']:.2e}" if p else "-",
            f"{100 * p['agreement']:.2f}%" if p else "-",
            f"{p['accuracy_delta_points']:+.2f}" if p.get("accuracy_delta_points") is not None else "-",
            ", ".join(ok) or "-"))
    problems = [f"- {o.artifact}: {'; '.join(o.problems)}" for o in outcomes if o.problems]
    return "\n".join(lines + ([""] + problems if problems else []))
