"""Inference backends: one module each, behind one small interface.

A backend class has
    name: str                # as passed to ``load(..., backend=name)``
    batch: int | None        # the batch size the model is fixed to, or None for any
    chunk: int               # rows per call when ``batch`` is None (bounds memory)
    __init__(model_bytes, sidecar, threads)   # bytes already SHA-256 checked
    run(ids) -> float32 (B,) # ids: int32 (B, max_len), already range-checked; NOT thread-safe

Modules are imported only when chosen, and availability is checked with ``find_spec``, so
listing backends never imports an inference library (or TensorFlow).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from typing import Optional

from imdb_edge.errors import ImdbEdgeError
from imdb_edge.helpers import pip_hint


class BackendError(ImdbEdgeError, ValueError):
    """The requested backend is unknown, does not run this format, or is not installed."""


@dataclasses.dataclass(frozen=True)
class BackendInfo:
    name: str
    format: str             # artifact format it runs
    package: str            # top-level package that must be installed
    extra: Optional[str]    # pip extra that installs it
    impl: str               # "module:Class" inside this package


# For each format, automatic choice goes down this list in order: the small device
# runtimes first, full TensorFlow only as a last resort (and only if already installed).
BACKENDS = (
    BackendInfo("litert", "tflite", "ai_edge_litert", "litert", "litert:LiteRTBackend"),
    BackendInfo("tflite_runtime", "tflite", "tflite_runtime", "tflite",
                "tflite_runtime:TFLiteRuntimeBackend"),
    BackendInfo("tensorflow_lite", "tflite", "tensorflow", "train",
                "tensorflow_lite:TensorFlowLiteBackend"),
    BackendInfo("onnxruntime", "onnx", "onnxruntime", "onnx", "onnxruntime:OnnxRuntimeBackend"),
    BackendInfo("numpy", "numpy", "numpy", None, "numpy_ref:NumpyBackend"),
)
NAMES = tuple(b.name for b in BACKENDS)
# Backends that import full TensorFlow: never a device's, so never chosen for a device check
# (doctor, a golden replay) or a device figure (bench) unless named.
TENSORFLOW_BACKENDS = ("tensorflow_lite",)


def is_installed(info: BackendInfo) -> bool:
    try:
        return importlib.util.find_spec(info.package) is not None
    except (ImportError, ValueError):
        return False


def available_backends(format: Optional[str] = None) -> list:
    """Names of the installed backends (for one artifact format, if given), in the order
    automatic choice tries them."""
    return [b.name for b in BACKENDS
            if (format is None or b.format == format) and is_installed(b)]


def resolve(format: str, requested: Optional[str] = None) -> type:
    """The backend class to run a ``format`` artifact: ``requested`` by name, or the first
    installed one that imports. Raises BackendError naming the pip extra to install."""
    if requested is not None:
        info = _by_name(requested)
        if info.format != format:
            raise BackendError(f"backend {requested!r} runs {info.format} artifacts, this one is "
                               f"{format}; {_listing(format)}")
        if not is_installed(info):
            raise BackendError(f"backend {requested!r} is not installed: "
                               f"{install_hint(info)} ({_listing(format)})")
        return _import(info)

    failures = []
    for info in BACKENDS:
        if info.format != format or not is_installed(info):
            continue
        try:
            return _import(info)
        except ImportError as exc:  # installed but broken (e.g. built for another numpy)
            failures.append(f"{info.name}: {exc}")
    hints = " or ".join(install_hint(b) for b in BACKENDS if b.format == format and b.extra
                        and b.extra not in ("train",))
    detail = f" (installed but failed to import: {'; '.join(failures)})" if failures else ""
    raise BackendError(f"no backend for {format} artifacts is available: {hints}{detail}")


def _by_name(name: str) -> BackendInfo:
    for info in BACKENDS:
        if info.name == name:
            return info
    raise BackendError(f"unknown backend {name!r}; choose from {', '.join(NAMES)}")


def _import(info: BackendInfo) -> type:
    module, cls = info.impl.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls).checked()


def install_hint(info: BackendInfo) -> str:
    """The pip command that brings ``info``'s backend: our extra; the base install for the
    numpy backend; TensorFlow itself for TensorFlow's interpreter, which no device extra has."""
    if info.name in TENSORFLOW_BACKENDS:
        return "pip install tensorflow"
    return pip_hint(info.extra, None if info.extra else "imdb-edge")


def _listing(format: str) -> str:
    names = available_backends(format)
    return f"installed for {format}: {', '.join(names)}" if names else \
        f"no {format} backend is installed"
