"""Signed artifacts, with the OpenSSF ``model-signing`` library, key-based and offline
(``pip install "imdb-edge[sign]"``).

``sign(artifact, private_key)`` signs the artifact, its sidecar and its vocabulary together
into ``<artifact>.sig``; ``verified_copy(artifact, public_key)`` checks that signature before
any of the three files is parsed, and raises SignatureError for an unsigned artifact, another
key, or any changed byte. The three files are verified as copies in a private folder, and
those verified bytes are the ones the caller then loads, so a file swapped after the check
is never read. The signature covers the files' names too: an artifact renamed, or given
another artifact's signature, does not verify.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from imdb_edge.errors import SignatureError
from imdb_edge.helpers import one_line

VOCABULARY = "vocab.txt"  # the exporter's vocabulary name: the one a signature covers
ENV_KEY = "IMDB_EDGE_VERIFY_KEY"
# A signature is a sigstore bundle of a few KB; the library reads it whole.
MAX_SIGNATURE_BYTES = 1 << 20
MAX_KEY_BYTES = 64 << 10  # a PEM key is a few hundred bytes
CURVES = ("secp256r1", "secp384r1", "secp521r1")  # the curves model-signing accepts
KEY_FORMAT = {kind: f"an elliptic-curve {kind} key on P-256, P-384 or P-521"
              for kind in ("private", "public")}


def signature_path(artifact) -> Path:
    return Path(f"{artifact}.sig")


def key_from(flag) -> Optional[str]:
    """The --verify-key flag, else $IMDB_EDGE_VERIFY_KEY, else None."""
    return flag or os.environ.get(ENV_KEY) or None


def _library():
    try:
        from model_signing import signing, verifying
    except ImportError as exc:
        raise SignatureError(f"signing needs the [sign] extra: pip install \"imdb-edge[sign]\" "
                             f"({exc})") from None
    return signing, verifying


def _load_key(path, private: bool):
    """The elliptic-curve key in PEM file ``path``, or SignatureError saying what it is
    instead (the library's own errors for an RSA key or a swapped pair are cryptic)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    what = "private" if private else "public"
    use = "sign" if private else "verify"
    try:
        size = os.stat(path).st_size
        if size > MAX_KEY_BYTES:
            raise ValueError(f"{size} bytes, too large for a key")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot {use} with {path}: {exc.strerror or one_line(exc)}"
                             ) from None
    except ValueError as exc:
        raise SignatureError(f"cannot {use} with {path}: {exc}") from None
    load = serialization.load_pem_private_key if private else serialization.load_pem_public_key
    try:
        key = load(data, None) if private else load(data)
    except TypeError:  # an encrypted private key, and no password given
        raise SignatureError(f"cannot sign with {path}: the key is encrypted; give an "
                             "unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError(f"cannot {use} with {path}: not a PEM {what} key (expected "
                             f"{KEY_FORMAT[what]})") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) or \
            key.curve.name not in CURVES:
        kind = getattr(getattr(key, "curve", None), "name", None) or \
            type(key).__name__.replace("PrivateKey", "").replace("PublicKey", "")
        raise SignatureError(f"cannot {use} with {path}: {kind} keys are not supported "
                             f"(expected {KEY_FORMAT[what]})")
    return key


def signer(private_key):
    """model-signing's signing configuration for ``private_key``; SignatureError when the
    key cannot sign (checked before an export spends minutes building artifacts)."""
    signing, _ = _library()
    _load_key(private_key, private=True)
    return signing.Config().use_elliptic_key_signer(private_key=str(private_key))


def _verifier(public_key):
    _, verifying = _library()
    _load_key(public_key, private=False)
    return verifying.Config().use_elliptic_key_verifier(public_key=str(public_key))


def _bundle_limits() -> dict:
    from imdb_edge.runtime.sidecar import MAX_SIDECAR_BYTES, MAX_VOCABULARY_BYTES

    return {"sidecar": MAX_SIDECAR_BYTES, "vocabulary": MAX_VOCABULARY_BYTES}


def _regular_size(path: Path, what: str) -> int:
    from imdb_edge.runtime.sidecar import regular_file_size

    try:
        return regular_file_size(path, what)
    except FileNotFoundError:
        raise SignatureError(f"{what} {path} is missing: a signature covers the artifact, "
                             f"its sidecar and {VOCABULARY}") from None
    except ValueError as exc:  # ArtifactError: a FIFO, a device, unreadable
        raise SignatureError(str(exc)) from None


@contextlib.contextmanager
def _bundle(artifact: Path):
    """A private folder holding copies of the three files (the signed unit). Each must be
    a regular file (a FIFO would block the copy); sidecar and vocabulary are bounded as the
    runtime bounds them, so a huge file is refused before it is copied or hashed."""
    limits = _bundle_limits()
    parts = (("artifact", artifact.name), ("sidecar", f"{artifact.name}.json"),
             ("vocabulary", VOCABULARY))
    root = Path(tempfile.mkdtemp(prefix=".imdb-edge-sign-"))
    folder = root / artifact.name  # the signed statement names its subject by this folder
    try:
        folder.mkdir()
        for what, name in parts:
            source = artifact.parent / name
            size, limit = _regular_size(source, what), limits.get(what)
            if limit is not None and size > limit:
                raise SignatureError(f"{what} {source} is {size} bytes, over the "
                                     f"{limits[what] >> 20} MiB a {what} may have")
            shutil.copyfile(source, folder / name)
        yield folder
    finally:
        shutil.rmtree(root, ignore_errors=True)


def sign(artifact, private_key, config=None) -> Path:
    """Sign ``artifact`` with its sidecar and vocabulary; returns ``<artifact>.sig``, written
    atomically (a hidden temporary file renamed into place)."""
    config = config or signer(private_key)
    artifact = Path(artifact)
    out = signature_path(artifact)
    tmp = out.with_name(f".{out.name}.tmp")
    with _bundle(artifact) as folder:
        try:
            config.sign(folder, tmp)
            os.replace(tmp, out)
        except Exception as exc:  # noqa: BLE001 - the library raises many kinds
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise SignatureError(f"cannot sign {artifact} with {private_key}: "
                                 f"{one_line(exc)}") from None
    return out


def sign_published(artifacts: Iterable, private_key) -> list:
    """After an export: sign each freshly published artifact, or without a key remove its
    old signature (made for the files it replaced, it could only fail to verify)."""
    artifacts = [Path(a) for a in artifacts]
    if private_key is None:
        for artifact in artifacts:
            with contextlib.suppress(FileNotFoundError):
                signature_path(artifact).unlink()
        return []
    config = signer(private_key)
    return [sign(artifact, private_key, config) for artifact in artifacts]


@contextlib.contextmanager
def verified_copy(artifact, public_key):
    """Yield the path of a verified private copy of ``artifact`` (with its sidecar and
    vocabulary beside it): load that, not the original, so what runs is what was verified."""
    verifier = _verifier(public_key)
    artifact = Path(artifact)
    signature = signature_path(artifact)
    if not signature.exists():
        raise SignatureError(f"{artifact} is not signed (no {signature.name}); a verify key "
                             "was given, so unsigned artifacts are refused")
    size = _regular_size(signature, "signature")
    if size > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"signature {signature} is {size} bytes; signatures are a few KB")
    with _bundle(artifact) as folder:
        try:
            # The library prints a warning on stdout for old-format signatures: keep it off
            # stdout, where score writes its JSON lines.
            with contextlib.redirect_stdout(io.StringIO()):
                verifier.verify(folder, signature)
        except Exception as exc:  # noqa: BLE001 - the library raises many kinds
            raise SignatureError(f"{artifact}: signature does not verify with {public_key} "
                                 f"({one_line(exc, 200)})") from None
        yield folder / artifact.name


@contextlib.contextmanager
def verified_copies(artifacts: Iterable, public_key):
    """Yield verified copies of ``artifacts`` (see verified_copy), in order; without a key,
    the artifacts themselves. The first that does not verify raises SignatureError."""
    artifacts = [Path(a) for a in artifacts]
    if public_key is None:
        yield artifacts
        return
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(verified_copy(a, public_key)) for a in artifacts]
