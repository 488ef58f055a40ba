"""The docs against the code: the tolerance table in docs/parity.md is generated from
imdb_edge/tolerances.py, and the packaged rows are those the script makes today."""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tolerance_table_in_the_doc_is_the_one_in_the_code():
    table = script("tolerance_table")
    doc = table.DOC.read_text(encoding="utf-8")
    assert table.current(doc), "docs/parity.md lost the generated table's markers"
    assert table.current(doc) == table.render(), (
        "docs/parity.md and imdb_edge/tolerances.py disagree: run "
        "python scripts/tolerance_table.py")


def test_the_generated_table_shows_every_bound_of_every_kind():
    from imdb_edge.tolerances import TOLERANCES, Tolerance

    table = script("tolerance_table")
    assert {f for f, _, _ in table.COLUMNS} == {f.name for f in dataclasses.fields(Tolerance)}
    rendered = table.render()
    for kind in TOLERANCES:
        assert f"\n| {kind} |" in rendered


def exported_names():
    """Patterns of every file name `imdb-edge export` writes (see export/pipeline.py)."""
    import re

    from imdb_edge.export.numpy_format import MODES as NUMPY
    from imdb_edge.export.onnx import MODES as ONNX
    from imdb_edge.export.tflite import MODES as TFLITE

    def one_of(modes):
        return "|".join(map(re.escape, modes))

    return re.compile(rf"imdb-(?:(?:{one_of(TFLITE)})-b\d+\.tflite|(?:{one_of(ONNX)})\.onnx|"
                      rf"(?:{one_of(NUMPY)})\.npz)")


def test_the_docs_name_only_artifacts_the_exporter_writes():
    import re

    named = re.compile(r"\bimdb[-_][\w-]*\.(?:tflite|onnx|npz)\b")
    written = exported_names()
    wrong = [(doc.relative_to(ROOT).as_posix(), name)
             for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for name in named.findall(doc.read_text(encoding="utf-8"))
             if not written.fullmatch(name)]
    assert not wrong, f"names the exporter never writes: {wrong}"
