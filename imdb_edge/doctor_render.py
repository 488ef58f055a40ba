"""`imdb-edge doctor`'s report (imdb_edge.doctor.diagnose) as text for a terminal."""
from __future__ import annotations

from pathlib import Path

from imdb_edge.doctor_env import OK
from imdb_edge.runtime.sidecar import EXTENSIONS



def render(report: dict) -> str:
    """The report as text for a terminal."""
    p = report["platform"]
    where = ", ".join(x for x in (f"{p['system']} {p['machine']}", p.get("libc"), p.get("os"),
                                  p.get("board")) if x)
    lines = [f"imdb-edge doctor {report['imdb_edge']}",
             f"platform  {where}",
             f"python    {report['python']} ({report['implementation']}), numpy {report['numpy']}"]
    have = [b for b in report["backends"] if b["installed"]]
    lacking = [b for b in report["backends"] if not b["installed"]]
    lines.append("backends  " + ", ".join(f"{b['name']} {b['version'] or '?'} "
                                           f"({EXTENSIONS[b['format']]})" for b in have))
    if lacking:
        lines.append("absent    " + ", ".join(f"{b['name']} ({b['install']})" for b in lacking))
    for entry in report["artifacts"]:
        kind = (f" ({entry['format']} {entry['quantization']}, batch {entry['batch'] or 'any'})"
                if "format" in entry else "")
        lines.append(f"{entry['status'].upper():4s}  {entry['artifact']}{kind}")
        if entry.get("signature") == OK:
            lines.append(f"      signature ok ({report['verify_key']})")
        for check in entry["checks"]:
            lines.append(f"      {check['backend']} {check['version'] or ''}: "
                         + "; ".join(_check_parts(check, entry)))
        for problem in entry["problems"]:
            lines.append(f"      - {problem}")
    n = len(report["artifacts"])
    failed = sum(e["status"] != "ok" for e in report["artifacts"])
    if not n:
        lines.append("no artifacts given: name some to check that they load here")
    elif failed:
        lines.append(f"FAIL: {failed} of {n} artifacts will not work here as they are")
    else:
        lines.append(f"OK: {'the artifact works' if n == 1 else f'all {n} artifacts work'} here")
    return "\n".join(lines)


def _check_parts(check: dict, entry: dict) -> list:
    ops, load = check["ops"], check["load"]
    parts = [f"ops {ops['status']}" + (f" ({ops['note']})" if ops.get("note") else "")]
    parts.append(f"load ok ({load['seconds']:.2f} s)" if load["status"] == OK else "load FAIL")
    golden = check.get("golden")
    if golden:
        figures = (f"{golden['rows']} rows, max abs err {golden['max_abs']:.2g}, agreement "
                   f"{100 * golden['agreement']:.2f}%") if golden.get("rows") else ""
        parts.append(f"golden {Path(entry['golden']).name} {golden['status']}"
                     + (f" ({figures})" if figures else ""))
    elif entry.get("golden") is None:
        parts.append("no golden file beside it")
    return parts
