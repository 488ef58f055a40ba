"""Inspect and gate a converted artifact before it is staged: what it asks of each runtime,
whether every target can load it, and whether it agrees with the sidecar written for it.

Both checks run with and without --no-validate: an artifact a target cannot load, or one
whose sizes disagree with its sidecar, is never published.
"""
from __future__ import annotations

import dataclasses

from imdb_edge.export import compat
from imdb_edge.export.formats import FORMATS, exporter


@dataclasses.dataclass
class Inspection:
    ops: list              # the op list the sidecar records
    runtimes: dict         # target -> "ok" or why it will not load there

    def summary(self) -> str:
        top = sorted(self.ops, key=lambda o: -o.get("count", 0))[:4]
        return f"{len(self.ops)} kinds: " + ", ".join(
            f"{o['name']}x{o.get('count', 0)}" for o in top)


def inspect(fmt: str, data: bytes) -> Inspection:
    """The artifact's ops and a verdict for every runtime its format is checked on."""
    return Inspection(*exporter(fmt).inspect(data))


def gate(fmt: str, inspection: Inspection, targets, on_mismatch: str) -> list:
    """Warnings for the targets that cannot load the artifact under ``on_mismatch`` "warn";
    raises compat.IncompatibleArtifact under "error". ``targets`` None: the format's own."""
    required = [t for t in (targets or FORMATS[fmt].targets) if t in inspection.runtimes]
    return [f"warning: {w}" for w in
            compat.enforce(inspection.runtimes, required, on_mismatch=on_mismatch)]


def sizes_problem(length: int, tables: list, sidecar) -> str:
    """How an artifact's input length or embedding table differs from its sidecar's max_len
    and vocab_size ('' when they agree), for formats that expose their tensor shapes."""
    pre = sidecar.preprocessing
    if length != pre.max_len:
        return f"input length {length}, sidecar max_len {pre.max_len}"
    if (pre.vocab_size, sidecar.model["embed_dim"]) not in [tuple(t) for t in tables]:
        return f"no ({pre.vocab_size}, {sidecar.model['embed_dim']}) embedding table for the " \
               "sidecar's vocab_size"
    return ""
