"""The network written out in numpy: no inference library at all, and the reference the
other backends are compared with.

Keras LSTM semantics: gates in order i, f, c, o; recurrent activation the sidecar's gate
(sigmoid, or Keras 2's hard_sigmoid, imdb_edge.spec); activation SOFTMAX over the units (so the final state sums to ~1 and is read as attention weights over
the time steps; units == max_len). Everything is float32, like Keras, so results match it
to ~1e-6. ``threads`` limits numpy's BLAS threads during each call (default 1).
"""
from __future__ import annotations

import io

import numpy as np

from imdb_edge.spec import ModelSpec, gate_function, sigmoid

from ..sidecar import ArtifactError, Sidecar
from ._blas import BlasThreads
from ._common import Backend
from ._npz import check_members

NAMES = ("embedding", "kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")


class NumpyBackend(Backend):
    name = "numpy"
    batch = None
    chunk = 64  # keeps the (chunk, max_len, embed) gather small on a Pi

    @classmethod
    def library(cls):
        return np

    def __init__(self, model_bytes: bytes, sidecar: Sidecar, threads=None):
        self._w = load_weights(model_bytes, sidecar)
        self._threads = threads or 1  # BLAS threads per call: one unless told otherwise
        self._blas = BlasThreads()
        spec = model_spec(sidecar)
        self._gate = gate_function(spec.gate if spec else "sigmoid")

    def run(self, ids: np.ndarray) -> np.ndarray:
        with self._blas(self._threads):
            return forward(ids, **self._w, gate=self._gate)


def model_spec(sidecar: Sidecar):
    """The sidecar's model block as a ModelSpec, checked against its preprocessing; None for
    a sidecar without one (a sigmoid-gated model at the preprocessing's sizes)."""
    block = getattr(sidecar, "model", None)
    if block is None:
        return None
    try:
        spec = ModelSpec.from_dict(block)
    except ValueError as exc:
        raise ArtifactError(f"{sidecar.artifact}: sidecar {exc}") from None
    pre = sidecar.preprocessing
    if (spec.length, spec.vocab_size) != (pre.max_len, pre.vocab_size):
        raise ArtifactError(f"{sidecar.artifact}: sidecar model block (length {spec.length}, "
                            f"vocabulary {spec.vocab_size}) disagrees with its preprocessing "
                            f"(max_len {pre.max_len}, vocab_size {pre.vocab_size})")
    return spec


def load_weights(model_bytes: bytes, sidecar: Sidecar) -> dict:
    """The six arrays from the verified .npz bytes, checked by name, dtype and shape."""
    artifact = sidecar.artifact
    check_members(model_bytes, artifact, NAMES)  # sizes and headers, before any inflating
    try:
        # allow_pickle=False: an .npz can hold pickled objects, which run code when loaded.
        npz = np.load(io.BytesIO(model_bytes), allow_pickle=False)
        if isinstance(npz, np.ndarray):  # a bare .npy gives one array, not named ones
            raise ArtifactError(f"{artifact}: expected an .npz archive of named arrays")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except ArtifactError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile and numpy's header parser raise many
        # kinds (BadZipFile, ValueError, EOFError, tokenize.TokenError, SyntaxError, ...)
        raise ArtifactError(f"{artifact} is not a readable .npz "
                            f"({type(exc).__name__}: {exc})") from None

    missing = [n for n in NAMES if n not in arrays]
    extra = sorted(set(arrays) - set(NAMES))
    if missing or extra:
        raise ArtifactError(f"{artifact}: expected arrays {', '.join(NAMES)}; "
                            f"missing {missing or 'none'}, unexpected {extra or 'none'}")
    for name, arr in arrays.items():
        if arr.dtype.kind != "f":
            raise ArtifactError(f"{artifact}: {name} is {arr.dtype}, expected float32")
        arrays[name] = arr.astype(np.float32, copy=False)

    vocab, embed = arrays["embedding"].shape if arrays["embedding"].ndim == 2 else (None, None)
    spec = model_spec(sidecar)
    if spec is not None:
        embed = spec.embed_dim
    units = sidecar.preprocessing.max_len  # one attention weight per time step
    expected = {"embedding": (sidecar.preprocessing.vocab_size, embed),
                "kernel": (embed, 4 * units), "recurrent_kernel": (units, 4 * units),
                "bias": (4 * units,), "dense_kernel": (embed, 1), "dense_bias": (1,)}
    for name, shape in expected.items():
        if vocab is None or arrays[name].shape != shape:
            raise ArtifactError(f"{artifact}: {name} has shape {arrays[name].shape}, "
                                f"expected {shape}")
    return arrays


def forward(ids, embedding, kernel, recurrent_kernel, bias, dense_kernel, dense_bias,
            gate=sigmoid):
    """ids int (B, T) -> probabilities float32 (B,); ``gate`` is the LSTM's recurrent
    activation (imdb_edge.spec.gate_function)."""
    e = embedding[ids]                                   # (B, T, E)
    batch, steps, _ = e.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units), np.float32)
    c = np.zeros((batch, units), np.float32)
    for t in range(steps):
        # The input projection is done per step, not for all steps at once: (B, T, 4U)
        # float32 would be 164 MB for a chunk of 256 on a device with 1 GB.
        z = e[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = np.split(z, 4, axis=1)
        c = gate(f) * c + gate(i) * softmax(g)
        h = gate(o) * softmax(c)
    pooled = np.einsum("bte,bt->be", e, h)              # final state as attention over steps
    return sigmoid(pooled @ dense_kernel + dense_bias)[:, 0]


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
