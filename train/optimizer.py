"""The trainer's optimizer: Keras 3's Adam, with each gradient made dense before it is applied.

Keras 3 (3.15, TensorFlow backend) applies Adam to an embedding's sparse gradient
(``tf.IndexedSlices``) row by row: ``ops.square`` squares each occurrence of a word
separately, so the second moment holds the sum of squares rather than the square of the
summed gradient, and a word seen k times in a batch moves up to sqrt(k) times too far.
Keras 2's Adam, which the published run used, sums duplicates first and so equals dense
Adam. Densifying the gradient (one vocabulary x width tensor a step) restores that update exactly;
``benchmarks/engine_compare.py`` measures both engines against each other.
"""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="imdb_edge")
class DenseAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` that applies the dense form of every gradient."""

    def apply(self, grads, trainable_variables=None):
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                 for g in grads]
        return super().apply(grads, trainable_variables)


def adam(lr: float, decay: float) -> DenseAdam:
    """Adam with the legacy Keras time decay lr / (1 + decay * iterations); Keras 3 dropped
    Adam(decay=...), and InverseTimeDecay with decay_steps=1 is the same rule."""
    schedule = keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)
    return DenseAdam(learning_rate=schedule)
