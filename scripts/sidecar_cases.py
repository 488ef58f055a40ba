"""The edited sidecars scripts/fuzz_sidecars.py scores, and how it judges what it got.

A case is (description, sidecar text, edited fields); the same for (sidecar, seed, index).
"""
from __future__ import annotations

import copy
import json
import math
import random

# Fields the artifact cannot confirm: the sidecar is their only record, so an edit here
# changes scores by design (a label's cut-off, the labels' names, how words become ids).
# Each with the values the runtime must accept; a score after any other value is wrong.
CONFIGURATION = {
    "threshold": lambda v: type(v) in (int, float) and 0 < v < 1,
    "labels": lambda v: (isinstance(v, list) and len(v) == 2 and len(set(v)) == 2 and
                         all(isinstance(x, str) and x.strip() for x in v)),
    "preprocessing.unknown_words": lambda v: v in ("drop", "oov"),
    "preprocessing.out_of_range_id": lambda v: type(v) is int and v in (0, 2),
    "preprocessing.truncating": lambda v: v in ("pre", "post"),
    "preprocessing.padding": lambda v: v in ("pre", "post"),
}
# Strings each string field is swapped for: other formats, quantizations, sides, rules.
ALTERNATIVES = ("tflite", "onnx", "numpy", "float16", "float32", "dynamic", "int8", "int32",
                "pre", "post", "drop", "oov", "negative", "positive", "vocab.txt")
_DELETE = object()


def leaves(value, path=()):
    """(path, value) of every node below the root, parents first."""
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield path + (key,), child
        yield from leaves(child, path + (key,))


def dotted(path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def variants(value) -> list:
    """(label, new value) edits of one JSON value: other types, edges, swaps."""
    out = [("null", None), ("string", "x"), ("list", []), ("object", {}), ("true", True)]
    if isinstance(value, bool):
        out.append(("negated", not value))
    elif isinstance(value, int):
        out += [(f"= {v!r}", v) for v in (0, -1, value + 1, value - 1, value + 2, 2 ** 31,
                                          2 ** 63, 10 ** 30, value + 0.5, float(value))]
    elif isinstance(value, float):
        out += [(f"= {v!r}", v) for v in (0.0, -value, value * (1 + 1e-6), math.nan, math.inf,
                                          -math.inf, 1e308, 1, round(value + 0.1, 6))]
    elif isinstance(value, str):
        out += [("empty", ""), ("suffixed", value + "x")]
        out += [(f"= {s!r}", s) for s in ALTERNATIVES if s != value]
    elif isinstance(value, list) and value:
        out += [("cut", value[:-1]), ("doubled", value + value[-1:]), ("reversed", value[::-1])]
    elif isinstance(value, dict):
        out.append(("extra key", dict(value, unexpected=1)))
    seen, kept = set(), []
    for label, new in out:  # each distinct new value once, and never the value itself
        key = (type(new).__name__, repr(new))
        if key not in seen and (type(new) is not type(value) or new != value):
            seen.add(key)
            kept.append((label, new))
    return kept


def field_cases(sidecar: dict) -> list:
    """Every structured edit: each node with each of its variants, or deleted."""
    cases = [("extra top-level key", dict(sidecar, unexpected=1), ["unexpected"])]
    for path, value in leaves(sidecar):
        edits = variants(value)
        if isinstance(_get(sidecar, path[:-1]), dict):
            edits.append(("deleted", _DELETE))
        for label, new in edits:
            edited = copy.deepcopy(sidecar)
            container = _get(edited, path[:-1])
            if new is _DELETE:
                del container[path[-1]]
            else:
                container[path[-1]] = new
            cases.append((f"{dotted(path)} {label}", edited, [dotted(path)]))
    return [(desc, json.dumps(value, indent=2), fields) for desc, value, fields in cases]


def _get(value, path):
    for key in path:
        value = value[key]
    return value


def text_case(original: str, sidecar: dict, seed: int, index: int) -> tuple:
    """One seeded edit of the sidecar's text: a digit changed, a character deleted,
    inserted or doubled. Its fields: those whose parsed values changed (None: not JSON)."""
    rng = random.Random(f"{seed}:{index}")  # str seeds hash with SHA-512: stable
    digits = [i for i, c in enumerate(original) if c.isdigit()]
    text = original
    while text == original:
        kind = rng.choice(("digit", "digit", "delete", "insert", "double"))
        at = rng.choice(digits) if kind == "digit" else rng.randrange(len(original))
        new = {"digit": lambda: str((int(original[at]) + rng.randrange(1, 10)) % 10),
               "delete": lambda: "",
               "insert": lambda: rng.choice('0123456789-.,:"[]{}e ') + original[at],
               "double": lambda: original[at] * 2}[kind]()
        text = original[:at] + new + original[at + 1:]
    try:
        edited = json.loads(text)
    except ValueError:
        return f"text {kind}@{at}", text, None
    return f"text {kind}@{at}", text, changed_fields(sidecar, edited)


def changed_fields(old, new, path=()) -> list:
    """Dotted paths whose values differ between two JSON values (added and removed too)."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [k for k in new if k not in old]
        return [f for k in keys for f in (changed_fields(old[k], new[k], path + (k,))
                if k in old and k in new else [dotted(path + (k,))])]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [f for i, (a, b) in enumerate(zip(old, new))
                for f in changed_fields(a, b, path + (i,))]
    return [] if type(old) is type(new) and old == new else [dotted(path)]


def all_cases(sidecar_text: str, mode: str, n: int, seed: int, artifact_mutants: int) -> list:
    """Field edits, then ``n`` text edits; in signed mode, then artifact mutants too (their
    text is None: the worker builds it from the mutant's hash)."""
    sidecar = json.loads(sidecar_text)
    cases = field_cases(sidecar) + [text_case(sidecar_text, sidecar, seed, i) for i in range(n)]
    if mode == "signed":
        cases += [(f"artifact mutant {i}", None, ["sha256", "size_bytes"])
                  for i in range(artifact_mutants)]
    return cases


def judge(got, expected, fields, text: str) -> str:
    """"same", "follows" (every edited field is configuration, and its new value is one the
    runtime should accept) or "wrong"."""
    if got == expected:
        return "same"
    roots = [next((c for c in CONFIGURATION if f == c or f.startswith((c + ".", c + "["))),
                  None) for f in fields or ()]
    if not roots or None in roots:
        return "wrong"
    try:
        edited = json.loads(text)
        legal = all(CONFIGURATION[root](_get(edited, root.split("."))) for root in set(roots))
    except (KeyError, IndexError, TypeError):  # the field was deleted or its parent replaced
        legal = False
    return "follows" if legal else "wrong"
