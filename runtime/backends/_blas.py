"""numpy's BLAS threads, limited for the duration of one call.

OpenBLAS (and MKL) start one thread per core by default; a backend told to use N threads,
on a device that is busy with other work or with other Models, must not start more. The
limit is set around each call and restored after it, never process-wide at import, so a
program that imports the runtime keeps its own BLAS settings.
"""
from __future__ import annotations

import contextlib


class BlasThreads:
    """``with limiter(n):`` runs its block with at most ``n`` BLAS threads."""

    def __init__(self):
        # Imported and inspected when a numpy backend is built, not when the runtime is
        # imported: finding the BLAS libraries walks the loaded shared objects.
        from threadpoolctl import ThreadpoolController

        self._controller = ThreadpoolController()

    @contextlib.contextmanager
    def __call__(self, threads: int):
        with self._controller.limit(limits=threads, user_api="blas"):
            yield
