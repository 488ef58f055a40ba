"""What `imdb-edge export` is asked to build: the options, and the artifacts they plan.

TensorFlow-free: the CLI takes its defaults from ``ExportOptions`` and refuses bad names
through ``plan`` before anything heavy is imported.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from imdb_edge import resources
from imdb_edge.errors import UsageError
from imdb_edge.export.formats import CALIBRATED, FORMATS, MODES, ON_MISMATCH
from imdb_edge.runtime import text


@dataclasses.dataclass
class ExportOptions:
    model: str = str(resources.reference_model())  # .keras, .h5 or Keras 2 SavedModel folder
    out: str = "artifacts"            # output folder
    formats: tuple = tuple(FORMATS)
    modes: Optional[tuple] = None     # None: every mode each format supports
    batches: tuple = (1, 64)          # batch sizes of batched formats (TFLite); others take any
    data: Optional[str] = None        # dataset for calibration and validation
    calibration: int = 500            # training reviews used to calibrate int8 / int16x8
    validate: int = 2000              # test reviews compared with Keras; 0 = --no-validate
    targets: Optional[tuple] = None   # runtimes every artifact must load on
    on_mismatch: str = "error"        # "error" or "warn" when a target cannot load it
    int8_io: bool = False             # int8 output tensor for TFLite int8
    convention: text.Convention = text.NOTEBOOK  # how the model's rows were made from words


@dataclasses.dataclass(frozen=True)
class Job:
    """One artifact to build."""
    format: str
    mode: str
    batch: Optional[int]              # None: any batch at run time
    int8_io: bool = False

    @property
    def artifact(self) -> str:
        return FORMATS[self.format].artifact_name(self.mode, self.batch)

    @property
    def calibrated(self) -> bool:
        return self.mode in CALIBRATED


def plan(options: ExportOptions) -> list:
    """The Jobs to build, refusing unknown names and impossible settings up front."""
    if options.on_mismatch not in ON_MISMATCH:
        raise UsageError(f"--on-mismatch must be one of {', '.join(ON_MISMATCH)}")
    if any(b < 1 for b in options.batches):
        raise UsageError("--batch sizes must be at least 1")
    jobs = []
    for name in options.formats:
        if name not in FORMATS:
            raise UsageError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}, all")
        fmt = FORMATS[name]
        for mode in options.modes or fmt.modes:
            if mode not in MODES:
                raise UsageError(f"unknown quantization {mode!r}; choose from {', '.join(MODES)}")
            if mode not in fmt.modes:
                continue  # e.g. int16x8 is TFLite-only; --quantize applies where it exists
            for batch in (options.batches if fmt.batched else (None,)):
                jobs.append(Job(name, mode, batch,
                                int8_io=options.int8_io and mode == "int8" and fmt.int8_io))
    if not jobs:
        raise UsageError(f"no format among {', '.join(options.formats)} supports "
                         f"{', '.join(options.modes or ())}")
    return jobs
