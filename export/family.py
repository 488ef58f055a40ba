"""Is a saved model's JSON config the attention-LSTM family? Read from the config alone.

Layers are found by type and by wiring, never by name (users' files carry Keras' default
names, and a notebook cell run twice renumbers them); Dropout is the identity at inference
and may sit anywhere. Each check below returns the ways its layer differs from the family,
so the refusal names every difference at once.
"""
from __future__ import annotations

from imdb_edge.helpers import one_line
from imdb_edge.spec import GATES, FamilyError, ModelSpec

# The classes of the family; Dropout is the identity at inference and may sit anywhere.
FAMILY_CLASSES = ("InputLayer", "Embedding", "LSTM", "Dot", "Dense")
PASS_THROUGH = ("Dropout",)
KERAS2_HARD_SIGMOID_NAMES = ("imdb_edge>keras2_hard_sigmoid",)  # train/model.py's, by name
LSTM_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful", "time_major")


def check_config(config: dict, keras_major: int, where: str):
    """(ModelSpec, {role: layer config}) for a functional model's config, or FamilyError
    naming every way it differs from the family."""
    try:
        return _check(config, keras_major, where)
    except (AttributeError, KeyError, TypeError, IndexError) as exc:
        # The config comes from the user's file: a structure Keras itself never writes (a
        # layer that is not a mapping, a node list that is a number) is not this family.
        raise FamilyError(where, [f"its config is malformed ({one_line(exc, 120)})"]) from None


def _check(config: dict, keras_major: int, where: str):
    graph = _Graph(config, _roles(_layers(config, where), where))
    shape, length = _input_shape(graph.config("InputLayer"))
    gate, gate_diff = _gate(graph.config("LSTM").get("recurrent_activation"), keras_major)
    diffs = (_input_diffs(graph, shape, length) + _embedding_diffs(graph)
             + _lstm_diffs(graph, length, gate_diff) + _dot_diffs(graph)
             + _dense_diffs(graph) + _output_diffs(graph))
    if diffs:
        raise FamilyError(where, diffs)
    emb = graph.config("Embedding")
    try:
        spec = ModelSpec(length=int(length), vocab_size=int(emb.get("input_dim")),
                         embed_dim=int(emb.get("output_dim")), gate=gate)
    except (TypeError, ValueError) as exc:
        raise FamilyError(where, [str(exc)]) from None
    return spec, graph.roles


def _layers(config, where: str) -> list:
    """The layer configs of a functional model; FamilyError for any other kind of model."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise FamilyError(where, ["its config holds no model"])
    kind = config.get("class_name")
    if kind == "Sequential":
        raise FamilyError(where, ["it is a Sequential model; the family's Dot takes two "
                                  "inputs, so it is built with the functional API"])
    if kind not in ("Functional", "Model"):
        raise FamilyError(where, [f"its top level is a {kind!r} (a subclassed or custom "
                                  "model, whose code is never run), not a functional model"])
    return config["config"].get("layers") or []


def _roles(layers: list, where: str) -> dict:
    """{class: layer config}, one layer of each family class; FamilyError naming every
    foreign, custom or missing / repeated layer."""
    diffs, by_class = [], {}
    for layer in layers:
        cls, name = layer.get("class_name"), layer_name(layer)
        custom = _custom(layer)
        if cls == "Lambda":
            diffs.append(f"layer {name!r} is a Lambda (Python code, which is never run)")
        elif custom:
            diffs.append(f"layer {name!r} is a custom object ({custom})")
        elif cls not in FAMILY_CLASSES + PASS_THROUGH:
            diffs.append(f"layer {name!r} is a {cls}, which the family does not have")
        else:
            by_class.setdefault(cls, []).append(layer)
    roles = {}
    for cls in FAMILY_CLASSES:
        found = by_class.get(cls, [])
        if len(found) != 1:
            names = ", ".join(repr(layer_name(layer)) for layer in found)
            diffs.append(f"{len(found)} {cls} layers{f' ({names})' if names else ''}, "
                         "the family has 1")
        else:
            roles[cls] = found[0]
    if diffs:
        raise FamilyError(where, diffs)
    return roles


class _Graph:
    """The model's layers by name and by role, and who feeds whom, looking through
    Dropouts."""

    def __init__(self, config: dict, roles: dict):
        self.model = config["config"]
        self.by_name = {layer_name(layer): layer for layer in self.model.get("layers") or []}
        self.roles = roles
        self.names = {cls: layer_name(roles[cls]) for cls in FAMILY_CLASSES}

    def config(self, role: str) -> dict:
        return self.roles[role]["config"]

    def sources(self, layer: dict) -> list:
        """Names of the layers feeding ``layer``, looking through Dropouts."""
        out = []
        for inbound in _inbound(layer):
            while inbound in self.by_name and \
                    self.by_name[inbound].get("class_name") in PASS_THROUGH:
                inner = _inbound(self.by_name[inbound])
                inbound = inner[0] if inner else None
            out.append(inbound)
        return out

    def reads(self, role: str, *inputs: str) -> bool:
        """Whether the layer of ``role`` takes exactly the layers of ``inputs``."""
        return sorted(self.sources(self.roles[role]), key=str) == \
            sorted((self.names[r] for r in inputs), key=str)


def _input_shape(inp: dict) -> tuple:
    """(shape as saved, sequence length or None when it is not (None, length))."""
    shape = inp.get("batch_shape") or inp.get("batch_input_shape") or inp.get("shape")
    length = shape[1] if isinstance(shape, (list, tuple)) and len(shape) == 2 else None
    return shape, length


def _input_diffs(graph: _Graph, shape, length) -> list:
    if length is None:
        return [f"input {graph.names['InputLayer']!r} has shape {shape}, "
                "expected (None, length)"]
    return []


def _embedding_diffs(graph: _Graph) -> list:
    diffs = []
    if not graph.reads("Embedding", "InputLayer"):
        diffs.append(f"Embedding {graph.names['Embedding']!r} does not read the input ids")
    if graph.config("Embedding").get("mask_zero"):
        diffs.append("Embedding has mask_zero=True (the family pads with id 0 unmasked)")
    return diffs


def _lstm_diffs(graph: _Graph, length, gate_diff: str) -> list:
    lstm, diffs = graph.config("LSTM"), []
    if not graph.reads("LSTM", "Embedding"):
        diffs.append(f"LSTM {graph.names['LSTM']!r} does not read the embeddings")
    if lstm.get("activation") != "softmax":
        diffs.append(f"LSTM activation is {_activation(lstm.get('activation'))!r}, "
                     "not 'softmax' (the final state is read as attention weights)")
    if gate_diff:
        diffs.append(gate_diff)
    diffs += [f"LSTM has {flag}=True" for flag in LSTM_FLAGS if lstm.get(flag)]
    if lstm.get("use_bias") is False:
        diffs.append("LSTM has use_bias=False")
    units = lstm.get("units")
    if length is not None and units != length:
        diffs.append(f"LSTM units ({units}) differ from the sequence length ({length}); "
                     "the final state holds one attention weight per step")
    return diffs


def _dot_diffs(graph: _Graph) -> list:
    dot, diffs = graph.config("Dot"), []
    if not graph.reads("Dot", "Embedding", "LSTM"):
        diffs.append(f"Dot {graph.names['Dot']!r} does not take the embeddings and the "
                     "LSTM state")
    axes = dot.get("axes")
    if axes not in (1, [1, 1], (1, 1)) or dot.get("normalize"):
        diffs.append(f"Dot has axes={axes!r}, normalize={dot.get('normalize')!r}; "
                     "the family has axes=1 and no normalisation")
    return diffs


def _dense_diffs(graph: _Graph) -> list:
    dense, diffs = graph.config("Dense"), []
    if not graph.reads("Dense", "Dot"):
        diffs.append(f"Dense {graph.names['Dense']!r} does not read the attention-pooled "
                     "embeddings")
    no_bias = dense.get("use_bias") is False
    if dense.get("units") != 1 or dense.get("activation") != "sigmoid" or no_bias:
        diffs.append(f"Dense head is units={dense.get('units')!r}, "
                     f"activation={_activation(dense.get('activation'))!r}"
                     f"{', use_bias=False' if no_bias else ''}; "
                     "the family ends in Dense(1, sigmoid) with a bias")
    return diffs


def _output_diffs(graph: _Graph) -> list:
    """The model's one output must be the Dense head (Dropouts after it aside)."""
    by_name = graph.by_name
    outputs = _inbound({"inbound_nodes": [graph.model.get("output_layers")]})
    outputs = [by_name[o] for o in outputs if o in by_name]
    while outputs and outputs[0] is not None and outputs[0].get("class_name") in PASS_THROUGH:
        outputs = [by_name.get(n) for n in _inbound(outputs[0])]
    if len(outputs) != 1 or outputs[0] is None or layer_name(outputs[0]) != graph.names["Dense"]:
        return [f"the model's output is not the Dense {graph.names['Dense']!r} alone"]
    return []


def layer_name(layer: dict) -> str:
    """A layer's name, where Keras 2 and Keras 3 configs each keep it."""
    return layer.get("name") or layer.get("config", {}).get("name")


def _custom(layer: dict) -> str:
    """Why ``layer`` is a user-registered or user-defined object, or ''."""
    module = layer.get("module")
    if module is not None and not str(module).startswith(("keras", "tf_keras")):
        return f"module {module!r}"
    registered = layer.get("registered_name")
    if registered and registered != layer.get("class_name"):
        return f"registered as {registered!r}"
    return ""


def _inbound(layer: dict) -> list:
    """Names of the layers whose outputs ``layer`` takes, in order, in both Keras 2's
    ([[name, node, tensor, kwargs], ...]) and Keras 3's (``keras_history``) formats."""
    names = []

    def walk(value):
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history") \
                if isinstance(value.get("config"), dict) else None
            if history:
                names.append(history[0])
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                names.append(value[0])
                return
            for item in value:
                walk(item)

    walk(layer.get("inbound_nodes") or [])
    return names


def _activation(value) -> str:
    if isinstance(value, dict):
        config = value.get("config")
        return config if isinstance(config, str) else str(value.get("class_name"))
    return str(value)


def _gate(value, keras_major: int):
    """(gate, difference) for an LSTM's recurrent_activation as saved."""
    name = _activation(value)
    if name == "sigmoid":
        return "sigmoid", ""
    if name in KERAS2_HARD_SIGMOID_NAMES or (name == "hard_sigmoid" and keras_major < 3):
        return "hard_sigmoid", ""
    if name == "hard_sigmoid":
        gates = "; ".join(f"{k}: {v}" for k, v in GATES.items())
        return "", ("LSTM recurrent_activation is Keras 3's hard_sigmoid, relu6(x + 3) / 6, "
                    f"not one of the family's gates ({gates})")
    return "", (f"LSTM recurrent_activation is {name!r}, not one of the family's gates "
                f"({', '.join(GATES)})")
