"""The reference network rewritten as explicit ops that every converter understands.

``LSTM(activation='softmax')`` can be neither the fused TFLite LSTM op nor the ONNX LSTM op
(both fix tanh), and Keras' own loop reads its input through TensorList ops that the TFLite
converter rejects. Here the recurrence is a plain ``tf.while_loop`` over (h, c) whose body
holds only GATHER, FULLY_CONNECTED, ADD, MUL, LOGISTIC, SOFTMAX, SPLIT and slicing, and the
head after it only BATCH_MATMUL, reshaping, ADD and LOGISTIC: builtin ops in TFLite and
standard ops in ONNX, with the weights stored once.

The step reads its token with one GATHER of column t of the ids, which ride through the
loop as an int32 pass-through loop variable. The two other readings are slower
(benchmarks/README.md, "Graph variants"): ``ids[:, t]`` is a STRIDED_SLICE whose begin
and end TFLite builds with two PACKs every step, and rotating the ids by one position per
step to read column 0 adds slices and a concatenation to every step. Rotation guarded
against TensorFlow #75140 (TFLite's WHILE frees pass-through outputs, and the calibrator
segfaults reading them); the int8 calibrator converts this graph without it, presumably
because it logs float tensors and the ids are int32.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from imdb_edge.spec import HARD_SIGMOID_OFFSET, HARD_SIGMOID_SLOPE, ModelSpec

INPUT_NAME = "ids"
OUTPUT_NAME = "probability"
HEAD_SCOPE = "head"  # name scope of the ops after the loop; ONNX int8 excludes it by name
GATE_SCOPE = "hard_sigmoid"  # name scope of each Keras 2 gate; ONNX makes it one HardSigmoid


@dataclasses.dataclass(frozen=True)
class Weights:
    """The trained parameters, in Keras layout (gate order i, f, c, o); shapes as
    ``ModelSpec.shapes()``: vocabulary V, embedding width E, units U = sequence length."""
    embedding: np.ndarray         # (V, E)
    kernel: np.ndarray            # (E, 4U)
    recurrent_kernel: np.ndarray  # (U, 4U)
    bias: np.ndarray              # (4U,)
    dense_kernel: np.ndarray      # (E, 1)
    dense_bias: np.ndarray        # (1,)

    def as_arrays(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def loaded(model):
    """``model`` as an intake.LoadedModel (spec and weights): one already read from a file,
    or a Keras 3 model object, read by layer type like a file."""
    from imdb_edge.export import intake

    return model if isinstance(model, intake.LoadedModel) else intake.from_keras(model)


def weights_of(model) -> Weights:
    return loaded(model).weights


def inference_function(weights: Weights, spec: ModelSpec, batch: int | None, *,
                       unroll: bool = False):
    """A ``tf.function`` ids (batch, length) int32 -> {"probability": (batch, 1) float32}.

    ``batch`` fixes the batch dimension (TFLite needs static shapes); None leaves it dynamic.
    ``unroll`` repeats the step ``length`` times instead of looping: a larger graph (about 2,400
    ops), needed where a quantizer cannot see inside a WHILE body (TFLite's int16x8
    calibrator records no ranges for the loop's condition inputs and refuses).
    """
    import tensorflow as tf

    # Variables, not captured constants: converters freeze variables into the graph once,
    # while captured eager constants become extra graph inputs in tf2onnx.
    arrays = weights.as_arrays()
    arrays["dense_kernel"] = arrays["dense_kernel"][np.newaxis]  # (1, E, 1): broadcast matmul
    embedding, kernel, recurrent, bias, dense_kernel, dense_bias = (
        tf.Variable(a, trainable=False, name=name) for name, a in arrays.items())
    shapes = {name: tuple(a.shape) for name, a in weights.as_arrays().items()}
    if shapes != spec.shapes():  # intake checked this; a mismatch here is a bug
        raise AssertionError(f"weights {shapes} do not match the spec {spec.shapes()}")
    units, length = spec.units, spec.length
    gate = _gate(spec.gate)

    def step(t, ids, h, c):
        x = tf.gather(embedding, tf.gather(ids, t, axis=1))          # (B, E) this step's token
        z = tf.matmul(x, kernel) + bias + tf.matmul(h, recurrent)   # (B, 4U), gates i f c o
        i, f, g, o = tf.split(z, 4, axis=1)
        c = gate(f) * c + gate(i) * tf.nn.softmax(g)
        h = gate(o) * tf.nn.softmax(c)
        return t + 1, ids, h, c

    @tf.function(input_signature=[tf.TensorSpec([batch, length], tf.int32, name=INPUT_NAME)])
    def infer(ids):
        # A static batch must stay static: the int8 calibrator needs every loop tensor's
        # shape known, or it records no range for it.
        rows = batch if batch is not None else tf.shape(ids)[0]
        zeros = tf.zeros([rows, units], tf.float32)
        # Gathered before the loop: with this order the TFLite calibrator logs every tensor.
        embedded = tf.gather(embedding, ids)                         # (B, T, E)
        state = (tf.constant(0), ids, zeros, zeros)
        if unroll:
            for _ in range(length):
                state = step(*state)
            h = state[2]
        else:
            _, _, h, _ = tf.while_loop(lambda t, *_: t < length, step, state)
        # The head Dot(embeddings, h) -> Dense(1) is linear, so it is taken as
        # h . (embeddings @ w): one score per token, then one weighted sum. Both products
        # are BATCH_MATMULs, each with its own quantization range (the pooling as an
        # int16 SUM must keep its input's scale, which clipped the int16x8 logits), and
        # int8 quantizers keep the whole head in float (export/tflite.py, export/onnx.py).
        with tf.name_scope(HEAD_SCOPE):
            scores = tf.matmul(embedded, dense_kernel)               # (B, T, 1)
            logit = tf.matmul(tf.expand_dims(h, 1), scores)[:, 0, :] + dense_bias  # (B, 1)
            probability = tf.sigmoid(logit)
        return {OUTPUT_NAME: probability}

    infer.weights = (embedding, kernel, recurrent, bias, dense_kernel, dense_bias)  # keep alive
    return infer


def _gate(name: str):
    """The LSTM's recurrent activation as TF ops. Keras 2's hard_sigmoid is written
    clip(0.2 x + 0.5, 0, 1): MUL, ADD, MINIMUM, MAXIMUM, builtin TFLite ops that
    tflite-runtime 2.14 has, and in ONNX one HardSigmoid (export/onnx.py)."""
    import tensorflow as tf

    if name == "sigmoid":
        return tf.sigmoid

    def hard_sigmoid(x):
        with tf.name_scope(GATE_SCOPE):
            return tf.minimum(tf.maximum(x * HARD_SIGMOID_SLOPE + HARD_SIGMOID_OFFSET, 0.0), 1.0)

    return hard_sigmoid
