"""The graph variants that benchmarks/while_loop_variants.py times: each a tf.function
ids (batch, length) -> {"probability": (batch, 1)} built from an exported model's weights
(the variants are described in that script's docstring)."""
from __future__ import annotations

VARIANTS = ("export", "rotated_ids", "ids_by_slice", "input_precomputed", "gates_ifo",
            "fused_step", "empty_loop", "recurrent_fc_only", "unrolled",
            "unrolled_input_precomputed")


def build(kind: str, source, batch: int = 1):
    """A tf.function ids (batch, length) -> {"probability": (batch, 1)} for one variant of
    ``source`` (an export.intake.LoadedModel: spec and weights)."""
    import tensorflow as tf

    from imdb_edge.export.graph import INPUT_NAME, inference_function

    if kind in ("export", "unrolled"):
        return inference_function(source.weights, source.spec, batch, unroll=kind == "unrolled")
    v = _variables(source, batch, ifo=kind in ("gates_ifo", "fused_step"))
    body = BODIES[kind]

    @tf.function(input_signature=[tf.TensorSpec([batch, v.steps], tf.int32, name=INPUT_NAME)])
    def infer(ids):
        return body(v, ids)

    infer.weights = v.weights
    return infer


def _variables(source, batch: int, ifo: bool):
    """The weights as tf.Variables, with the sizes the bodies need; ``ifo`` adds the gate
    columns reordered i, f, o, g (the three sigmoid gates side by side)."""
    import types

    import numpy as np
    import tensorflow as tf

    w = source.weights
    v = types.SimpleNamespace(steps=source.spec.length, units=w.recurrent_kernel.shape[0],
                              batch=batch)
    names = ("emb", "kernel", "rec", "bias", "dk", "db")
    for name, array in zip(names, w.as_arrays().values()):
        setattr(v, name, tf.Variable(array, trainable=False, name=name))
    if ifo:
        u = v.units
        order = np.r_[0:2 * u, 3 * u:4 * u, 2 * u:3 * u]
        stacked = np.concatenate([w.kernel, w.recurrent_kernel])
        for name, array in (("kernel_ifo", w.kernel), ("rec_ifo", w.recurrent_kernel),
                            ("bias_ifo", w.bias), ("stacked", stacked)):
            setattr(v, name, tf.Variable(array[..., order], trainable=False, name=name))
        names += ("kernel_ifo", "rec_ifo", "bias_ifo", "stacked")
    v.weights = tuple(getattr(v, name) for name in names)
    return v


def _gates(z, c):
    import tensorflow as tf

    i, f, g, o = tf.split(z, 4, axis=1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.nn.softmax(g)
    return tf.sigmoid(o) * tf.nn.softmax(c), c


def _gates_ifo(v, z, c):
    import tensorflow as tf

    sig, g = tf.split(z, [3 * v.units, v.units], axis=1)
    i, f, o = tf.split(tf.sigmoid(sig), 3, axis=1)
    c = f * c + i * tf.nn.softmax(g)
    return o * tf.nn.softmax(c), c


def _head(v, e, h):
    import tensorflow as tf

    from imdb_edge.export.graph import OUTPUT_NAME

    pooled = tf.reduce_sum(e * tf.expand_dims(h, -1), axis=1)
    return {OUTPUT_NAME: tf.sigmoid(tf.matmul(pooled, v.dk) + v.db)}


def _loop(v, step, *state):
    """tf.while_loop over the steps; the final state without the counter."""
    import tensorflow as tf

    return tf.while_loop(lambda t, *_: t < v.steps, step, (tf.constant(0), *state))[1:]


def _empty_loop(v, ids):
    import tensorflow as tf

    from imdb_edge.export.graph import OUTPUT_NAME

    (h,) = _loop(v, lambda t, h: (t + 1, h + 1.0), tf.zeros([v.batch, v.units]))
    return {OUTPUT_NAME: tf.reduce_sum(h, axis=1, keepdims=True)}


def _recurrent_fc_only(v, ids):
    import tensorflow as tf

    from imdb_edge.export.graph import OUTPUT_NAME

    h0 = tf.zeros([v.batch, v.units]) + tf.cast(ids[:, :1], tf.float32) * 0.0  # uses the input
    (h,) = _loop(v, lambda t, h: (t + 1, tf.matmul(h, v.rec)[:, :v.units]), h0)
    return {OUTPUT_NAME: tf.reduce_sum(h, axis=1, keepdims=True)}


def _precomputed_input(v, e):
    """x @ kernel + bias for every step at once: (B, T, 4U)."""
    import tensorflow as tf

    return tf.reshape(tf.matmul(tf.reshape(e, [-1, e.shape[-1]]), v.kernel) + v.bias,
                      [v.batch, v.steps, 4 * v.units])


def _unrolled_input_precomputed(v, ids):
    import tensorflow as tf

    e = tf.gather(v.emb, ids)
    xz = _precomputed_input(v, e)
    h = c = tf.zeros([v.batch, v.units])
    for t in range(v.steps):
        h, c = _gates(xz[:, t] + tf.matmul(h, v.rec), c)
    return _head(v, e, h)


def _input_precomputed(v, ids):
    import tensorflow as tf

    e = tf.gather(v.emb, ids)
    xz = _precomputed_input(v, e)

    def step(t, h, c):
        return (t + 1, *_gates(tf.gather(xz, t, axis=1) + tf.matmul(h, v.rec), c))

    zeros = tf.zeros([v.batch, v.units])
    return _head(v, e, _loop(v, step, zeros, zeros)[0])


def _ids_by_slice(v, ids):
    import tensorflow as tf

    def step(t, h, c):
        x = tf.gather(v.emb, ids[:, t])
        return (t + 1, *_gates(tf.matmul(x, v.kernel) + v.bias + tf.matmul(h, v.rec), c))

    zeros = tf.zeros([v.batch, v.units])
    return _head(v, tf.gather(v.emb, ids), _loop(v, step, zeros, zeros)[0])


def _rotated_ids(v, ids):
    import tensorflow as tf

    def step(t, ids, h, c):
        x = tf.gather(v.emb, ids[:, 0])
        h, c = _gates(tf.matmul(x, v.kernel) + v.bias + tf.matmul(h, v.rec), c)
        return t + 1, tf.concat([ids[:, 1:], ids[:, :1]], axis=1), h, c

    zeros = tf.zeros([v.batch, v.units])
    return _head(v, tf.gather(v.emb, ids), _loop(v, step, ids, zeros, zeros)[1])


def _ifo(v, ids, fused: bool):
    import tensorflow as tf

    def step(t, h, c):
        x = tf.gather(v.emb, tf.gather(ids, t, axis=1))
        if fused:
            z = tf.matmul(tf.concat([x, h], axis=1), v.stacked) + v.bias_ifo
        else:
            z = tf.matmul(x, v.kernel_ifo) + v.bias_ifo + tf.matmul(h, v.rec_ifo)
        return (t + 1, *_gates_ifo(v, z, c))

    zeros = tf.zeros([v.batch, v.units])
    return _head(v, tf.gather(v.emb, ids), _loop(v, step, zeros, zeros)[0])


BODIES = {
    "rotated_ids": _rotated_ids, "ids_by_slice": _ids_by_slice,
    "input_precomputed": _input_precomputed,
    "gates_ifo": lambda v, ids: _ifo(v, ids, fused=False),
    "fused_step": lambda v, ids: _ifo(v, ids, fused=True),
    "empty_loop": _empty_loop, "recurrent_fc_only": _recurrent_fc_only,
    "unrolled_input_precomputed": _unrolled_input_precomputed,
}
