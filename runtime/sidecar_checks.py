"""Every field check a sidecar gets, run by ``parse_sidecar``: whoever reads a sidecar gets
one that is complete, in range and consistent with this runtime, or an ArtifactError."""
from __future__ import annotations

from . import text
from .sidecar import ArtifactError

MAX_FILE_BYTES = 1 << 40  # a size in a sidecar above this is not a file this runtime reads
# Conventions this runtime encodes with; an artifact made with others would get other ids.
RUNTIME_CONSTANTS = {"pad_id": text.PAD_ID, "start_id": text.START_ID, "oov_id": text.OOV_ID,
                     "index_from": text.INDEX_FROM, "tokenizer_version": text.TOKENIZER_VERSION}


def check_fields(sidecar, where: str) -> None:
    """Raise ArtifactError naming the first field that is wrong."""
    _check_preprocessing(sidecar.preprocessing, where)
    _check_sizes(sidecar, where)
    _check_labels(sidecar, where)
    _check_tensors(sidecar, where)


def _check_preprocessing(pre, where: str) -> None:
    for field, value in RUNTIME_CONSTANTS.items():
        if getattr(pre, field) != value:
            raise ArtifactError(f"{where}: preprocessing {field} is {getattr(pre, field)!r}, this "
                                f"runtime encodes with {value!r}; use a matching imdb-edge version")
    try:
        pre.convention
    except ValueError as exc:
        raise ArtifactError(f"{where}: preprocessing {exc}; re-export the artifact") from None
    for field in ("max_len", "vocab_size"):
        value = getattr(pre, field)
        if not _is_int(value) or value < 1:
            raise ArtifactError(f"{where}: preprocessing {field} must be a positive integer, "
                                f"got {value!r}")


def _check_sizes(sidecar, where: str) -> None:
    sizes = [("size_bytes", sidecar.size_bytes)]
    if sidecar.preprocessing.vocabulary_size_bytes is not None:  # absent in older sidecars
        sizes.append(("vocabulary_size_bytes", sidecar.preprocessing.vocabulary_size_bytes))
    for name, size in sizes:
        if not _is_int(size) or not 0 <= size <= MAX_FILE_BYTES:
            raise ArtifactError(f"{where}: {name} must be a file size in bytes (0 to "
                                f"{MAX_FILE_BYTES}), got {_short(size)}")
    if sidecar.batch is not None and (not _is_int(sidecar.batch) or sidecar.batch < 1):
        raise ArtifactError(f"{where}: batch must be a positive integer or null, "
                            f"got {sidecar.batch!r}")


def _check_labels(sidecar, where: str) -> None:
    # Two labels, told apart: an empty or repeated one would print every review alike.
    labels = sidecar.labels
    if not (isinstance(labels, list) and len(labels) == 2 and
            all(isinstance(label, str) and label.strip() for label in labels) and
            labels[0] != labels[1]):
        raise ArtifactError(f"{where}: labels must be two different names [negative, "
                            f"positive], got {_short(labels)}")
    threshold = sidecar.threshold
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or \
            not 0 < threshold < 1:  # NaN fails this too
        raise ArtifactError(f"{where}: threshold must be a number between 0 and 1 "
                            f"(exclusive), got {_short(threshold)}")


def _check_tensors(sidecar, where: str) -> None:
    for name, spec in (("input", sidecar.input), ("output", sidecar.output)):
        if not isinstance(spec.shape, list) or not all(
                d is None or (_is_int(d) and 0 < d < 1 << 31) for d in spec.shape):
            raise ArtifactError(f"{where}: {name} shape must be a list of sizes or null, "
                                f"got {_short(spec.shape)}")
        if not isinstance(spec.dtype, str):
            raise ArtifactError(f"{where}: {name} dtype must be a string, got {_short(spec.dtype)}")
    max_len = sidecar.preprocessing.max_len
    if sidecar.input.shape[-1:] != [max_len] or len(sidecar.input.shape) != 2:
        raise ArtifactError(f"{where}: input shape {sidecar.input.shape} is not "
                            f"[batch, max_len {max_len}]")
    scale, zero_point = sidecar.output.scale, sidecar.output.zero_point
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))
                              or not 0 < scale < 1e6):
        raise ArtifactError(f"{where}: output scale must be a positive number, got {_short(scale)}")
    if zero_point is not None and (not _is_int(zero_point)
                                   or not -(1 << 31) <= zero_point < 1 << 31):
        raise ArtifactError(f"{where}: output zero_point must be a 32-bit integer, got "
                            f"{_short(zero_point)}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else f"{shown[:40]}... ({len(shown)} characters)"
