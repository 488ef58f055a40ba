"""Stage, validate and publish one artifact, so that a failure or an interrupt never leaves
a half-written or unvalidated artifact where a finished one would be.

Each artifact is written with its sidecar and vocabulary into a staging folder inside the
output folder, loaded from there by the runtime a device uses and compared with Keras, and
only then moved into place: artifact first, sidecar last.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from imdb_edge.atomic import atomic_write_text
from imdb_edge.errors import UsageError
from imdb_edge.export.metadata import VOCAB_FILE
from imdb_edge.helpers import writable_folder_problem
from imdb_edge.metrics import compare
from imdb_edge.runtime.sidecar import sidecar_path
from imdb_edge.tolerances import judge

STAGING = ".staging-"


@dataclasses.dataclass
class Reference:
    """What every artifact is compared with: Keras' probabilities on the validation rows
    (test reviews, then edge cases) and the reviews' labels."""
    rows: object           # int32 (N + edge cases, length)
    probabilities: object  # (N + edge cases,)
    labels: object         # (N,)


def prepare_out(out: Path) -> None:
    """Make ``out`` (refused in one line when it cannot be written) and clear what killed
    exports left in it."""
    problem = writable_folder_problem(out)
    if problem:
        raise UsageError(f"output folder {out} is not writable ({problem})")
    for folder in out.glob(f"{STAGING}*"):
        pid = folder.name[len(STAGING):].split("-", 1)[0]
        if folder.is_dir() and not (pid.isdigit() and _process_alive(int(pid))):
            shutil.rmtree(folder, ignore_errors=True)


def staging_folder(out: Path) -> Path:
    """A hidden folder named after this process (.staging-<pid>-xxxx), so that a later export
    can tell a folder left by a killed export (SIGKILL, power loss) from one a running
    export still uses."""
    return Path(tempfile.mkdtemp(dir=out, prefix=f"{STAGING}{os.getpid()}-"))


def stage(staging: Path, data: bytes, sidecar, out: Path) -> Path:
    """The artifact, its sidecar and the vocabulary in ``staging``, as a device will read them."""
    artifact = staging / sidecar.artifact
    artifact.write_bytes(data)
    shutil.copyfile(out / VOCAB_FILE, staging / VOCAB_FILE)
    sidecar_path(artifact).write_text(sidecar.to_json())
    return artifact


def validate(artifact: Path, quantization: str, reference: Reference) -> tuple:
    """(parity figures, broken tolerances) of the staged artifact against Keras."""
    from imdb_edge.runtime import load

    probabilities = load(artifact).predict_ids(reference.rows)
    metrics = compare(reference.probabilities, probabilities, reference.labels)
    parity = dict(metrics, reviews=len(reference.labels),
                  edge_cases=len(reference.rows) - len(reference.labels))
    return parity, judge(quantization, metrics)


def publish(artifact: Path, sidecar, parity: Optional[dict], out: Path) -> None:
    """Move the staged artifact into ``out``, then write its sidecar with the parity figures."""
    os.replace(artifact, out / artifact.name)
    atomic_write_text(sidecar_path(out / artifact.name),
                      dataclasses.replace(sidecar, parity=parity).to_json())


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True
