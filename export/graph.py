"""The reference network rewritten as explicit ops that every converter understands.

``LSTM(activation='softmax')`` can be neither the fused TFLite LSTM op nor the ONNX LSTM op
(both fix tanh), and Keras' own loop reads its input through TensorList ops that the TFLite
converter rejects. Here the recurrence is a plain ``tf.while_loop`` over (h, c) whose body
holds only GATHER, FULLY_CONNECTED, ADD, MUL, LOGISTIC, SOFTMAX, SPLIT and slicing, and the
head after it only BATCH_MATMUL, reshaping, ADD and LOGISTIC: builtin ops in TFLite and
standard ops in ONNX, with the weights stored once.

The step reads its token with one GATHER of column t of the ids, which ride through the
loop as an int32 pass-through loop variable. Two other readings were measured slower
(benchmarks/README.md): ``ids[:, t]`` is a STRIDED_SLICE whose begin and end TFLite
builds with two PACKs every step (1.23x the batch-1 latency), and rotating the ids by one
position per step to read column 0 (1.42x), which int8 used to do for fear of TensorFlow
issue #75140: TFLite's WHILE frees pass-through outputs and the calibrator segfaults
reading them. With TF 2.21 every int8 conversion of this graph tried completes (batch 1
and 64, float and int8 output, four calibration sets of 500 reviews, and the tests),
presumably because the calibrator logs float tensors and the ids are int32.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from imdb_edge.runtime.text import MAX_LEN

INPUT_NAME = "ids"
OUTPUT_NAME = "probability"
HEAD_SCOPE = "head"  # name scope of the ops after the loop; ONNX int8 excludes it by name


@dataclasses.dataclass(frozen=True)
class Weights:
    """The trained parameters, in Keras layout (gate order i, f, c, o)."""
    embedding: np.ndarray         # (20000, 20)
    kernel: np.ndarray            # (20, 800)
    recurrent_kernel: np.ndarray  # (200, 800)
    bias: np.ndarray              # (800,)
    dense_kernel: np.ndarray      # (20, 1)
    dense_bias: np.ndarray        # (1,)

    def as_arrays(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def weights_of(model) -> Weights:
    """Pull the parameters out of the reference Keras model, checking its structure."""
    lstm = model.get_layer("lstm")
    activation = lstm.get_config()["activation"]
    recurrent = lstm.get_config()["recurrent_activation"]
    if activation != "softmax" or recurrent != "sigmoid":
        raise ValueError(f"expected LSTM(activation='softmax', recurrent_activation='sigmoid'), "
                         f"got {activation!r}/{recurrent!r}: not the reference architecture")
    kernel, recurrent_kernel, bias = (np.asarray(w, np.float32) for w in lstm.get_weights())
    dense_kernel, dense_bias = (np.asarray(w, np.float32)
                                for w in model.get_layer("classifier").get_weights())
    embedding = np.asarray(model.get_layer("embedding").get_weights()[0], np.float32)
    return Weights(embedding, kernel, recurrent_kernel, bias, dense_kernel, dense_bias)


def inference_function(weights: Weights, batch: int | None, *, unroll: bool = False):
    """A ``tf.function`` ids (batch, 200) int32 -> {"probability": (batch, 1) float32}.

    ``batch`` fixes the batch dimension (TFLite needs static shapes); None leaves it dynamic.
    ``unroll`` repeats the step 200 times instead of looping: a larger graph (about 2,400
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
    units = weights.recurrent_kernel.shape[0]
    if units != MAX_LEN:  # the final state attends over time steps, one weight per step
        raise ValueError(f"LSTM units ({units}) must equal the sequence length ({MAX_LEN})")

    def step(t, ids, h, c):
        x = tf.gather(embedding, tf.gather(ids, t, axis=1))          # (B, E) this step's token
        z = tf.matmul(x, kernel) + bias + tf.matmul(h, recurrent)   # (B, 4U), gates i f c o
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.nn.softmax(g)
        h = tf.sigmoid(o) * tf.nn.softmax(c)
        return t + 1, ids, h, c

    @tf.function(input_signature=[tf.TensorSpec([batch, MAX_LEN], tf.int32, name=INPUT_NAME)])
    def infer(ids):
        # A static batch must stay static: the int8 calibrator needs every loop tensor's
        # shape known, or it records no range for it.
        rows = batch if batch is not None else tf.shape(ids)[0]
        zeros = tf.zeros([rows, units], tf.float32)
        # Gathered before the loop: with this order the TFLite calibrator logs every tensor.
        embedded = tf.gather(embedding, ids)                         # (B, T, E)
        state = (tf.constant(0), ids, zeros, zeros)
        if unroll:
            for _ in range(MAX_LEN):
                state = step(*state)
            h = state[2]
        else:
            _, _, h, _ = tf.while_loop(lambda t, *_: t < MAX_LEN, step, state)
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
