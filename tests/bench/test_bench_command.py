"""`imdb-edge bench` on tiny models with tiny counts: every row gets every figure, in the
JSON and the Markdown. No timing is asserted: only that each figure was measured."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from imdb_edge.bench.children import first_line
from imdb_edge.bench.report import COLUMNS
from imdb_edge.cli import main
from testkit import run_cli

# Figures every runtime row must carry (ratios need Keras, checked separately).
MEASURED = ("size_bytes", "load_ms", "import_s", "cold_start_s", "cold_rss_mb",
            "worker_rss_mb", "worker_first_score_s", "b1_p50_ms", "b1_p99_ms",
            "batch_reviews_per_s")
RATIOS = ("x_keras_fn_p50", "x_keras_predict_p50", "x_keras_batch", "x_keras_cold",
          "x_keras_rss")
TINY = ["--reviews", "3", "--batch", "2", "--cold-runs", "1", "--random-inputs"]


def run_bench(capsys, *argv):
    return run_cli(capsys, "bench", *argv)


def table_rows(markdown: str) -> list:
    """The main table's lines as dicts keyed by heading."""
    text = markdown[markdown.index("\n| "):].strip()
    lines = text.split("\n\n")[0].splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in l.strip("|").split("|"))))
            for l in lines[2:]]


def test_every_column_in_json_and_markdown(capsys, tiny_dir, tmp_path):
    report_json, report_md = tmp_path / "out" / "r.json", tmp_path / "out" / "r.md"
    status, out, err = run_bench(capsys, tiny_dir, *TINY, "--json", report_json,
                                 "--markdown", report_md)
    assert status == 0, out + err
    assert "bench: round 1/1 done" in err and "cold start 1/1" in err  # progress on stderr

    report = json.loads(report_json.read_text())
    machine = report["machine"]
    assert machine["cpu_model"] and machine["logical_cores"] >= 1
    assert len(machine["load_average_start"]) == 3 and len(machine["load_average_end"]) == 3
    assert report["settings"]["reviews"] == 3 and report["settings"]["batch"] == 2
    assert "random rows" in report["settings"]["inputs"]
    assert report["baselines"]["python_s"] > 0 and report["baselines"]["python_rss_mb"] > 0

    rows = report["rows"]
    expected = {"tiny.npz"} | ({"tiny.onnx"} if (tiny_dir / "tiny.onnx").exists() else set())
    assert {r["artifact"] for r in rows} == expected
    for row in rows:
        assert row["errors"] == []
        for key in MEASURED:
            assert isinstance(row[key], (int, float)) and row[key] > 0, (row["artifact"], key)
        assert row["b1_calls"] == 3 and row["batch_calls"] == 2  # ceil(3 / 2) batches
        assert len(row["cold_start_runs_s"]) == 1
        assert all(row[key] is None for key in RATIOS)  # no Keras in this run

    # The Markdown (file and stdout alike) has every heading and one line per row.
    markdown = report_md.read_text()
    assert out == markdown
    assert machine["cpu_model"] in markdown and "load average at start" in markdown
    table = table_rows(markdown)
    headings = [h.format(batch=2) for _, h, _ in COLUMNS]
    assert list(table[0]) == headings
    assert [r["artifact"] for r in table] == [r["artifact"] for r in rows]
    for line in table:
        for (key, _, _), heading in zip(COLUMNS, headings):
            if key not in RATIOS:
                assert line[heading] not in ("", "-"), (line["artifact"], heading)


def test_peak_rss_is_the_childs_own(tmp_path):
    """Linux hands the spawning process's RSS high-water mark to its child's ru_maxrss; the
    launcher must keep a fat parent (here, this test holding 300 MB) out of the figure."""
    ballast = bytearray(300 << 20)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page
    seconds, rss_kb = first_line([sys.executable, "-c", "print(0)"])
    assert seconds > 0
    assert rss_kb < 200 * 1024, f"{rss_kb / 1024:.0f} MB: the parent's RSS leaked in"
    del ballast


def test_failing_row_is_reported_and_exit_1(capsys, tiny_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("tiny.npz.json", "vocab.txt"):
        (broken / name).write_bytes((tiny_dir / name).read_bytes())
    (broken / "tiny.npz").write_bytes((tiny_dir / "tiny.npz").read_bytes()[:-10] + b"x" * 10)
    report_json = tmp_path / "r.json"
    status, out, err = run_bench(capsys, broken / "tiny.npz", *TINY, "--json", report_json)
    assert status == 1
    row = json.loads(report_json.read_text())["rows"][0]
    assert any("cold start" in e and "does not match its sidecar" in e for e in row["errors"])
    assert any(e.startswith("worker:") for e in row["errors"])
    assert "Errors:" in out


def test_bad_arguments(capsys, tiny_dir, tmp_path):
    assert main(["bench", str(tiny_dir), "--reviews", "0"]) == 2
    assert "--reviews must be at least 1" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "missing.tflite")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["bench", str(tiny_dir / "tiny.npz"), "--backend", "litert"]) == 2
    assert "backend" in capsys.readouterr().err  # not installed, or no .tflite to run


@pytest.mark.slow
def test_keras_rows_and_ratios(capsys, tiny_dir, tiny_keras, tmp_path):
    report_json = tmp_path / "r.json"
    status, out, err = run_bench(capsys, tiny_dir / "tiny.npz", "--keras", tiny_keras, *TINY,
                                 "--json", report_json)
    assert status == 0, out + err
    rows = json.loads(report_json.read_text())["rows"]
    assert [r["backend"] for r in rows] == ["keras tf.function", "keras predict", "numpy"]
    for row in rows:
        for key in MEASURED + RATIOS:
            assert isinstance(row[key], (int, float)) and row[key] > 0, (row["backend"], key)
    assert rows[0]["x_keras_fn_p50"] == pytest.approx(1.0)
    assert rows[1]["x_keras_predict_p50"] == pytest.approx(1.0)
    table = table_rows(out)
    assert all(line["p50 vs Keras fn"].endswith("x") for line in table)


def test_worker_never_imports_tensorflow(tiny_dir, tmp_path):
    """The runtime worker measures the device runtime: TensorFlow must not sneak in."""
    import numpy as np

    ids = tmp_path / "ids.npy"
    np.save(ids, np.zeros((2, 200), np.int32))
    code = ("import sys, runpy; sys.argv = ['imdb_edge.bench.worker'] + sys.argv[1:]; "
            "import atexit; atexit.register(lambda: sys.stderr.write("
            "'TF=%s\\n' % ('tensorflow' in sys.modules))); "
            "runpy.run_module('imdb_edge.bench.worker', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code, "--worker", "runtime", "--path",
                           str(tiny_dir / "tiny.npz"), "--ids", str(ids), "--batch", "2"],
                          input='{"op": "single", "start": 0, "count": 2}\n', text=True,
                          capture_output=True, timeout=300)
    lines = [json.loads(l) for l in done.stdout.splitlines()]
    assert "load_s" in lines[0] and len(lines[1]["ns"]) == 2 and "peak_rss_kb" in lines[2]
    assert "TF=False" in done.stderr
