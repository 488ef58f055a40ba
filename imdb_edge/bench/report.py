"""Ratios to Keras, and the Markdown / JSON report."""
from __future__ import annotations

import json
from pathlib import Path

# Markdown columns, in order: (key in a row, heading, format).
COLUMNS = (
    ("artifact", "artifact", "s"),
    ("backend", "backend", "s"),
    ("threads", "thr", "s"),
    ("size_bytes", "size", "size"),
    ("load_ms", "load ms", ".1f"),
    ("cold_start_s", "cold start s", ".3f"),
    ("b1_p50_ms", "b1 p50 ms", ".3f"),
    ("b1_p99_ms", "b1 p99 ms", ".3f"),
    ("batch_reviews_per_s", "b{batch} rev/s", ",.0f"),
    ("cold_rss_mb", "peak RSS MB (1 review)", ".1f"),
    ("worker_rss_mb", "peak RSS MB (bench)", ".1f"),
    ("x_keras_fn_p50", "p50 vs Keras fn", "x"),
    ("x_keras_predict_p50", "p50 vs Keras predict", "x"),
    ("x_keras_batch", "b{batch} vs Keras fn", "x"),
    ("x_keras_cold", "cold vs Keras", "x"),
    ("x_keras_rss", "RSS vs Keras", "x"),
)


def finish_rows(rows: list) -> None:
    """Ratios to Keras (how many times better: bigger is better for every ratio)."""
    fn = next((r for r in rows if r.get("mode") == "function"), None)
    predict = next((r for r in rows if r.get("mode") == "predict"), None)

    def ratio(num, den):
        return num / den if num and den else None

    for row in rows:
        row["x_keras_fn_p50"] = ratio(fn and fn.get("b1_p50_ms"), row.get("b1_p50_ms"))
        row["x_keras_predict_p50"] = ratio(predict and predict.get("b1_p50_ms"),
                                           row.get("b1_p50_ms"))
        row["x_keras_batch"] = ratio(row.get("batch_reviews_per_s"),
                                   fn and fn.get("batch_reviews_per_s"))
        row["x_keras_cold"] = ratio(fn and fn.get("cold_start_s"), row.get("cold_start_s"))
        row["x_keras_rss"] = ratio(fn and fn.get("cold_rss_mb"), row.get("cold_rss_mb"))
        row.setdefault("errors", [])


def to_markdown(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    batch = s["batch"]
    lines = [f"# imdb-edge bench, {report['date']}", "",
             f"Machine (all figures are of this machine): **{m['cpu_model']}**, "
             f"{m['logical_cores']} logical cores ({m['usable_cores']} usable), load average "
             f"at start {_loads(m['load_average_start'])}, at end "
             f"{_loads(m.get('load_average_end'))} (1 / 5 / 15 min); {m['platform']}, "
             f"Python {m['python']}.", "",
             f"Inputs: {s['inputs']}. Batch-1 latency over {s['reviews']} calls per row after "
             f"{s['warmup_calls']} warm-up calls (artifacts fixed to a batch > 1 pad each "
             f"review to a full batch: {min(s['reviews'], s['padded_single_calls'])} calls), "
             f"batch-{batch} throughput over "
             f"{-(-s['reviews'] // batch)} calls; rows took turns in blocks of {s['block']} "
             f"calls. Cold start: median of {s['cold_runs']} fresh processes, spawn to first "
             f"score line (`imdb-edge score --text`, or Keras import + load + predict). "
             f"Ratios: how many times better than Keras in this run (> 1 = better).", ""]
    headings = [h.format(batch=batch) for _, h, _ in COLUMNS]
    lines += ["| " + " | ".join(headings) + " |",
              "|" + "|".join("---" if f == "s" else "---:" for _, _, f in COLUMNS) + "|"]
    for row in report["rows"]:
        cells = [_cell(row.get(key), fmt) for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    base = report["baselines"]
    lines += ["", f"Floor on this machine: `python -c print(0)` starts in {base['python_s']:.3f} s "
              f"and peaks at {base['python_rss_mb']:.1f} MB; `python -c 'import numpy'` "
              f"{base['python_numpy_s']:.3f} s, {base['python_numpy_rss_mb']:.1f} MB."]
    errors = [(r, e) for r in report["rows"] for e in r.get("errors", [])]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {r['artifact']}/{r['backend']}: {e}"
                                        for r, e in errors]
    return "\n".join(lines) + "\n"


def _loads(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "n/a"


def _cell(value, fmt: str) -> str:
    if value is None or value == "":
        return "-"
    if fmt == "s":
        return str(value)
    if fmt == "size":
        return f"{value / 1024:,.0f} KB" if value < 10 << 20 else f"{value / (1 << 20):.1f} MB"
    if fmt == "x":
        return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"
    return format(value, fmt)


def write_report(report: dict, json_path=None, markdown_path=None) -> None:
    from imdb_edge.atomic import atomic_write_text

    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    if markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(markdown_path, to_markdown(report))
