"""`imdb-edge doctor` on the host: the environment report, and per artifact the op check,
the real load and the golden replay, with the exit status a deploy script relies on.
The same checks run under the emulated Raspberry Pis in tests/pi/test_pi_doctor.py."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import doctor_kit
from testkit import copy_artifact
import testkit
from imdb_edge import doctor_env, doctor_ops
from testkit import IMPORT_BLOCKER, installed, write_tiny_models

ROOT = Path(__file__).resolve().parents[2]
HAS_LITERT = installed("ai_edge_litert")
HAS_ORT = installed("onnxruntime")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Tiny models: numpy always, ONNX with onnx, TFLite with TensorFlow (a subprocess)."""
    return write_tiny_models(tmp_path_factory.mktemp("doctor_models"))


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.name} could not be made here (needs onnx / TensorFlow on the host)")
    return path


def run_cli(args, capsys) -> tuple:
    return testkit.run_cli(capsys, "doctor", *args)


def test_environment_report_lists_platform_python_numpy_and_backends(capsys):
    import platform

    import numpy as np

    code, out, _ = run_cli(["--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["status"] == "ok" and report["artifacts"] == []
    assert report["platform"]["machine"] == platform.machine()
    assert report["python"] == platform.python_version() and report["numpy"] == np.__version__
    by_name = {b["name"]: b for b in report["backends"]}
    assert set(by_name) == {"litert", "tflite_runtime", "tensorflow_lite", "onnxruntime", "numpy"}
    assert by_name["numpy"]["installed"] and by_name["numpy"]["version"] == np.__version__
    for name, module in (("litert", "ai_edge_litert"), ("onnxruntime", "onnxruntime"),
                         ("tflite_runtime", "tflite_runtime")):
        assert by_name[name]["installed"] == (importlib.util.find_spec(module) is not None)


def test_all_ok_with_golden_files_beside_the_artifacts(tiny, tmp_path, capsys):
    npz = copy_artifact(tiny / "tiny.npz", tmp_path)
    doctor_kit.write_golden(npz, npz)
    artifacts = [npz]
    if HAS_ORT and (tiny / "tiny_bany.onnx").exists():
        onnx = copy_artifact(tiny / "tiny_bany.onnx", tmp_path)
        doctor_kit.write_golden(onnx, npz)
        artifacts.append(onnx)
    code, out, _ = run_cli([*artifacts, "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["status"] == "ok", out
    for entry in report["artifacts"]:
        assert entry["golden"].endswith(".golden.npz")
        [check] = entry["checks"]
        assert check["load"]["status"] == "ok" and check["golden"]["status"] == "PASS"
        assert check["golden"]["rows"] > doctor_kit.GOLDEN_REVIEWS
        assert check["golden"]["max_abs"] <= 1e-5
    code, text, _ = run_cli(artifacts, capsys)
    assert code == 0 and text.rstrip().splitlines()[-1].startswith("OK:")
    assert "golden tiny.npz.golden.npz PASS" in text


def test_a_folder_golden_npz_serves_every_artifact_in_it(tiny, tmp_path, capsys):
    npz = copy_artifact(tiny / "tiny.npz", tmp_path)
    doctor_kit.write_golden(npz, npz, path=tmp_path / "golden.npz")
    code, out, _ = run_cli([tmp_path, "--json"], capsys)
    [entry] = json.loads(out)["artifacts"]
    assert code == 0 and entry["golden"] == str(tmp_path / "golden.npz")
    assert entry["checks"][0]["golden"]["status"] == "PASS"


def test_a_failing_golden_file_fails_with_the_broken_tolerance(tiny, tmp_path, capsys):
    npz = copy_artifact(tiny / "tiny.npz", tmp_path)
    doctor_kit.write_golden(npz, npz, shift=0.01)
    code, out, _ = run_cli([npz, "--json"], capsys)
    [entry] = json.loads(out)["artifacts"]
    assert code == 1 and entry["status"] == "fail"
    assert entry["checks"][0]["load"]["status"] == "ok"
    assert entry["checks"][0]["golden"]["status"] == "FAIL"
    assert any("max abs error" in p for p in entry["problems"]), entry["problems"]
    code, text, _ = run_cli([npz], capsys)
    assert code == 1 and "FAIL" in text and "max abs error 0.01 > 1e-05" in text


def test_a_corrupt_golden_file_is_a_failure_not_a_crash(tiny, tmp_path, capsys):
    npz = copy_artifact(tiny / "tiny.npz", tmp_path)
    Path(f"{npz}.golden.npz").write_bytes(b"not a zip")
    code, out, _ = run_cli([npz, "--json"], capsys)
    [entry] = json.loads(out)["artifacts"]
    assert code == 1 and any(p.startswith("golden file:") for p in entry["problems"])


@pytest.mark.skipif(not HAS_LITERT, reason="needs ai-edge-litert (and its schema) on the host")
def test_op_versions_the_runtime_lacks_are_named_and_the_load_fails(tiny, tmp_path, capsys):
    newer = doctor_kit.with_op_version(need(tiny / "tiny_bany.tflite"), tmp_path,
                                       "FULLY_CONNECTED", 99)
    code, out, _ = run_cli([newer, "--backend", "litert", "--json"], capsys)
    [entry] = json.loads(out)["artifacts"]
    [check] = entry["checks"]
    assert code == 1 and entry["status"] == "fail"
    assert check["ops"]["status"] == "fail"
    assert check["ops"]["missing"] == ["FULLY_CONNECTED v99 is not registered by litert "
                                       f"{doctor_env.backend_version('litert')}"]
    assert check["load"]["status"] == "fail" and "FULLY_CONNECTED" in check["load"]["reason"]


@pytest.mark.skipif(not HAS_LITERT, reason="needs ai-edge-litert on the host")
def test_the_real_tflite_artifact_passes_the_op_check(tiny, tmp_path, capsys):
    # Same bytes re-signed with the op list it really has: every code is registered.
    same = doctor_kit.with_op_version(need(tiny / "tiny_bany.tflite"), tmp_path,
                                      "FULLY_CONNECTED", 1)
    code, out, _ = run_cli([same, "--backend", "litert", "--json"], capsys)
    [check] = json.loads(out)["artifacts"][0]["checks"]
    assert code == 0, out
    assert check["ops"]["status"] == "ok" and check["ops"]["checked"] >= 10


@pytest.mark.skipif(not HAS_LITERT, reason="needs ai-edge-litert on the host")
def test_opcode_probe_model_is_what_the_schema_reads_and_litert_judges():
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    code = doctor_ops.BUILTIN_OPERATORS.index("STABLEHLO_CASE")      # > 127: both fields used
    model = schema.ModelT.InitFromPackedBuf(bytearray(doctor_ops.opcode_model(code, 3)), 0)
    [oc] = model.operatorCodes
    assert (oc.builtinCode, oc.deprecatedBuiltinCode, oc.version) == (code, 127, 3)
    assert len(model.subgraphs) == 1 and len(model.buffers) == 1
    assert doctor_ops.BUILTIN_OPERATORS == tuple(
        name for name, _ in sorted(((n, c) for n, c in vars(schema.BuiltinOperator).items()
                                    if n.isupper()), key=lambda nc: nc[1]))[:len(
                                        doctor_ops.BUILTIN_OPERATORS)]
    fully_connected = doctor_ops.BUILTIN_OPERATORS.index("FULLY_CONNECTED")
    Interpreter(model_content=doctor_ops.opcode_model(fully_connected, 1))
    with pytest.raises(ValueError, match="FULLY_CONNECTED"):
        Interpreter(model_content=doctor_ops.opcode_model(fully_connected, 99))


def test_a_missing_backend_fails_with_the_install_command_and_no_tensorflow(tiny, tmp_path):
    """A device without onnxruntime (blocked here) and never TensorFlow: the ONNX artifact
    fails naming the extra, the numpy one still passes."""
    onnx = need(tiny / "tiny_bany.onnx")
    code = (IMPORT_BLOCKER.replace("BLOCKED = (", "BLOCKED = ('onnxruntime', ") +
            "from imdb_edge.cli import main\n"
            f"status = main(['doctor', {str(onnx)!r}, {str(tiny / 'tiny.npz')!r}, '--json'])\n"
            "assert 'tensorflow' not in sys.modules and 'onnxruntime' not in sys.modules\n"
            "sys.exit(status)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    onnx_entry, npz_entry = report["artifacts"]
    assert onnx_entry["status"] == "fail" and onnx_entry["checks"] == []
    assert onnx_entry["problems"] == ['no backend for onnx artifacts is installed: '
                                      'pip install "imdb-edge[onnx]"']
    assert npz_entry["status"] == "ok"
    assert not [b for b in report["backends"] if b["name"] == "onnxruntime"][0]["installed"]


def test_bad_usage_is_one_line_and_exit_2(tmp_path):
    for args in (["doctor", str(tmp_path / "absent.tflite")], ["doctor", "--backend", "nope"]):
        done = subprocess.run([sys.executable, "-m", "imdb_edge.cli", *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done
        assert "Traceback" not in done.stderr and done.stdout == ""
    assert "absent.tflite not found" in subprocess.run(
        [sys.executable, "-m", "imdb_edge.cli", "doctor", str(tmp_path / "absent.tflite")],
        capture_output=True, text=True, timeout=120).stderr


def test_an_unreadable_sidecar_is_a_failed_artifact(tiny, tmp_path, capsys):
    npz = copy_artifact(tiny / "tiny.npz", tmp_path)
    Path(f"{npz}.json").write_text("{not json")
    code, out, _ = run_cli([npz, "--json"], capsys)
    [entry] = json.loads(out)["artifacts"]
    assert code == 1 and "not valid JSON" in entry["problems"][0]
