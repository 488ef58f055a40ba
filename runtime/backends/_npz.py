"""Check an .npz archive's members before numpy reads any of them.

``np.load`` inflates each member whole and allocates what its npy header claims: a re-signed
zip bomb (a member declaring gigabytes, or an npy header claiming a huge shape) would take
that memory before any shape check ran. Here only the zip directory and the npy headers are
read: names, declared sizes and shapes must agree with each other and stay within a small
multiple of the archive's own (hash-checked) size.
"""
from __future__ import annotations

import io
import math
import zipfile

import numpy as np

from imdb_edge.helpers import one_line

from ..sidecar import ArtifactError

# Float32 weights compress by ~1.1x; mostly-zero arrays compress more, but no model this
# runtime reads holds 16 times its file size in zeros.
MAX_INFLATION = 16
SLACK_BYTES = 1 << 20
MAX_HEADER_BYTES = 1 << 16


def check_members(model_bytes: bytes, artifact: str, names) -> None:
    """Raise ArtifactError unless the archive holds exactly ``names`` as float .npy members
    whose declared sizes add up, in all, to at most MAX_INFLATION x the archive."""
    if model_bytes.startswith(np.lib.format.MAGIC_PREFIX):  # a bare .npy: one unnamed array
        raise ArtifactError(f"{artifact}: expected an .npz archive of named arrays")
    try:
        archive = zipfile.ZipFile(io.BytesIO(model_bytes))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ArtifactError(f"{artifact} is not a readable .npz ({type(exc).__name__}: "
                            f"{one_line(exc, 200)})") from None
    with archive:
        infos = archive.infolist()
        members = [info.filename for info in infos]
        for member in members:
            if not member.endswith(".npy"):
                raise ArtifactError(f"{artifact}: member {member[:80]!r} is not a .npy array; "
                                    "an .npz artifact holds named arrays only")
        declared = sum(info.file_size for info in infos)
        limit = MAX_INFLATION * len(model_bytes) + SLACK_BYTES
        if declared > limit:
            raise ArtifactError(f"{artifact}: its members declare {declared} bytes, over "
                                f"{MAX_INFLATION} times the archive's {len(model_bytes)}: "
                                "refused before inflating (a zip bomb)")
        for info in infos:
            _check_header(archive, info, artifact)
        found = [m[:-len(".npy")] for m in members]
        if sorted(found) != sorted(names) or len(set(found)) != len(found):
            missing = sorted(set(names) - set(found)) or "none"
            extra = sorted(set(found) - set(names)) or "none"
            repeated = sorted({n for n in found if found.count(n) > 1})
            raise ArtifactError(f"{artifact}: expected arrays {', '.join(names)}; missing "
                                f"{missing}, unexpected {extra}"
                                + (f", repeated {repeated}" if repeated else ""))


def _check_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, artifact: str) -> None:
    name = info.filename
    try:
        with archive.open(info) as member:
            head = member.read(MAX_HEADER_BYTES)
        stream = io.BytesIO(head)
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"npy format version {version} is not read here")
        header = stream.tell()
    except ArtifactError:
        raise
    except Exception as exc:  # noqa: BLE001 - zlib, zipfile and the npy header parser
        raise ArtifactError(f"{artifact} is not a readable .npz ({name}: "
                            f"{type(exc).__name__}: {one_line(exc, 200)})") from None
    if dtype.hasobject:
        raise ArtifactError(f"{artifact} is not a readable .npz ({name} holds Python objects, "
                            "which only pickle could read)")
    if dtype.kind != "f":
        raise ArtifactError(f"{artifact}: {name[:-len('.npy')]} is {dtype}, expected float32")
    data = math.prod(shape) * dtype.itemsize
    if info.file_size != header + data:
        raise ArtifactError(f"{artifact}: {name} declares {info.file_size} bytes but its header "
                            f"describes {header + data} ({dtype} {shape}): corrupt")
