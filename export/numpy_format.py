"""A family model -> .npz of its weights for the pure-numpy runtime backend."""
from __future__ import annotations

import io

import numpy as np

from imdb_edge.errors import UsageError
from imdb_edge.export.formats import FORMATS
from imdb_edge.export.graph import INPUT_NAME, OUTPUT_NAME, weights_of

MODES = FORMATS["numpy"].modes
INT8_FLOAT_OPS = ()  # float32 only


def convert_numpy(model, *, quantize: str = "float32") -> bytes:
    """The six weight arrays (names as in ``graph.Weights``), float32, no pickles."""
    if quantize not in MODES:
        raise UsageError("the numpy format holds float32 weights only; use --quantize float32")
    buffer = io.BytesIO()
    np.savez(buffer, **weights_of(model).as_arrays())
    return buffer.getvalue()


def convert(model, job, calibration) -> bytes:
    return convert_numpy(model, quantize=job.mode)


def inspect(data: bytes):
    return [], {"numpy": "ok"}  # the weights are loaded below, by sidecar_problem


def io_specs(data: bytes, spec):
    from imdb_edge.runtime.sidecar import TensorSpec

    return (TensorSpec(INPUT_NAME, [None, spec.length], "int32"),
            TensorSpec(OUTPUT_NAME, [None], "float32"))


def sidecar_problem(data: bytes, sidecar) -> str:
    """'' when the numpy backend loads the weights under this sidecar, else its refusal."""
    from imdb_edge.runtime.backends.numpy_ref import load_weights
    from imdb_edge.runtime.sidecar import ArtifactError

    try:
        load_weights(data, sidecar)
    except ArtifactError as exc:
        return str(exc)
    return ""
