"""The measured child processes: one-shot commands timed to their first line, and
long-lived workers (``worker.py``) answering JSON lines."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

TIMEOUT_S = 900  # per child request; a hung child is killed and its row reports the error


class ChildError(RuntimeError):
    """A measured child process failed, hung or printed something unexpected."""


def _spawn(cmd: list, env=None, stdin=False):
    import subprocess
    import tempfile

    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=errors, env=env)
    proc.errors = errors
    return proc


def _reap(proc) -> int:
    """Wait for the child; its exit status."""
    return proc.wait()


def _stderr_of(proc) -> str:
    proc.errors.seek(0)
    return tail(proc.errors.read().decode("utf-8", "replace"))


def tail(text: str, lines: int = 3) -> str:
    kept = [l for l in text.strip().splitlines() if l.strip()][-lines:]
    return " | ".join(l.strip() for l in kept)[-600:] or "(no output)"


class _Watchdog:
    """Kills a child that has not answered within TIMEOUT_S."""

    def __init__(self, proc):
        import threading

        self._timer = threading.Timer(TIMEOUT_S, proc.kill)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()

    def __exit__(self, *exc):
        self._timer.cancel()


# Runs the measured command for first_line. Peak RSS must come from a small parent: Linux
# carries the RSS high-water mark of the process that forks (and execs) a child over into
# the child's ru_maxrss, so a child of this (data-laden) process would inherit our figure.
# A bare interpreter started with -I -S, importing nothing but os, sys and time, leaves a
# floor of a few MB (reported as the launcher's own figure).
_LAUNCHER = """
import os, sys, time
r, w = os.pipe()
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ,
                      file_actions=[(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_CLOSE, r)])
os.close(w)
line = b""
while not line.endswith(b"\\n"):
    chunk = os.read(r, 1)
    if not chunk:
        break
    line += chunk
seconds = time.perf_counter() - start
while os.read(r, 65536):
    pass
_, status, usage = os.wait4(pid, 0)
print(repr((seconds, os.waitstatus_to_exitcode(status), usage.ru_maxrss, line)))
"""


def first_line(cmd: list, env=None) -> tuple:
    """Seconds from spawning ``cmd`` to its first line on stdout, and its peak RSS (KB),
    both taken by a bare launcher process. The child runs to its end before we return."""
    import ast

    proc = _spawn([sys.executable, "-I", "-S", "-c", _LAUNCHER, *cmd], env)
    with _Watchdog(proc):
        out = proc.stdout.read()
        status = _reap(proc)
    proc.stdout.close()
    try:
        seconds, child_status, rss, line = ast.literal_eval(out.decode())
    except (ValueError, SyntaxError):
        child_status, line = status, b""
    if status != 0 or child_status != 0 or not line.strip():
        message = _stderr_of(proc)
        proc.errors.close()
        raise ChildError(f"exit {child_status}: {message}")
    proc.errors.close()
    rss = rss // 1024 if sys.platform == "darwin" else rss
    return seconds, rss


class Worker:
    """A long-lived measuring child speaking JSON lines on its stdin/stdout."""

    def __init__(self, row: dict, ids_path: Path, batch: int):
        cmd = [row["python"], "-m", "imdb_edge.bench.worker", "--worker", row["kind"],
               "--path", row["path"], "--ids", str(ids_path), "--batch", str(batch)]
        if row["kind"] == "runtime":
            cmd += ["--backend", row["backend"]]
            if row["threads"] != "default":
                cmd += ["--threads", str(row["threads"])]
        self.spawned = time.monotonic()
        self.proc = _spawn(cmd, child_env(row), stdin=True)
        self.ready = self._read()  # sent once loaded and warmed up

    def ask(self, **request) -> dict:
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child died: _read reports why
        return self._read()

    def _read(self) -> dict:
        with _Watchdog(self.proc):
            line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            _reap(self.proc)
            raise ChildError(f"worker exited: {_stderr_of(self.proc)}")
        answer = json.loads(line)
        if "error" in answer:
            self.close()
            raise ChildError(answer["error"])
        return answer

    def close(self) -> Optional[float]:
        """Stop the child; its peak RSS in MB (None if it did not say)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        with _Watchdog(self.proc):
            last = self.proc.stdout.read().decode("utf-8", "replace").strip().splitlines()
            _reap(self.proc)
        self.proc.stdout.close()
        self.proc.errors.close()
        try:
            return json.loads(last[-1])["peak_rss_kb"] / 1024
        except (IndexError, ValueError, KeyError, TypeError):
            return None


def child_env(row: dict) -> dict:
    env = dict(os.environ)
    if row["kind"] == "keras":
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env
