"""Signed artifacts (the [sign] extra, OpenSSF model-signing, key-based and offline).

`export --sign-key` signs each artifact with its sidecar and vocab.txt; `score`, `parity`
(with `--golden` too) and `doctor` with `--verify-key` (or $IMDB_EDGE_VERIFY_KEY) refuse
an unsigned artifact, another key's signature, and any byte changed in the three files,
before any of them reaches a parser (spied below: the sidecar and manifest JSON readers,
the vocabulary reader and the backend constructors record every call)."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from testkit import cli, one_error_line

pytest.importorskip("model_signing", reason="the [sign] extra is not installed")
pytestmark = pytest.mark.hardening


def write_key(folder, name, key):
    from cryptography.hazmat.primitives import serialization

    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """name -> (private PEM, public PEM): ours and theirs (P-256), and keys that cannot sign."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    folder = tmp_path_factory.mktemp("keys")
    made = {name: write_key(folder, name, key) for name, key in (
        ("ours", ec.generate_private_key(ec.SECP256R1())),
        ("theirs", ec.generate_private_key(ec.SECP256R1())),
        ("p384", ec.generate_private_key(ec.SECP384R1())),
        ("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("k1", ec.generate_private_key(ec.SECP256K1())))}
    return made


@pytest.fixture
def parsed(monkeypatch):
    """Every file a parser was given, in order: sidecars and manifest.json (their JSON
    readers), vocabularies, artifacts (the backend constructor)."""
    from imdb_edge import artifacts
    from imdb_edge.runtime import model, sidecar

    calls = []

    class SpyJson:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def loads(self, text, *args, **kwargs):
            value = self.real.loads(text, *args, **kwargs)
            calls.append(("json", value.get("artifact") if isinstance(value, dict) else None))
            return value

    for module in (sidecar, artifacts):
        monkeypatch.setattr(module, "json", SpyJson(json))
    real_vocabulary, real_resolve = model.load_vocabulary, model.resolve

    def vocabulary(side):
        calls.append(("vocabulary", side.artifact))
        return real_vocabulary(side)

    def resolve(fmt, requested=None):
        backend = real_resolve(fmt, requested)

        def construct(model_bytes, side, threads):
            calls.append(("artifact", side.artifact))
            return backend(model_bytes, side, threads)
        return construct

    monkeypatch.setattr(model, "load_vocabulary", vocabulary)
    monkeypatch.setattr(model, "resolve", resolve)
    return calls


def signed_copy(copy_of, keys, name="tiny.npz", key="ours", folder=None):
    from imdb_edge.signing import sign

    path = copy_of(name, folder=folder)
    sign(path, keys[key][0])
    return path


# ------------------------------------------------------------------------------- score

def test_signed_artifact_scores_and_tampering_is_refused(copy_of, keys, capsys, monkeypatch,
                                                         parsed):
    from imdb_edge.signing import sign

    path = copy_of("tiny.npz")
    public, other = keys["ours"][1], keys["theirs"][1]
    status, out, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert status == 2
    one_error_line(err, "is not signed")
    assert parsed == []
    sign(path, keys["ours"][0])
    status, out, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert status == 0 and len(out) == 1, err
    assert ("artifact", "tiny.npz") in parsed  # the spy sees a real load
    expected = out
    parsed.clear()
    status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", other)
    assert status == 2
    one_error_line(err, "signature does not verify")
    monkeypatch.setenv("IMDB_EDGE_VERIFY_KEY", str(other))
    status, _, err = cli(capsys, "score", path, "--text", "good")
    assert status == 2
    one_error_line(err, "signature does not verify")
    monkeypatch.delenv("IMDB_EDGE_VERIFY_KEY")
    for name in ("tiny.npz", "tiny.npz.json", "vocab.txt"):
        target = path.parent / name
        original = target.read_bytes()
        target.write_bytes(original.replace(b"0.5", b"0.6") if name.endswith("json")
                           else original + b"extra\n")
        status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
        assert status == 2, name
        one_error_line(err, "signature does not verify")
        target.write_bytes(original)
    assert parsed == []
    status, out, _ = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert (status, out) == (0, expected)


def test_a_signature_covers_the_file_names(copy_of, keys, capsys, tmp_path, parsed):
    """Another artifact's valid signature, or a signed artifact renamed, does not verify."""
    tiny = signed_copy(copy_of, keys)
    bag = signed_copy(copy_of, keys, "bag.onnx")
    public = keys["ours"][1]
    shutil.copy(f"{tiny}.sig", f"{bag}.sig")
    status, _, err = cli(capsys, "score", bag, "--text", "good", "--verify-key", public)
    assert status == 2
    one_error_line(err, "signature does not verify")
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for suffix in ("", ".json", ".sig"):
        shutil.copy(f"{tiny}{suffix}", renamed / f"other.npz{suffix}")
    shutil.copy(tiny.parent / "vocab.txt", renamed / "vocab.txt")
    status, _, err = cli(capsys, "score", renamed / "other.npz", "--text", "good",
                         "--verify-key", public)
    assert status == 2
    one_error_line(err, "signature does not verify")
    assert parsed == []


def test_odd_signature_and_bundle_files_are_refused_without_blocking(copy_of, keys, capsys,
                                                                    parsed):
    """A FIFO as the signature or the vocabulary would block a reader; a huge signature or
    a sparse 2 GB vocabulary would be read or copied whole: each is refused by its kind or
    size first."""
    path = signed_copy(copy_of, keys)
    public = keys["ours"][1]
    signature, vocabulary = path.parent / "tiny.npz.sig", path.parent / "vocab.txt"
    kept = signature.read_bytes()
    signature.unlink()
    os.mkfifo(signature)
    status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert status == 2
    one_error_line(err, "not a regular file")
    signature.unlink()
    signature.write_bytes(kept + b" " * (2 << 20))
    status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert status == 2
    one_error_line(err, "signatures are a few KB")
    signature.write_bytes(kept)
    with open(vocabulary, "r+b") as f:
        f.truncate(2 << 30)
    status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert status == 2
    one_error_line(err, r"vocabulary .* is 2147483648 bytes, over the 64 MiB")
    vocabulary.unlink()
    os.mkfifo(vocabulary)
    status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", public)
    assert status == 2
    one_error_line(err, "not a regular file")
    assert parsed == []


def test_library_warnings_stay_off_stdout(copy_of, keys, capsys):
    """model-signing prints a warning on stdout for a signature without a key hint (the
    older format, still valid); score's stdout must stay one JSON line per review."""
    path = signed_copy(copy_of, keys)
    signature = path.parent / "tiny.npz.sig"
    bundle = json.loads(signature.read_text())
    bundle["verificationMaterial"]["publicKey"]["hint"] = ""
    signature.write_text(json.dumps(bundle))
    status, out, err = cli(capsys, "score", path, "--text", "good", "--verify-key",
                           keys["ours"][1])
    assert status == 0, err
    assert len(out) == 1 and json.loads(out[0])["label"] in ("positive", "negative")


@pytest.mark.parametrize("key, message", [
    ("rsa", "RSA keys are not supported"),
    ("k1", "secp256k1 keys are not supported"),
    ("public", "not a PEM private key"),
    ("missing", "No such file or directory"),
    ("encrypted", "the key is encrypted"),
])
def test_keys_that_cannot_sign_are_refused_by_name(keys, tmp_path, key, message):
    from cryptography.hazmat.primitives import serialization

    from imdb_edge.errors import SignatureError
    from imdb_edge.signing import signer

    path = {"rsa": keys["rsa"][0], "k1": keys["k1"][0], "public": keys["ours"][1],
            "missing": tmp_path / "none.pem"}.get(key)
    if key == "encrypted":
        loaded = serialization.load_pem_private_key(keys["ours"][0].read_bytes(), None)
        path = tmp_path / "encrypted.pem"
        path.write_bytes(loaded.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(SignatureError, match=message):
        signer(path)
    assert signer(keys["p384"][0]) is not None


def test_a_verify_key_that_is_not_a_public_key_is_refused(copy_of, keys, capsys, parsed):
    path = signed_copy(copy_of, keys)
    for key, message in ((keys["ours"][0], "not a PEM public key"),
                         (keys["rsa"][1], "RSA keys are not supported")):
        status, _, err = cli(capsys, "score", path, "--text", "good", "--verify-key", key)
        assert status == 2
        one_error_line(err, message)
    assert parsed == []


# ---------------------------------------------------------------------- parity --golden

@pytest.fixture
def golden(model_path, tmp_path):
    """A golden file whose 'Keras' outputs are tiny.npz's own (edge rows only)."""
    from imdb_edge import parity
    from imdb_edge.metrics import edge_cases
    from imdb_edge.runtime import load

    ids, names = edge_cases(random_rows=0)
    probs = load(model_path("tiny.npz")).predict_ids(ids)
    reference = parity.build_reference(ids, probs, np.zeros(0, np.int8), edge_rows=names,
                                       model=dict(path="tiny", sha256="tiny"),
                                       data=dict(source="none", reviews=0))
    path = tmp_path / "golden.npz"
    parity.save_golden(reference, path)
    return path


def test_parity_golden_verifies_every_artifact_first(copy_of, keys, golden, tmp_path, capsys,
                                                     monkeypatch, parsed):
    path = signed_copy(copy_of, keys)
    folder, report = path.parent, tmp_path / "report"
    (folder / "manifest.json").write_text(json.dumps({"artifacts": [{"artifact": path.name}]}))
    public = keys["ours"][1]
    args = ("parity", "--golden", golden, folder, "--report", report, "--no-plots")
    status, _, err = cli(capsys, *args, "--verify-key", public)
    assert status == 0, err
    entry = json.loads((report / "report.json").read_text())["artifacts"][0]
    assert entry["path"] == str(path.resolve())  # the user's file, not the verified copy
    assert entry["signature"] == f"verified with {public}"
    parsed.clear()
    monkeypatch.setenv("IMDB_EDGE_VERIFY_KEY", str(keys["theirs"][1]))
    status, _, err = cli(capsys, *args)
    assert status == 2
    one_error_line(err, "signature does not verify")
    monkeypatch.delenv("IMDB_EDGE_VERIFY_KEY")
    bag = copy_of("bag.onnx", folder=folder)  # an unsigned artifact in the same folder
    status, _, err = cli(capsys, *args, "--verify-key", public)
    assert status == 2
    one_error_line(err, f"{bag.name} is not signed")
    assert parsed == []  # not even the folder's manifest or sidecars


# ------------------------------------------------------------------------------ doctor

def test_doctor_fails_unsigned_artifacts_without_parsing_them(copy_of, keys, capsys, parsed):
    path = signed_copy(copy_of, keys)
    copy_of("bag.onnx", folder=path.parent)
    status, out, err = cli(capsys, "doctor", path.parent, "--json", "--verify-key",
                           keys["ours"][1])
    assert status == 1, err
    entries = {e["artifact"]: e for e in json.loads("\n".join(out))["artifacts"]}
    assert entries["tiny.npz"]["status"] == "ok" and entries["tiny.npz"]["signature"] == "ok"
    assert entries["tiny.npz"]["path"] == str(path.resolve())
    bag = entries["bag.onnx"]
    assert bag["status"] == "fail" and bag["signature"] == "fail"
    assert bag["problems"] == [p for p in bag["problems"] if "is not signed" in p] != []
    assert all(name == "tiny.npz" for _, name in parsed), parsed
    status, out, _ = cli(capsys, "doctor", path, "--verify-key", keys["ours"][1])
    assert status == 0 and any("signature ok" in line for line in out)


# ------------------------------------------------------------------------------ export

def test_export_signs_what_it_publishes(keys, tmp_path, capsys, parsed):
    """--sign-key signs every published artifact; a bad key stops the export before it
    starts; an export without a key removes the signatures it made stale."""
    pytest.importorskip("tensorflow")
    out = tmp_path / "artifacts"
    base = ("export", "--format", "numpy", "--no-validate", "--out", out)
    status, _, err = cli(capsys, *base, "--sign-key", keys["rsa"][0])
    assert status == 2
    one_error_line(err, "RSA keys are not supported")
    assert not out.exists()
    status, _, err = cli(capsys, *base, "--sign-key", keys["ours"][0])
    assert status == 0, err
    artifact = out / "imdb-float32.npz"
    assert (out / "imdb-float32.npz.sig").is_file() and "signed imdb-float32.npz.sig" in err
    status, lines, err = cli(capsys, "score", artifact, "--text", "a fine film",
                             "--verify-key", keys["ours"][1])
    assert status == 0 and len(lines) == 1, err
    status, _, err = cli(capsys, *base)
    assert status == 0, err
    assert not (out / "imdb-float32.npz.sig").exists()
    status, _, err = cli(capsys, "score", artifact, "--text", "good", "--verify-key",
                         keys["ours"][1])
    assert status == 2
    one_error_line(err, "is not signed")
