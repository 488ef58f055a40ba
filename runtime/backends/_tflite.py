"""The TFLite interpreter wrapper shared by litert, tflite_runtime and tensorflow_lite: the
three packages expose the same Interpreter API and differ only in where it is imported from."""
from __future__ import annotations

import numpy as np

from imdb_edge.helpers import one_line

from ..sidecar import ArtifactError, Sidecar
from ._common import (Backend, batch_of, check_io, check_ops, check_table, output_quantization,
                      pick, probabilities)


class TFLiteBackend(Backend):
    def __init__(self, model_bytes: bytes, sidecar: Sidecar, threads=None):
        interpreter_class = self.library()
        artifact = sidecar.artifact
        max_len = sidecar.preprocessing.max_len
        try:
            # model_content: the verified bytes; the file is never opened again.
            self._interpreter = interpreter_class(model_content=model_bytes, num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ArtifactError(f"{self.name} cannot load {artifact}: {exc}") from None

        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        self._input = inputs[pick([d["name"] for d in inputs], sidecar.input.name, "input",
                                  artifact)]
        output = outputs[pick([d["name"] for d in outputs], sidecar.output.name, "output",
                              artifact)]
        self._output_index = output["index"]

        signature = self._input.get("shape_signature", self._input["shape"])
        self.batch = batch_of([int(n) for n in signature], max_len, artifact, sidecar)
        self._dtype = np.dtype(self._input["dtype"])
        if self._dtype.kind not in "iuf":
            raise ArtifactError(f"{artifact}: model input dtype {self._dtype} cannot hold ids")
        self._rows = int(self._input["shape"][0])
        check_io(sidecar, artifact, self._dtype, output["dtype"],
                 [int(n) for n in output.get("shape_signature", output["shape"])])
        table, ops = self._graph(self._input["index"])
        check_table(table, sidecar, artifact)
        # The interpreter lists the first subgraph's ops only (a WHILE body is another
        # subgraph), and ops it handed to a delegate as one DELEGATE node.
        check_ops(ops, sidecar, artifact, exact=False)
        scale, zero_point = output.get("quantization", (0.0, 0))
        self._quant = output_quantization(sidecar.output, output["dtype"],
                                          (scale, zero_point) if scale else None, artifact)
        self._max_len = max_len
        self._artifact = artifact

    def _graph(self, input_index: int):
        """(shape of the table the GATHER on the input ids reads, {op name: count})."""
        interpreter = self._interpreter
        try:
            nodes = interpreter._get_ops_details()  # no public API lists a model's ops
        except AttributeError:
            raise ArtifactError(f"{self.name} cannot list the ops of a model; use another "
                                "TFLite backend") from None
        shapes = {t["index"]: [int(d) for d in t["shape"]]
                  for t in interpreter.get_tensor_details()}
        ops = {}
        for node in nodes:
            if node["op_name"] != "DELEGATE":
                ops[node["op_name"]] = ops.get(node["op_name"], 0) + 1
        tables = [shapes.get(int(node["inputs"][0])) for node in nodes
                  if node["op_name"] == "GATHER" and len(node["inputs"]) >= 2
                  and int(node["inputs"][1]) == input_index]
        tables = [t for t in tables if t is not None and len(t) == 2]
        return (max(tables, key=lambda t: t[0] * t[1]) if tables else None), ops

    def run(self, ids: np.ndarray) -> np.ndarray:
        rows = ids.shape[0]
        interpreter = self._interpreter
        index = self._input["index"]
        try:
            if rows != self._rows:  # only for dynamic-batch models; Model pads fixed ones
                self._rows = None  # until the resize has succeeded
                interpreter.resize_tensor_input(index, [rows, self._max_len], strict=True)
                interpreter.allocate_tensors()
                self._rows = rows
            interpreter.set_tensor(index, np.ascontiguousarray(ids, dtype=self._dtype))
            interpreter.invoke()
            out = interpreter.get_tensor(self._output_index)
        except (ValueError, RuntimeError) as exc:
            # The ids were checked, so a failing kernel means a malformed model (one whose
            # sidecar was re-signed after it was damaged): say so in one line.
            raise ArtifactError(f"{self.name} cannot run {self._artifact}: "
                                f"{one_line(exc, limit=None)}") from None
        return probabilities(out, rows, self._quant)
