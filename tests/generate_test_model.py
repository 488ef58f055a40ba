"""Write a tiny test model for the runtime tests: real shapes, random weights, no TensorFlow.

    python tests/generate_test_model.py OUT_DIR [--onnx] [--tflite]

Always writes ``tiny.npz`` (numpy format, 1.6 MB: the real 20000 x 20 embedding), its
sidecar and a 300-word ``vocab.txt``. ``--onnx`` adds the same network as ONNX graphs built
with onnx.helper (needs ``onnx``); ``--tflite`` adds TFLite models and Keras reference
outputs (needs TensorFlow), so device-only environments can be handed a folder made
elsewhere (see IMDB_EDGE_TEST_MODELS in tests/runtime/conftest.py).

Nothing is committed: the weights come from a fixed seed, so every run writes the same bytes
and the files are made in a temporary folder at test time.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from imdb_edge.runtime import text
from imdb_edge.spec import REFERENCE
from imdb_edge.runtime.sidecar import SCHEMA_VERSION, Preprocessing, Sidecar, TensorSpec

SEED = 1234
EMBED, UNITS = REFERENCE.embed_dim, REFERENCE.units
N_WORDS = 300
INPUT_NAME, OUTPUT_NAME = "ids", "probability"
# A few real words first so tests can write readable reviews; the rest are filler.
WORDS = ["the", "a", "and", "of", "to", "is", "film", "movie", "good", "bad", "great",
         "awful", "plot", "acting", "i", "it", "was", "this", "not", "very"]


def make_weights(seed: int = SEED) -> dict:
    """Random weights scaled so that probabilities spread well away from 0.5."""
    rng = np.random.default_rng(seed)

    def normal(scale, *shape):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    return {"embedding": normal(1.0, REFERENCE.vocab_size, EMBED),
            "kernel": normal(0.5, EMBED, 4 * UNITS),
            "recurrent_kernel": normal(0.5, UNITS, 4 * UNITS),
            "bias": normal(0.1, 4 * UNITS),
            "dense_kernel": normal(3.0, EMBED, 1),
            "dense_bias": normal(0.1, 1)}


def vocabulary() -> list:
    return WORDS + [f"word{n}" for n in range(len(WORDS), N_WORDS)]


def write_vocabulary(folder: Path) -> str:
    data = "".join(f"{w}\n" for w in vocabulary()).encode()
    (folder / "vocab.txt").write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def write_artifact(folder: Path, name: str, data: bytes, fmt: str, *, batch=None,
                   output_dtype="float32", scale=None, zero_point=None,
                   quantization="float32") -> Path:
    """Write ``name``, ``name.json`` and vocab.txt into ``folder``; return the artifact path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    preprocessing = Preprocessing(
        max_len=REFERENCE.length, vocab_size=REFERENCE.vocab_size, pad_id=text.PAD_ID,
        start_id=text.START_ID, oov_id=text.OOV_ID, index_from=text.INDEX_FROM,
        tokenizer_rule=text.TOKENIZER_RULE, tokenizer_version=text.TOKENIZER_VERSION,
        **dataclasses.asdict(text.NOTEBOOK),
        vocabulary_file="vocab.txt", vocabulary_sha256=write_vocabulary(folder))
    sidecar = Sidecar(
        schema_version=SCHEMA_VERSION, format=fmt, artifact=name,
        sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
        quantization=quantization, batch=batch,
        input=TensorSpec(INPUT_NAME, [batch, REFERENCE.length], "int32"),
        output=TensorSpec(OUTPUT_NAME, [batch, 1], output_dtype, scale, zero_point),
        preprocessing=preprocessing, labels=["negative", "positive"], threshold=0.5,
        source_model={"name": "tiny test model", "seed": SEED})
    (folder / f"{name}.json").write_text(sidecar.to_json(), encoding="utf-8")
    return folder / name


def npz_bytes(weights: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    return buffer.getvalue()


def write_numpy_model(folder: Path, name: str = "tiny.npz", weights=None) -> Path:
    return write_artifact(folder, name, npz_bytes(weights or make_weights()), "numpy")


def onnx_bytes(weights: dict, batch=None, output_quant=None) -> bytes:
    """The network as an ONNX graph: a Scan over time carries (h, c); needs ``onnx``.

    ``output_quant=(scale, zero_point)`` ends the graph with QuantizeLinear to int8, the
    shape of a fully quantized export, to test dequantization."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    f32 = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "recurrent_kernel"], ["hr"]),
         helper.make_node("Add", ["x_t", "hr"], ["z"]),
         helper.make_node("Split", ["z", "sizes"], ["zi", "zf", "zg", "zo"], axis=1),
         helper.make_node("Sigmoid", ["zi"], ["i"]),
         helper.make_node("Sigmoid", ["zf"], ["f"]),
         helper.make_node("Softmax", ["zg"], ["g"], axis=-1),
         helper.make_node("Sigmoid", ["zo"], ["o"]),
         helper.make_node("Mul", ["f", "c_in"], ["fc"]),
         helper.make_node("Mul", ["i", "g"], ["ig"]),
         helper.make_node("Add", ["fc", "ig"], ["c_out"]),
         helper.make_node("Softmax", ["c_out"], ["sc"], axis=-1),
         helper.make_node("Mul", ["o", "sc"], ["h_out"])],
        "lstm_step",
        [helper.make_tensor_value_info(n, f32, s) for n, s in
         (("h_in", [None, UNITS]), ("c_in", [None, UNITS]), ("x_t", [None, 4 * UNITS]))],
        [helper.make_tensor_value_info(n, f32, [None, UNITS]) for n in ("h_out", "c_out")],
        [const("sizes", np.full(4, UNITS, np.int64))])

    nodes = [
        helper.make_node("Gather", ["embedding", INPUT_NAME], ["e"], axis=0),   # (B, T, E)
        helper.make_node("Transpose", ["e"], ["e_tbe"], perm=[1, 0, 2]),
        helper.make_node("MatMul", ["e_tbe", "kernel"], ["xk"]),
        helper.make_node("Add", ["xk", "bias"], ["xz"]),                        # (T, B, 4U)
        # zeros (B, UNITS): the ids' own shape, since UNITS == MAX_LEN in this network
        helper.make_node("Shape", [INPUT_NAME], ["ids_shape"]),
        helper.make_node("ConstantOfShape", ["ids_shape"], ["zeros"],
                         value=helper.make_tensor("zero", f32, [1], [0.0])),
        helper.make_node("Scan", ["zeros", "zeros", "xz"], ["h", "c"], body=body,
                         num_scan_inputs=1),
        helper.make_node("Unsqueeze", ["h", "axis1"], ["h_b1t"]),
        helper.make_node("MatMul", ["h_b1t", "e"], ["pooled_b1e"]),             # attention
        helper.make_node("Squeeze", ["pooled_b1e", "axis1"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "dense_kernel"], ["logit_k"]),
        helper.make_node("Add", ["logit_k", "dense_bias"], ["logit"]),
    ]
    initializers = [const(k, v) for k, v in weights.items()] + [const("axis1", np.array([1]))]
    out_type = f32
    if output_quant is None:
        nodes.append(helper.make_node("Sigmoid", ["logit"], [OUTPUT_NAME]))
    else:
        nodes += [helper.make_node("Sigmoid", ["logit"], ["prob"]),
                  helper.make_node("QuantizeLinear", ["prob", "q_scale", "q_zero"], [OUTPUT_NAME])]
        initializers += [const("q_scale", np.float32(output_quant[0])),
                         const("q_zero", np.int8(output_quant[1]))]
        out_type = TensorProto.INT8
    graph = helper.make_graph(
        nodes, "tiny_attention_lstm",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT32, [batch or "batch", UNITS])],
        [helper.make_tensor_value_info(OUTPUT_NAME, out_type, [batch or "batch", 1])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="imdb-edge tests")
    model.ir_version = 8  # readable by onnxruntime >= 1.10
    return model.SerializeToString()


def write_onnx_model(folder: Path, name: str = "tiny.onnx", weights=None, batch=None,
                     output_quant=None) -> Path:
    data = onnx_bytes(weights or make_weights(), batch, output_quant)
    if output_quant is None:
        return write_artifact(folder, name, data, "onnx", batch=batch)
    return write_artifact(folder, name, data, "onnx", batch=batch, output_dtype="int8",
                          scale=output_quant[0], zero_point=output_quant[1], quantization="int8")


def write_onnx_models(folder: Path, weights=None) -> list:
    """Dynamic, batch-1 and batch-64 float models, and one with an int8 output."""
    weights = weights or make_weights()
    paths = [write_onnx_model(folder, f"tiny_b{batch or 'any'}.onnx", weights, batch)
             for batch in (None, 1, 64)]
    paths.append(write_onnx_model(folder, "tiny_int8.onnx", weights, output_quant=(1 / 256, -128)))
    return paths


def tflite_bytes(weights: dict, batch=None) -> bytes:
    """The network as a TFLite model via TensorFlow (a WHILE loop over time; built-in ops
    only, so tflite-runtime 2.14 runs it too)."""
    import tensorflow as tf

    w = {k: tf.constant(v) for k, v in weights.items()}

    @tf.function(input_signature=[tf.TensorSpec([batch, REFERENCE.length], tf.int32, name=INPUT_NAME)])
    def network(ids):
        e = tf.gather(w["embedding"], ids)
        h = tf.zeros(tf.shape(ids), tf.float32)  # (B, UNITS): UNITS == MAX_LEN
        c = tf.zeros(tf.shape(ids), tf.float32)
        for t in tf.range(REFERENCE.length):
            z = tf.matmul(e[:, t], w["kernel"]) + tf.matmul(h, w["recurrent_kernel"]) + w["bias"]
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.nn.softmax(g)
            h = tf.sigmoid(o) * tf.nn.softmax(c)
        pooled = tf.reduce_sum(e * h[:, :, None], axis=1)
        return {OUTPUT_NAME: tf.sigmoid(tf.matmul(pooled, w["dense_kernel"]) + w["dense_bias"])}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [network.get_concrete_function()], network)
    return converter.convert()


def write_tflite_model(folder: Path, name: str = "tiny.tflite", weights=None, batch=None) -> Path:
    return write_artifact(folder, name, tflite_bytes(weights or make_weights(), batch),
                          "tflite", batch=batch)


def reference_ids(n: int = 8, seed: int = 7) -> np.ndarray:
    """Rows shaped like real reviews: START, random ids of varied length, zero padding."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, REFERENCE.length), np.int32)
    for row, length in enumerate(rng.integers(0, REFERENCE.length, n)):
        ids[row, 0] = text.START_ID
        ids[row, 1:length + 1] = rng.integers(2, REFERENCE.vocab_size, length)
    return ids


def keras_probabilities(weights: dict, ids: np.ndarray) -> np.ndarray:
    """The training code's own Keras model with these weights: the reference semantics."""
    from imdb_edge.train.model import build_model

    model = build_model()
    model.set_weights([weights[k] for k in ("embedding", "kernel", "recurrent_kernel", "bias",
                                            "dense_kernel", "dense_bias")])
    return model.predict(ids, verbose=0)[:, 0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--onnx", action="store_true", help="also ONNX models (needs onnx)")
    parser.add_argument("--tflite", action="store_true",
                        help="also TFLite models and Keras reference outputs (needs TensorFlow)")
    args = parser.parse_args(argv)
    weights = make_weights()
    write_numpy_model(args.out, weights=weights)
    if args.onnx:
        write_onnx_models(args.out, weights)
    if args.tflite:
        for batch in (None, 1):
            write_tflite_model(args.out, f"tiny_b{batch or 'any'}.tflite", weights, batch)
        ids = reference_ids()
        np.savez(args.out / "keras_reference.npz", ids=ids,
                 probabilities=keras_probabilities(weights, ids))


if __name__ == "__main__":
    main()
