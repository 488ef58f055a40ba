"""ONNX through onnxruntime (``pip install "imdb-edge[onnx]"``), CPU execution provider."""
from __future__ import annotations

import numpy as np

from imdb_edge.helpers import one_line

from ..sidecar import ArtifactError, Sidecar
from ._common import (Backend, batch_of, check_io, check_ops, check_table, output_quantization,
                      pick, probabilities)
from ._onnx_external import MalformedModel, external_tensors
from ._onnx_graph import summary

_DTYPES = {"tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(float)": np.float32,
           "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
           "tensor(float16)": np.float16}


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    @classmethod
    def library(cls):
        import onnxruntime

        return onnxruntime

    def __init__(self, model_bytes: bytes, sidecar: Sidecar, threads=None):
        ort = self.library()
        artifact = sidecar.artifact
        try:
            external = external_tensors(model_bytes)
        except MalformedModel as exc:
            raise ArtifactError(f"{artifact} is not a valid ONNX model ({exc})") from None
        if external:
            raise ArtifactError(f"{artifact} keeps tensors in external data files "
                                f"({', '.join(external[:3])}); this runtime loads only "
                                "self-contained models whose every byte the sidecar hash covers")
        try:
            graph = summary(model_bytes)
        except MalformedModel as exc:
            raise ArtifactError(f"{artifact} is not a valid ONNX model ({exc})") from None
        check_table(graph["table"], sidecar, artifact)
        check_ops(graph["ops"], sidecar, artifact, exact=True)

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no warnings on the user's terminal
        # One thread unless asked: this model's per-step matrices are too small to split,
        # so thread hand-offs only slow batch-1 calls down (benchmarks/README.md).
        options.intra_op_num_threads = threads or 1
        options.inter_op_num_threads = 1
        try:
            # The verified bytes, not the path: the file is never opened again.
            self._session = ort.InferenceSession(model_bytes, sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ArtifactError(f"onnxruntime cannot load {artifact}: {exc}") from None

        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        model_input = inputs[pick([i.name for i in inputs], sidecar.input.name, "input", artifact)]
        output = outputs[pick([o.name for o in outputs], sidecar.output.name, "output", artifact)]
        self._input_name, self._output_name = model_input.name, output.name
        self.batch = batch_of(model_input.shape, sidecar.preprocessing.max_len, artifact, sidecar)
        self._dtype = _DTYPES.get(model_input.type)
        if self._dtype is None or np.dtype(self._dtype).kind not in "iuf":
            raise ArtifactError(f"{artifact}: model input type {model_input.type} cannot hold ids")
        out_dtype = _DTYPES.get(output.type)
        if out_dtype is None:
            raise ArtifactError(f"{artifact}: unsupported output type {output.type}")
        check_io(sidecar, artifact, self._dtype, out_dtype, output.shape)
        self._quant = output_quantization(sidecar.output, out_dtype, None, artifact)
        self._artifact = artifact

    def run(self, ids: np.ndarray) -> np.ndarray:
        feed = {self._input_name: np.ascontiguousarray(ids, dtype=self._dtype)}
        try:
            out = self._session.run([self._output_name], feed)[0]
        except Exception as exc:  # onnxruntime's Fail/InvalidArgument/... derive from Exception
            # The ids were checked, so a failing node means a malformed model.
            raise ArtifactError(f"onnxruntime cannot run {self._artifact}: "
                                f"{one_line(exc, limit=None)}") from None
        return probabilities(out, ids.shape[0], self._quant)
