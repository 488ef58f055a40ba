"""Signed artifacts, with the OpenSSF ``model-signing`` library, key-based and offline
(``pip install "imdb-edge[sign]"``).

``sign(artifact, private_key)`` signs the artifact, its sidecar and its vocabulary together
into ``<artifact>.sig``; ``verify(artifact, public_key)`` checks that signature before any of
the three files is parsed, and raises SignatureError for an unsigned artifact, another key,
or any changed byte. The three files are verified as copies in a private folder, and those
verified bytes are the ones the caller then loads (``verified_copy``), so a file swapped after
the check is never read.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from imdb_edge.errors import SignatureError

VOCABULARY = "vocab.txt"  # the exporter's vocabulary name: the one a signature covers
ENV_KEY = "IMDB_EDGE_VERIFY_KEY"


def signature_path(artifact) -> Path:
    return Path(f"{artifact}.sig")


def _library():
    try:
        from model_signing import signing, verifying
    except ImportError as exc:
        raise SignatureError(f"signing needs the [sign] extra: pip install \"imdb-edge[sign]\" "
                             f"({exc})") from None
    return signing, verifying


def _bundle_files(artifact: Path) -> list:
    return [artifact.name, f"{artifact.name}.json", VOCABULARY]


@contextlib.contextmanager
def _bundle(artifact: Path):
    """A private folder holding copies of the three files (the signed unit)."""
    folder = Path(tempfile.mkdtemp(prefix=".imdb-edge-sign-"))
    try:
        for name in _bundle_files(artifact):
            source = artifact.parent / name
            if not source.is_file():
                raise SignatureError(f"{source} is missing: a signature covers the artifact, "
                                     "its sidecar and vocab.txt")
            shutil.copyfile(source, folder / name)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sign(artifact, private_key) -> Path:
    """Sign ``artifact`` with its sidecar and vocabulary; returns ``<artifact>.sig``."""
    signing, _ = _library()
    artifact = Path(artifact)
    with _bundle(artifact) as folder:
        out = signature_path(artifact)
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            signing.Config().use_elliptic_key_signer(private_key=str(private_key)).sign(folder, tmp)
        except Exception as exc:  # noqa: BLE001 - the library raises many kinds
            raise SignatureError(f"cannot sign {artifact} with {private_key}: {exc}") from None
        os.replace(tmp, out)
    return out


@contextlib.contextmanager
def verified_copy(artifact, public_key):
    """Yield the path of a verified private copy of ``artifact`` (with its sidecar and
    vocabulary beside it): load that, not the original, so what runs is what was verified."""
    _, verifying = _library()
    artifact = Path(artifact)
    signature = signature_path(artifact)
    if not signature.is_file():
        raise SignatureError(f"{artifact} is not signed (no {signature.name}); a verify key "
                             "was given, so unsigned artifacts are refused")
    with _bundle(artifact) as folder:
        try:
            verifying.Config().use_elliptic_key_verifier(public_key=str(public_key)).verify(
                folder, signature)
        except Exception as exc:  # noqa: BLE001
            raise SignatureError(f"{artifact}: signature does not verify with {public_key} "
                                 f"({' '.join(str(exc).split())[:200]})") from None
        yield folder / artifact.name


def verify(artifact, public_key) -> None:
    """Raise SignatureError unless ``artifact``, its sidecar and vocabulary are signed by
    ``public_key``'s key (for ``doctor`` and other checks that load nothing)."""
    with verified_copy(artifact, public_key):
        pass


def key_from(flag) -> "str | None":
    """The --verify-key flag, else $IMDB_EDGE_VERIFY_KEY, else None."""
    return flag or os.environ.get(ENV_KEY) or None
