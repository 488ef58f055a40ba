"""Signed artifacts (the [sign] extra, OpenSSF model-signing, key-based and offline):
`score --verify-key` refuses an unsigned artifact, another key's signature, and any byte
changed in the artifact, its sidecar or its vocabulary, before anything is parsed."""
from __future__ import annotations

import pytest

from hardening_kit import cli, one_error_line

pytest.importorskip("model_signing", reason="the [sign] extra is not installed")


def keys(folder, name):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def test_signed_artifact_scores_and_tampering_is_refused(copy_of, tmp_path, capsys, monkeypatch):
    from imdb_edge.signing import sign

    path = copy_of("tiny.npz")
    private, public = keys(tmp_path, "ours")
    _, other = keys(tmp_path, "theirs")
    status, out, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert status == 2
    one_error_line(err, "is not signed")
    sign(path, private)
    status, out, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert status == 0 and len(out) == 1, err
    status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", other)
    assert status == 2
    one_error_line(err, "signature does not verify")
    monkeypatch.setenv("IMDB_EDGE_VERIFY_KEY", str(other))
    status, _, err = cli(capsys, "score", path, "--text", "good")
    assert status == 2
    monkeypatch.delenv("IMDB_EDGE_VERIFY_KEY")
    for name in ("tiny.npz.json", "vocab.txt"):
        target = path.parent / name
        original = target.read_bytes()
        target.write_bytes(original.replace(b"0.5", b"0.6") if name.endswith("json")
                           else original + b"extra\n")
        status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
        assert status == 2
        one_error_line(err, "signature does not verify")
        target.write_bytes(original)
