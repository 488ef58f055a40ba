"""The README's commands, run as a user types them.

Every command in the README's ``sh`` blocks is either run here verbatim (in a fresh folder
laid out like a clone, with ``../shared/data`` beside it and ``~`` a folder of its own) or
listed in EXPENSIVE with where it is exercised instead; a command added to the README
without either fails ``test_every_readme_command_is_run_or_accounted_for``.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import installed

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent  # imdb-edge is installed beside this interpreter

# Commands too long for the suite, and where each is covered.
EXPENSIVE = {
    "make all": "`make all` itself: every artifact, parity on 25,000 reviews",
    "make test": "CI (.ci/run)",
    "python3 -m venv ~/imdb-edge && ~/imdb-edge/bin/pip install \"imdb-edge[litert]\"":
        "scripts/check_wheel.sh installs the built wheel with [litert] in a fresh venv",
    "imdb-edge train --schedule quick --data ../shared/data/aclImdb_v1.tar.gz --out runs/quick":
        "tests/train (the quick schedule on synthetic rows)",
    "imdb-edge train --select-on test --data ../shared/data/aclImdb_v1.tar.gz --out "
    "runs/reference-test": "the 40-minute reference run (docs/training.md)",
    "imdb-edge export --format all --data ../shared/data/aclImdb_v1.tar.gz --out artifacts":
        "tests/parity (exports every kind)",
    "imdb-edge export --model model.h5 --format tflite --quantize dynamic --batch 1 --data "
    "../shared/data/aclImdb_v1.tar.gz --out my_artifacts":
        "tests/export/test_intake.py (every file kind a user saves)",
    "imdb-edge parity artifacts --data ../shared/data/aclImdb_v1.tar.gz --report reports/parity":
        "tests/parity (the same run on the fast tier)",
    "imdb-edge bench artifacts --keras models/reference/model.keras --json bench.json "
    "--markdown bench.md": "tests/bench",
}

# Made first, by commands that are not in the README: the artifacts its examples name.
SETUP = (
    "imdb-edge export --format onnx --quantize float32 --no-validate",
    "imdb-edge export --format numpy --no-validate",
    "imdb-edge export --format tflite --quantize int8 --batch 1 --no-validate",
)
NEEDS_DATA = "../shared/data/"


def readme_commands() -> list:
    """Each command of the README's sh blocks: continuations joined, comments dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                commands.append(" ".join(line.split()))
    return commands


def test_every_readme_command_is_run_or_accounted_for():
    commands = readme_commands()
    assert commands, "no sh blocks found in README.md"
    stale = set(EXPENSIVE) - set(commands)
    assert not stale, f"EXPENSIVE lists commands the README no longer has: {stale}"
    run = [c for c in commands if c not in EXPENSIVE]
    assert all(c.startswith(("imdb-edge ", "~/imdb-edge/bin/imdb-edge ")) for c in run), run


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A folder laid out as the README assumes: the project here, ../shared beside it, a
    home folder whose ~/imdb-edge venv is this interpreter's and whose ~/models holds the
    artifacts; the artifacts the examples name are made first."""
    if not installed("tensorflow") or not installed("tf2onnx"):
        pytest.skip("the README's export needs the [export] extra")
    top = tmp_path_factory.mktemp("readme")
    project, home = top / "imdb-edge", top / "home"
    for folder in (project / "models", home / "imdb-edge"):
        folder.mkdir(parents=True)
    (project / "models" / "reference").symlink_to(ROOT / "models" / "reference")
    (home / "imdb-edge" / "bin").symlink_to(BIN)
    (home / "models").symlink_to(project / "artifacts")
    if SHARED.is_dir():
        (top / "shared").symlink_to(SHARED)
    (project / "reviews.txt").write_text("A moving, beautifully acted film.\nDull and too long.\n")
    ids = [1, 14, 22, 16, 43, 530] + [0] * 194
    (project / "ids.txt").write_text(" ".join(map(str, ids)) + "\n")
    env = dict(os.environ, HOME=str(home), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               IMDB_EDGE_CACHE=os.environ.get("IMDB_EDGE_CACHE")
               or str(Path.home() / ".cache" / "imdb-edge"))
    env.pop("IMDB_EDGE_DATA", None)
    for command in SETUP:
        done = _shell(command, project, env)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    return project, env


def _shell(command: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200)


def cheap(with_data: bool) -> list:
    """The commands run here: those that read the dataset, and those that replay the golden
    file it makes, or all the others; exports first, since the others read what they write."""
    chosen = [c for c in readme_commands() if c not in EXPENSIVE
              and (NEEDS_DATA in c or "--golden " in c) == with_data]
    return sorted(chosen, key=lambda c: not c.startswith("imdb-edge export "))


@pytest.mark.parametrize("command", cheap(with_data=False))
def test_the_command_works_as_written(clone, command):
    project, env = clone
    done = _shell(command, project, env)
    assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    _check_output(command, done.stdout)


def test_the_commands_with_the_dataset_work_as_written(clone):
    """In README order: the golden file is made from the data, then replayed."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"no shared data at {SHARED / 'data'}")
    project, env = clone
    for command in cheap(with_data=True):
        done = _shell(command, project, env)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"


def _check_output(command: str, stdout: str) -> None:
    """What the README says each verb prints."""
    verb = shlex.split(command)[1]
    if verb == "score":
        results = [json.loads(line) for line in stdout.splitlines()]
        assert results and all(0 <= r["probability"] <= 1 and r["label"] in
                               ("negative", "positive") for r in results), stdout
    elif verb == "export":
        assert "| PASS |" in stdout, stdout
