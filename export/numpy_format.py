"""A family model -> .npz of its weights for the pure-numpy runtime backend."""
from __future__ import annotations

import io

import numpy as np

from imdb_edge.export.graph import weights_of

MODES = ("float32",)


def convert_numpy(model, *, quantize: str = "float32") -> bytes:
    """The six weight arrays (names as in ``graph.Weights``), float32, no pickles."""
    if quantize not in MODES:
        raise ValueError("the numpy format holds float32 weights only; use --quantize float32")
    buffer = io.BytesIO()
    np.savez(buffer, **weights_of(model).as_arrays())
    return buffer.getvalue()
