"""What every backend shares: finding the tensors the sidecar names, and turning the
model's output into float32 probabilities (dequantizing int8/int16 outputs)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from imdb_edge.errors import InputError

from ..sidecar import ArtifactError, Sidecar, TensorSpec


class Backend:
    name = "?"
    batch: Optional[int] = None
    chunk = 64

    @classmethod
    def library(cls):
        """Import and return the inference library; raises ImportError if it is broken."""
        raise NotImplementedError

    @classmethod
    def checked(cls) -> type:
        cls.library()
        return cls

    def run(self, ids: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def pick(names: Sequence[str], wanted: str, what: str, artifact: str) -> int:
    """Index of the tensor the sidecar names. With a single tensor a differing name is
    accepted: converters rename tensors ("ids" vs "serving_default_ids:0") and one input is
    unambiguous."""
    if wanted in names:
        return list(names).index(wanted)
    if len(names) == 1:
        return 0
    raise ArtifactError(f"{artifact}: the sidecar names {what} {wanted!r} but the model has "
                        f"{', '.join(map(repr, names))}")


def batch_of(shape: Sequence, max_len: int, artifact: str, sidecar: Sidecar) -> Optional[int]:
    """The fixed batch size from a model input shape (None if dynamic), checked against the
    sidecar so a wrong sidecar is caught at load, not as a shape error mid-run."""
    if len(shape) != 2 or shape[1] != max_len:
        raise ArtifactError(f"{artifact}: model input shape {list(shape)} is not "
                            f"(batch, {max_len})")
    batch = shape[0] if isinstance(shape[0], (int, np.integer)) and shape[0] > 0 else None
    batch = None if batch is None else int(batch)
    if batch != sidecar.batch:
        raise ArtifactError(f"{artifact}: the model takes batch {batch or 'any'} but the "
                            f"sidecar says {sidecar.batch or 'any'}; re-export the artifact")
    return batch


def output_quantization(spec: TensorSpec, dtype, model_quant: Optional[tuple],
                        artifact: str) -> Optional[tuple]:
    """(scale, zero_point) to dequantize an integer output, None for a float output.

    The sidecar's figures are used; if the interpreter reports its own they must agree."""
    if not np.issubdtype(np.dtype(dtype), np.integer):
        return None
    quant = (spec.scale, spec.zero_point) if spec.scale is not None else model_quant
    if quant is None or not quant[0]:
        raise ArtifactError(f"{artifact}: the output is {np.dtype(dtype).name} but neither the "
                            "sidecar nor the model gives its scale and zero point")
    if model_quant and model_quant[0] and not (
            np.isclose(quant[0], model_quant[0], rtol=1e-6) and quant[1] == model_quant[1]):
        raise ArtifactError(f"{artifact}: the sidecar's output scale/zero point {quant} differ "
                            f"from the model's {tuple(model_quant)}")
    return float(quant[0]), int(quant[1] or 0)


def probabilities(out, rows: int, quant: Optional[tuple]) -> np.ndarray:
    """Model output (rows, 1) -> float32 (rows,)."""
    out = np.asarray(out)
    if out.size != rows or out.shape[:1] != (rows,):
        raise ArtifactError(f"the model returned shape {out.shape}, expected ({rows}, 1)")
    out = out.reshape(rows)
    if quant is not None:
        scale, zero_point = quant
        return ((out.astype(np.float32) - np.float32(zero_point)) * np.float32(scale))
    return out.astype(np.float32, copy=False)


# The most interpreter threads a load may ask for. LiteRT crashes (SIGSEGV) with 100,000
# threads and onnxruntime spends minutes and gigabytes starting them; no device this runs
# on has more than a few dozen cores, and past the core count threads only slow it down.
MAX_THREADS = 64


def threads_or_none(threads) -> Optional[int]:
    """``threads`` as an int in [1, MAX_THREADS], or None (the backend's default)."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or \
            not 1 <= threads <= MAX_THREADS:
        raise InputError(f"threads must be a whole number from 1 to {MAX_THREADS}, "
                         f"got {threads!r}")
    return int(threads)


def check_table(table, sidecar: Sidecar, artifact: str) -> None:
    """The embedding table the ids index must have vocab_size rows: with fewer, ids the
    sidecar allows read past it; with more, words the model knows are scored as unknown."""
    vocab = sidecar.preprocessing.vocab_size
    if table is None:
        raise ArtifactError(f"{artifact}: no embedding lookup (a GATHER indexed by the input "
                            "ids) found in the model; it is not an artifact this runtime reads")
    if len(table) != 2 or int(table[0]) != vocab:
        raise ArtifactError(f"{artifact}: the model's embedding table has shape "
                            f"{[int(d) for d in table]} but the sidecar says vocab_size {vocab}; "
                            "the sidecar does not describe this model")


def check_ops(found, sidecar: Sidecar, artifact: str, exact: bool) -> None:
    """The ops the model runs against the sidecar's op list (when it has one): equal counts
    when the whole model was read (``exact``), else every op found must be listed."""
    if not sidecar.ops:
        return
    try:
        listed = {str(op["name"]): int(op.get("count", 0)) for op in sidecar.ops}
    except (TypeError, KeyError, ValueError, AttributeError):
        raise ArtifactError(f"{artifact}: the sidecar's op list is malformed") from None
    if exact:
        wrong = sorted(name for name in set(found) | {n for n, c in listed.items() if c}
                       if found.get(name, 0) != listed.get(name, 0))
    else:
        wrong = sorted(name for name in found if name not in listed)
    if wrong:
        detail = ", ".join(f"{n} (model {found.get(n, 0)}, sidecar "
                           f"{listed.get(n, 'not listed')})" for n in wrong[:4])
        raise ArtifactError(f"{artifact}: the model's ops differ from its sidecar's: {detail}")


def check_io(sidecar: Sidecar, artifact: str, input_dtype, output_dtype, output_shape) -> None:
    """The sidecar's input and output dtypes, and the output's per-row shape, are the model's."""
    for what, spec, dtype in (("input", sidecar.input, input_dtype),
                              ("output", sidecar.output, output_dtype)):
        try:
            listed = np.dtype(spec.dtype)
        except TypeError:
            raise ArtifactError(f"{artifact}: the sidecar's {what} dtype {spec.dtype!r} is not "
                                "a dtype") from None
        if listed != np.dtype(dtype):
            raise ArtifactError(f"{artifact}: the model's {what} is {np.dtype(dtype).name}, the "
                                f"sidecar says {listed.name}")
    rows = [d for d in list(output_shape)[1:]]
    if len(output_shape) not in (1, 2) or any(not isinstance(d, (int, np.integer)) or d != 1
                                              for d in rows):
        raise ArtifactError(f"{artifact}: the model's output shape {list(output_shape)} is not "
                            "(batch, 1): one probability per row")
    if list(sidecar.output.shape)[1:] != [1] * len(rows):
        raise ArtifactError(f"{artifact}: the sidecar's output shape {sidecar.output.shape} "
                            f"differs from the model's {list(output_shape)}")
