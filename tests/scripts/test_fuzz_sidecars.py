"""An edited sidecar beside the true artifact never scores silently wrong, and with a verify
key no edited or re-signed file gets past the signature check.

scripts/fuzz_sidecars.py makes the cases (every field of the sidecar deleted, retyped, at
its edges or swapped; seeded edits of its text; in signed mode artifact mutants re-hashed
in their sidecar, all re-signed by an attacker's key) and scores each in a child process.
Here on the fast "bag" models, IMDB_EDGE_FUZZ_N text edits each (30 unless set); set
IMDB_EDGE_FUZZ_REPORT=path.json to keep the figures. For a longer run use the script's CLI.
"""
from __future__ import annotations

import json
import os
import sys

import pytest

from testkit import PROJECT, keep

sys.path.insert(0, str(PROJECT / "scripts"))  # the fuzzer imports its sibling modules
import fuzz_sidecars  # noqa: E402
import sidecar_cases  # noqa: E402

pytestmark = pytest.mark.hardening

N = int(os.environ.get("IMDB_EDGE_FUZZ_N", 30))
FORMATS = [("bag.onnx", "onnxruntime"), ("bag.tflite", "litert")]
FORMAT_IDS = [name.split(".")[-1] for name, _ in FORMATS]


def test_cases_cover_every_field_and_are_seeded(model_path):
    text = (model_path("bag.onnx").parent / "bag.onnx.json").read_text()
    cases = sidecar_cases.all_cases(text, "plain", 40, 0, 0)
    again = sidecar_cases.all_cases(text, "plain", 40, 0, 0)
    other = sidecar_cases.all_cases(text, "plain", 40, 1, 0)
    assert cases == again and cases[-40:] != other[-40:]
    assert len({c[1] for c in cases}) == len(cases)  # every case a different sidecar
    edited = {f for _, _, fields in cases for f in fields or ()}
    leaves = {sidecar_cases.dotted(p) for p, _ in sidecar_cases.leaves(json.loads(text))}
    assert leaves <= edited
    assert any(desc.endswith("= nan") for desc, _, _ in cases)


@pytest.mark.parametrize("name,backend", FORMATS, ids=FORMAT_IDS)
def test_sidecar_edits_are_refused_or_scored_as_before(model_path, name, backend):
    report = fuzz_sidecars.fuzz(model_path(name, backend), N, mode="plain")
    keep(report)
    assert report["findings"] == []
    assert report["refused"] > report["tried"] // 2 and report["same"] > 0
    # The probes see a change of label: swapped labels and a moved threshold are scored
    # differently, as the sidecar says, and judged legal configuration.
    follows = set(report["follows_fields"])
    assert {"labels", "threshold"} <= follows
    assert all(any(f == c or f.startswith((c + ".", c + "["))
                   for c in sidecar_cases.CONFIGURATION) for f in follows), follows


@pytest.mark.slow
def test_signed_every_edit_and_resigned_mutant_is_refused(model_path):
    pytest.importorskip("model_signing", reason="the [sign] extra is not installed")
    report = fuzz_sidecars.fuzz(model_path("bag.onnx", "onnxruntime"), N // 3, mode="signed")
    keep(report)
    assert report["findings"] == []
    assert report["refused"] == report["tried"] > fuzz_sidecars.ARTIFACT_MUTANTS


PLANTED = r"""
import sys
sys.path.insert(0, sys.argv.pop(1))


from imdb_edge.runtime import sidecar_checks

sidecar_checks.check_fields = lambda sidecar, where: None   # a runtime that checks less
import fuzz_sidecars
sys.exit(fuzz_sidecars.main())
"""


def test_a_runtime_that_checks_less_is_caught(model_path, tmp_path, monkeypatch):
    """Without the runtime's range checks a NaN threshold or a repeated label is scored:
    the fuzzer must call that wrong, not configuration."""
    wrapper = tmp_path / "planted.py"
    wrapper.write_text(PLANTED)
    monkeypatch.setattr(fuzz_sidecars, "worker_command",
                        lambda: [sys.executable, str(wrapper), str(PROJECT / "scripts")])
    report = fuzz_sidecars.fuzz(model_path("bag.onnx", "onnxruntime"), 0, mode="plain")
    wrong = {f["kind"] for f in report["findings"] if f["outcome"] == "wrong"}
    assert {"threshold = nan", "labels[1] = 'negative'"} <= wrong, wrong
