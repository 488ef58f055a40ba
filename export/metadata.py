"""What an artifact's sidecar says about it, and the vocabulary file every folder carries."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Optional

from imdb_edge import __version__, resources
from imdb_edge.atomic import atomic_write
from imdb_edge.errors import UsageError
from imdb_edge.export.formats import exporter
from imdb_edge.helpers import installed_versions
from imdb_edge.runtime import text
from imdb_edge.runtime.sidecar import SCHEMA_VERSION, Preprocessing, Sidecar, sha256_bytes

LABELS = ["negative", "positive"]
VOCAB_FILE = "vocab.txt"
# The packages whose versions decide what an artifact holds, recorded in every sidecar.
TOOLS = ("tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime",
         "ai-edge-litert", "numpy")


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    file: str
    sha256: str
    size_bytes: int


def write_vocabulary(out: Path, data: Optional[str]) -> Vocabulary:
    """vocab.txt: line r is the word of frequency rank r, from the word index beside the
    dataset, else the one packaged with imdb-edge (the same Keras word index)."""
    from imdb_edge.train import data as data_lib

    source = data_lib.resolve_source(data)
    index_path = data_lib.word_index_beside(Path(source)) if source else None
    index = data_lib.load_word_index(index_path) if index_path else resources.word_index()
    ranked = sorted(index.items(), key=lambda kv: kv[1])
    if any("\n" in w for w, _ in ranked) or [r for _, r in ranked] != list(range(1, len(ranked) + 1)):
        raise UsageError(f"{index_path}: ranks must be 1..N without gaps and words without newlines")
    blob = "".join(f"{w}\n" for w, _ in ranked).encode("utf-8")
    with atomic_write(out / VOCAB_FILE) as f:
        f.write(blob)
    return Vocabulary(VOCAB_FILE, sha256_bytes(blob), len(blob))


def preprocessing(spec, convention: text.Convention, vocabulary: Vocabulary) -> Preprocessing:
    """How a review becomes this model's input row, as the runtime will apply it."""
    return Preprocessing(
        max_len=spec.length, vocab_size=spec.vocab_size, pad_id=text.PAD_ID,
        start_id=text.START_ID, oov_id=text.OOV_ID, index_from=text.INDEX_FROM,
        tokenizer_rule=text.TOKENIZER_RULE, tokenizer_version=text.TOKENIZER_VERSION,
        **dataclasses.asdict(convention), vocabulary_file=vocabulary.file,
        vocabulary_sha256=vocabulary.sha256, vocabulary_size_bytes=vocabulary.size_bytes)


def build_sidecar(job, data: bytes, inspection, vocabulary: Vocabulary, model,
                  convention: text.Convention) -> Sidecar:
    """The sidecar of one converted artifact (its parity figures are added once measured)."""
    module = exporter(job.format)
    inp, outp = module.io_specs(data, model.spec)
    return Sidecar(
        schema_version=SCHEMA_VERSION, format=job.format, artifact=job.artifact,
        sha256=sha256_bytes(data), size_bytes=len(data), quantization=job.mode,
        batch=job.batch, input=inp, output=outp,
        preprocessing=preprocessing(model.spec, convention, vocabulary),
        labels=LABELS, threshold=0.5, ops=inspection.ops, runtimes=inspection.runtimes,
        tools=tools(), source_model=dict(model.source), parity=None,
        float_ops=list(module.INT8_FLOAT_OPS) if job.mode == "int8" else [],
        model=model.spec.to_dict())


def tools() -> dict:
    return {"imdb-edge": __version__, "python": sys.version.split()[0],
            **installed_versions(TOOLS)}
