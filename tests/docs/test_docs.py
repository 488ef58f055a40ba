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


def test_every_mode_the_exporter_builds_has_exactly_one_tolerance():
    from imdb_edge.export.formats import MODES
    from imdb_edge.tolerances import TOLERANCES

    assert list(TOLERANCES) == list(MODES)


def exported_names():
    """Patterns of every file name `imdb-edge export` writes (export/formats.py)."""
    import re

    from imdb_edge.export.formats import FORMATS

    names = [re.escape(f.artifact_name(mode, 0)).replace("0", r"\d+") for f in FORMATS.values()
             for mode in f.modes]
    return re.compile("(?:" + "|".join(names) + ")")


def test_the_docs_name_only_artifacts_the_exporter_writes():
    import re

    named = re.compile(r"\bimdb[-_][\w-]*\.(?:tflite|onnx|npz)\b")
    written = exported_names()
    wrong = [(doc.relative_to(ROOT).as_posix(), name)
             for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for name in named.findall(doc.read_text(encoding="utf-8"))
             if not written.fullmatch(name)]
    assert not wrong, f"names the exporter never writes: {wrong}"


def doc_commands():
    """(doc, command) for every `imdb-edge ...`, `python ...` and `scripts/...` line in the
    code blocks of the README and docs/, continuations joined, comments and prompts dropped."""
    import re

    found = []
    for doc in [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md")),
                ROOT / "benchmarks" / "README.md"]:
        for block in re.findall(r"```(?:sh|console|bash)?\n(.*?)```", doc.read_text("utf-8"), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"^\$ ", "", line.strip())
                line = re.sub(r"\s+#.*$", "", line)
                for part in re.split(r"\s*(?:&&|\|)\s*", line):
                    if re.match(r"(\S*/)?(imdb-edge|python3?) |scripts/", part):
                        found.append((doc.relative_to(ROOT).as_posix(), " ".join(part.split())))
    return found


def test_every_flag_in_the_docs_exists():
    """A renamed or removed flag must not live on in a doc a user copies from."""
    import shlex

    from imdb_edge.cli import build_parser

    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    wrong = []
    for doc, command in doc_commands():
        words = shlex.split(command)
        if not words[0].endswith("imdb-edge"):
            continue
        verb = verbs.get(words[1]) if len(words) > 1 else None
        if verb is None:
            wrong.append((doc, command, "no such verb"))
            continue
        known = {o for a in verb._actions for o in a.option_strings}
        wrong += [(doc, command, w) for w in words[2:]
                  if w.startswith("--") and w.split("=")[0] not in known]
    assert not wrong, wrong


def test_every_script_the_docs_run_exists():
    import shlex

    missing = []
    for doc, command in doc_commands():
        words = shlex.split(command)
        script = next((w for w in words if w.endswith((".py", ".sh")) and "/" in w), None)
        if script and script.startswith(("benchmarks/", "scripts/", "tests/")) \
                and not (ROOT / script).is_file():
            missing.append((doc, command))
    assert not missing, missing
