"""`imdb-edge doctor` on the emulated Raspberry Pis, from the installed wheel with only
numpy and one backend: all ok on trixie (LiteRT, Python 3.13), op versions tflite-runtime
2.14 lacks on bookworm, and on the 32-bit armhf board (Debian's numpy) a passing golden
file, a failing one and a backend that does not exist there. The artifacts and golden
files are made on the host (tests/doctor_kit.py) from the tiny models."""
from __future__ import annotations

import json

import pytest

import doctor_kit
from testkit import copy_artifact

pytestmark = [pytest.mark.pi, pytest.mark.slow]


def doctor(pi_emulation, release, site, artifacts) -> tuple:
    done = pi_emulation.run(site, ["-m", "imdb_edge.cli", "doctor", *artifacts, "--json"],
                            release=release, check=False)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report = json.loads(done.stdout)
    machine, python = pi_emulation.releases[release]
    assert report["platform"]["machine"] == machine
    assert report["python"].startswith(f"{python}.")
    return done.returncode, report


def installed(report) -> dict:
    return {b["name"]: b["version"] for b in report["backends"] if b["installed"]}


@pytest.fixture(scope="module")
def tflite(pi_artifacts, tmp_path_factory):
    given = [p for p in pi_artifacts.get("tflite", []) if p.name == "tiny_bany.tflite"]
    if not given:
        pytest.skip("no tiny TFLite model (needs TensorFlow on the host)")
    pytest.importorskip("ai_edge_litert", reason="re-signing a TFLite file needs its schema")
    folder = tmp_path_factory.mktemp("doctor_tflite")
    # The same bytes re-signed with the op list they hold, and a copy that says
    # FULLY_CONNECTED v11: LiteRT 2.3 registers it, tflite-runtime 2.14 stops at v10.
    same = doctor_kit.with_op_version(given[0], folder, "FULLY_CONNECTED", 1)
    newer = doctor_kit.with_op_version(given[0], folder, "FULLY_CONNECTED", 11)
    numpy = [p for p in pi_artifacts.get("numpy", []) if p.name == "tiny.npz"]
    if numpy:
        doctor_kit.write_golden(same, numpy[0])
    return same, newer, bool(numpy)


def test_doctor_all_ok_on_trixie_with_litert(pi_emulation, tflite):
    same, _, has_golden = tflite
    code, report = doctor(pi_emulation, "trixie", "litert", [same])
    [entry] = report["artifacts"]
    assert code == 0 and report["status"] == "ok", entry["problems"]
    assert installed(report) == {"litert": "2.3.0", "numpy": "2.4.6"}
    [check] = entry["checks"]
    assert check["ops"]["status"] == "ok" and check["ops"]["checked"] >= 10
    assert check["load"]["status"] == "ok"
    if has_golden:
        assert check["golden"]["status"] == "PASS" and check["golden"]["max_abs"] <= 1e-5


def test_doctor_names_op_versions_tflite_runtime_214_lacks_on_bookworm(pi_emulation, tflite):
    same, newer, _ = tflite
    code, report = doctor(pi_emulation, "bookworm", "tflite", [same, newer])
    assert installed(report)["tflite_runtime"] == "2.14.0"
    ok, bad = report["artifacts"]
    assert code == 1 and report["status"] == "fail"
    assert ok["status"] == "ok", ok["problems"]
    assert ok["checks"][0]["ops"]["status"] == "ok"
    [check] = bad["checks"]
    assert check["ops"]["missing"] == [
        "FULLY_CONNECTED v11 is not registered by tflite_runtime 2.14.0"]
    assert check["load"]["status"] == "fail" and "FULLY_CONNECTED" in check["load"]["reason"]


def test_doctor_on_a_32_bit_board_golden_pass_golden_fail_and_no_onnx(pi_emulation,
                                                                       pi_artifacts,
                                                                       tmp_path):
    numpy = [p for p in pi_artifacts.get("numpy", []) if p.name == "tiny.npz"]
    onnx = [p for p in pi_artifacts.get("onnx", []) if p.name == "tiny_bany.onnx"]
    if not numpy or not onnx:
        pytest.skip("needs the tiny numpy and ONNX models (onnx on the host)")
    good = copy_artifact(numpy[0], tmp_path / "good")
    doctor_kit.write_golden(good, numpy[0])
    bad = copy_artifact(numpy[0], tmp_path / "bad")
    doctor_kit.write_golden(bad, numpy[0], shift=0.01)
    code, report = doctor(pi_emulation, "bookworm-armhf", "numpy", [good, bad, onnx[0]])
    assert code == 1
    assert installed(report) == {"numpy": "1.24.2"}
    passed, failed, missing = report["artifacts"]
    assert passed["status"] == "ok", passed["problems"]
    assert passed["checks"][0]["golden"]["status"] == "PASS"
    assert failed["status"] == "fail" and failed["checks"][0]["golden"]["status"] == "FAIL"
    assert any("max abs error" in p for p in failed["problems"])
    assert missing["status"] == "fail" and missing["checks"] == []
    assert missing["problems"] == ['no backend for onnx artifacts is installed: '
                                   'pip install "imdb-edge[onnx]"']
