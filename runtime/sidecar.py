"""The JSON sidecar beside every artifact: everything a device needs to use it.

``<artifact>.json`` sits next to ``<artifact>`` (e.g. ``imdb-dynamic-b1.tflite.json``).
It is plain JSON, never a pickle, and it is checked before any byte of the artifact
reaches a native parser: schema version, file names that stay inside the artifact's
folder, the artifact's SHA-256 and the vocabulary file's SHA-256.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Optional

from imdb_edge.errors import ImdbEdgeError
from imdb_edge.helpers import one_line

SCHEMA_VERSION = 2   # 2: preprocessing records the row convention (unknown words, sides)
EXTENSIONS = {"tflite": ".tflite", "onnx": ".onnx", "numpy": ".npz"}  # the formats read here
FORMATS = tuple(EXTENSIONS)
MAX_SIDECAR_BYTES = 16 << 20   # sidecars are a few KB; never read a huge file whole
# Vocabularies are read whole: the IMDB word index (88,584 words) is 0.7 MB.
MAX_VOCABULARY_BYTES = 64 << 20


class ArtifactError(ImdbEdgeError, ValueError):
    """An artifact or its sidecar is missing, malformed, tampered with or unsafe."""


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: list          # e.g. [1, 200]; None in a position means "any size"
    dtype: str           # numpy dtype name: "int32", "float32", "int8", ...
    scale: Optional[float] = None       # set for quantized integer tensors
    zero_point: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    max_len: int
    vocab_size: int
    pad_id: int
    start_id: int
    oov_id: int
    index_from: int
    tokenizer_rule: str
    tokenizer_version: int
    unknown_words: str       # "drop" (imdb.npz) | "oov": see runtime.text.Convention
    out_of_range_id: int     # what ids >= vocab_size become: 0 (pad) or 2 (OOV)
    truncating: str          # "post": keep the first ids | "pre": keep the last
    padding: str             # "post": pad at the end | "pre": at the front
    vocabulary_file: str     # one word per line; line r (1-based) is the word of rank r
    vocabulary_sha256: str
    # The vocabulary file's size, checked before it is read (as size_bytes is for the
    # artifact). None only in sidecars written before it was recorded: those vocabularies
    # are refused above MAX_VOCABULARY_BYTES instead.
    vocabulary_size_bytes: Optional[int] = None

    @property
    def convention(self):
        """The rules ``runtime.text`` encodes this model's rows with (ValueError if unknown)."""
        from .text import Convention

        return Convention(unknown_words=self.unknown_words, out_of_range_id=self.out_of_range_id,
                          truncating=self.truncating, padding=self.padding)


@dataclasses.dataclass(frozen=True)
class Sidecar:
    schema_version: int
    format: str              # "tflite" | "onnx" | "numpy"
    artifact: str            # file name in the sidecar's folder
    sha256: str
    size_bytes: int
    quantization: str        # "float32" | "float16" | "dynamic" | "int8" | "int16x8"
    batch: Optional[int]     # fixed batch size, or None for any
    input: TensorSpec
    output: TensorSpec
    preprocessing: Preprocessing
    labels: list             # [negative, positive]
    threshold: float         # probability >= threshold -> labels[1]
    ops: list = dataclasses.field(default_factory=list)       # [{"name", "version", "count"}]
    runtimes: dict = dataclasses.field(default_factory=dict)  # target -> "ok" | reason
    tools: dict = dataclasses.field(default_factory=dict)     # package -> version
    source_model: dict = dataclasses.field(default_factory=dict)
    parity: Optional[dict] = None                             # figures measured at export
    float_ops: list = dataclasses.field(default_factory=list)  # ops a quantized model keeps in float
    model: Optional[dict] = None   # the model family's spec (imdb_edge.spec.ModelSpec.to_dict)
    folder: Path = dataclasses.field(default=Path("."), compare=False)

    @property
    def artifact_path(self) -> Path:
        return self.folder / self.artifact

    @property
    def vocabulary_path(self) -> Path:
        return self.folder / self.preprocessing.vocabulary_file

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d.pop("folder")
        return json.dumps(d, indent=2, sort_keys=False) + "\n"


def sidecar_path(artifact: str | os.PathLike) -> Path:
    return Path(f"{artifact}.json")


def load_sidecar(artifact: str | os.PathLike) -> Sidecar:
    """Read and check ``<artifact>.json``. Raises ArtifactError naming the problem."""
    artifact = Path(artifact)
    path = sidecar_path(artifact)
    try:
        size = regular_file_size(path, "sidecar")
        if size > MAX_SIDECAR_BYTES:
            raise ArtifactError(f"sidecar {path} is {size} bytes; sidecars are a few KB")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"no sidecar {path}: every artifact needs the JSON written beside it "
                            "by `imdb-edge export`") from None
    except (OSError, ValueError, RecursionError) as exc:
        # ValueError: json's own errors, invalid UTF-8, and integers over Python's
        # 4,300-digit conversion limit
        raise ArtifactError(f"sidecar {path} is not valid JSON ({one_line(exc, limit=None)})"
                            ) from None
    return parse_sidecar(raw, artifact.parent, where=str(path))


def parse_sidecar(raw: Any, folder: Path, where: str = "sidecar") -> Sidecar:
    if not isinstance(raw, dict):
        raise ArtifactError(f"{where}: expected a JSON object")
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"{where}: schema_version {raw.get('schema_version')!r} is not "
                            f"supported (this runtime reads {SCHEMA_VERSION}); re-export the artifact")
    try:
        fields = dict(raw)
        fields["input"] = TensorSpec(**fields["input"])
        fields["output"] = TensorSpec(**fields["output"])
        fields["preprocessing"] = Preprocessing(**fields["preprocessing"])
        sidecar = Sidecar(**fields, folder=folder)
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"{where}: malformed sidecar ({exc})") from None
    if sidecar.format not in FORMATS:
        raise ArtifactError(f"{where}: unknown format {sidecar.format!r}")
    for name in (sidecar.artifact, sidecar.preprocessing.vocabulary_file):
        check_local_name(name, folder, where)
    from . import sidecar_checks  # imports this module

    sidecar_checks.check_fields(sidecar, where)
    return sidecar


def check_local_name(name: str, folder: Path, where: str = "sidecar") -> Path:
    """A file named by a sidecar must be a plain name in the sidecar's own folder: no
    directories, no absolute paths, no '..', and not a symlink that leads elsewhere."""
    if not isinstance(name, str) or not name or name != os.path.basename(name) or \
            name in (".", "..") or os.path.isabs(name) or "\\" in name or "\0" in name:
        raise ArtifactError(f"{where}: file name {name!r} must be a plain file name in the "
                            "artifact's folder")
    path = folder / name
    if path.is_symlink():
        target = path.resolve()
        if target.parent != folder.resolve():
            raise ArtifactError(f"{where}: {name} is a symlink leaving the artifact's folder")
    return path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def regular_file_size(path: Path, what: str) -> int:
    """The size of ``path`` (a symlink is followed), refusing anything but a regular file:
    reading a FIFO blocks until someone writes to it, and a device file never ends.
    FileNotFoundError is left to the caller, which knows what a missing file means."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ArtifactError(f"cannot read {what} {path} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ArtifactError(f"cannot read {what} {path} (not a regular file)")
    return info.st_size


def read_verified(path: Path, expected_sha256: str, what: str,
                  size: Optional[int] = None) -> bytes:
    """Read a whole file and check its SHA-256 before anyone parses it. With ``size`` (the
    sidecar's size_bytes), a file of another size is refused before it is read at all."""
    try:
        actual_size = regular_file_size(path, what)
        if size is not None and actual_size != size:
            raise ArtifactError(f"{what} {path} is {actual_size} bytes, its sidecar says "
                                f"{size!r}: truncated, corrupted or replaced; re-export or "
                                "re-copy it")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{what} {path} not found") from None
    except OSError as exc:
        raise ArtifactError(f"cannot read {what} {path} ({exc.strerror or exc})") from None
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise ArtifactError(f"{what} {path} does not match its sidecar (sha256 {actual[:12]}..., "
                            f"expected {str(expected_sha256)[:12]}...): corrupted or replaced; "
                            "re-export or re-copy it")
    return data


def load_vocabulary(sidecar: Sidecar) -> dict:
    """word -> rank, from the sidecar's vocabulary file, size- and hash-checked."""
    expected = sidecar.preprocessing.vocabulary_size_bytes
    if expected is None:
        path = sidecar.vocabulary_path
        try:
            size = regular_file_size(path, "vocabulary")
        except FileNotFoundError:
            raise ArtifactError(f"vocabulary {path} not found") from None
        if size > MAX_VOCABULARY_BYTES:
            raise ArtifactError(f"vocabulary {path} is {size} bytes, over the "
                                f"{MAX_VOCABULARY_BYTES >> 20} MiB a vocabulary may have; "
                                "corrupted or replaced")
    data = read_verified(sidecar.vocabulary_path, sidecar.preprocessing.vocabulary_sha256,
                         "vocabulary", size=expected)
    try:
        words = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise ArtifactError(f"vocabulary {sidecar.vocabulary_path} is not UTF-8") from None
    if words and words[-1] == "":
        words.pop()
    return {w: rank for rank, w in enumerate(words, start=1)}
