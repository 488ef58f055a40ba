"""The model family's spec: the few numbers and choices that tell one member from another.

The family is the attention-LSTM: ids (T,) -> Embedding(V, E) -> [Dropout] ->
LSTM(T, activation="softmax", recurrent_activation=GATE) whose final state is T attention
weights, one per time step -> Dot(axes=1) with the embeddings -> [Dropout] ->
Dense(1, sigmoid). ``ModelSpec`` is read from a user's file (imdb_edge.export.intake),
built from by train/model.py, and written into every sidecar's ``model`` block, so the
trainer, the graph builder, the sidecar and the numpy backend agree on the sizes. It needs
numpy only: the device runtime imports it.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from imdb_edge.errors import ImdbEdgeError

FAMILY = "attention-lstm"
HEAD = "dot-dense-sigmoid"  # Dot(embeddings, attention) -> Dense(1, sigmoid)
# The LSTM's recurrent (gate) activation. Keras 2's hard_sigmoid is clip(0.2 x + 0.5, 0, 1);
# Keras 3's function of that name is relu6(x + 3) / 6, another curve, and is not a member.
GATES = {"sigmoid": "1 / (1 + exp(-x))", "hard_sigmoid": "clip(0.2 x + 0.5, 0, 1)"}
HARD_SIGMOID_SLOPE, HARD_SIGMOID_OFFSET = 0.2, 0.5


class FamilyError(ImdbEdgeError, ValueError):
    """A model is not a member of the family: one line naming every difference."""

    def __init__(self, where: str, differences: list):
        self.differences = list(differences)
        super().__init__(f"{where} is not the attention-LSTM this tool exports: "
                         + "; ".join(self.differences))


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    length: int          # ids per review; also the LSTM's units (one attention weight per step)
    vocab_size: int      # embedding rows: ids 0 .. vocab_size - 1
    embed_dim: int       # embedding width
    gate: str = "sigmoid"  # LSTM recurrent activation, a key of GATES
    head: str = HEAD

    def __post_init__(self):
        problems = [f"{name} must be a positive int, got {value!r}"
                    for name, value in (("length", self.length), ("vocab_size", self.vocab_size),
                                        ("embed_dim", self.embed_dim))
                    if not isinstance(value, int) or isinstance(value, bool) or value < 1]
        if not isinstance(self.gate, str) or self.gate not in GATES:  # a list is unhashable
            problems.append(f"gate must be one of {', '.join(GATES)}, got {self.gate!r}")
        if self.head != HEAD:
            problems.append(f"head must be {HEAD!r}, got {self.head!r}")
        if problems:
            raise ValueError("invalid model spec: " + "; ".join(problems))

    @property
    def units(self) -> int:
        return self.length

    def shapes(self) -> dict:
        """The six weight arrays' shapes, Keras layout (gates i, f, c, o)."""
        u, e = self.units, self.embed_dim
        return {"embedding": (self.vocab_size, e), "kernel": (e, 4 * u),
                "recurrent_kernel": (u, 4 * u), "bias": (4 * u,), "dense_kernel": (e, 1),
                "dense_bias": (1,)}

    def parameters(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes().values())

    def to_dict(self) -> dict:
        """The sidecar's ``model`` block."""
        return dict(family=FAMILY, length=self.length, units=self.units,
                    vocab_size=self.vocab_size, embed_dim=self.embed_dim, gate=self.gate,
                    gate_formula=GATES[self.gate], head=self.head)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        if not isinstance(d, dict) or d.get("family") != FAMILY:
            raise ValueError(f"model block must describe the {FAMILY!r} family")
        try:
            spec = cls(d["length"], d["vocab_size"], d["embed_dim"], d["gate"], d["head"])
        except KeyError as exc:
            raise ValueError(f"model block lacks {exc}") from None
        if d.get("units", spec.units) != spec.units:
            raise ValueError(f"model block: units {d['units']!r} must equal length {spec.length}")
        return spec


# The reference model of the published notebook: the only place its sizes are written.
REFERENCE = ModelSpec(length=200, vocab_size=20000, embed_dim=20, gate="sigmoid")
# The names `imdb-edge train` gives its model's layers, so that its files read alike. Nothing
# finds a layer by them: imdb_edge.export.intake goes by type and wiring.
LAYER_NAMES = dict(model="imdb_attention_lstm", input="ids", embedding="embedding",
                   embedding_dropout="embedding_dropout", lstm="lstm", pool="attention_pool",
                   pool_dropout="pool_dropout", head="classifier")


def gate_function(gate: str):
    """The gate as float32 numpy, the reference every format's gates are checked against."""
    if gate == "sigmoid":
        return sigmoid
    if gate == "hard_sigmoid":
        return hard_sigmoid
    raise ValueError(f"unknown gate {gate!r}; known: {', '.join(GATES)}")


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of -|x| only, so no overflow for large |x| in either direction.
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(np.float32, copy=False)


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """Keras 2's: clip(0.2 x + 0.5, 0, 1), in float32 as Keras 2 computes it."""
    x = np.asarray(x, np.float32)
    return np.clip(x * np.float32(HARD_SIGMOID_SLOPE) + np.float32(HARD_SIGMOID_OFFSET),
                   np.float32(0), np.float32(1))
