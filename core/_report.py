"""`reports/report.html`: one self-contained page per run, written by core at the end of every
run whatever the plugin: status, spec, params, metrics, metric histories as charts, the
plugin's plots embedded, the environment and, for a failed run, the error.

No JavaScript and no external resources: it opens from disk, offline, in any browser, and
can be mailed or attached as it is.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

from core._files import atomic_write_text, dumps
from core._layout import RunLayout
from core._records import RunRecord, read_run
from core._redact import scrub
from core._safefiles import read_regular, regular_files
from core._summary import iso
from core._svgchart import line_chart

MAX_CHARTS = 40
MAX_EMBEDDED_BYTES = 8 * 1024 * 1024  # plots beyond this are linked, not embedded

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0} td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.7rem;overflow:auto;font-size:.82rem}
.status{display:inline-block;padding:.15rem .6rem;border-radius:.8rem;color:#fff;font-weight:600;font-size:.85rem}
.FINISHED{background:#2e7d32}.FAILED{background:#c62828}.KILLED{background:#ef6c00}.RUNNING{background:#1565c0}.DEAD{background:#6d4c41}
.charts{display:flex;flex-wrap:wrap;gap:1rem} .chart text{font-size:10px;fill:#444} .chart .title{font-size:12px;font-weight:600}
.chart .axis{stroke:#888} .chart .grid{stroke:#eee} img.plot{max-width:100%;border:1px solid #eee;margin:.3rem}
.muted{color:#777}
"""


def write_report(run_dir: Path) -> Path:
    """Render the run folder as it is now into `reports/report.html`."""
    html = render(read_run(run_dir))
    path = RunLayout(run_dir).report
    atomic_write_text(path, html)
    return path


def render(run: RunRecord) -> str:
    s = run.summary
    status = run.display_status.value
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(run.run_id)} "
             f"({escape(status)})</title><style>{CSS}</style></head><body>",
             f"<h1>{escape(run.name or run.run_id)} <span class='status {escape(status)}'>{escape(status)}</span></h1>",
             f"<p class='muted'>run {escape(run.run_id)} &middot; plugin {escape(run.plugin)} &middot; started "
             f"{escape(str(iso(run.started)))} &middot; {_duration(run.duration_s)}</p>"]
    if run.error:
        parts.append("<h2>Error</h2>" + f"<p><strong>{escape(run.error)}</strong></p>")
        trace = run.exception_text()
        if trace:
            parts.append(f"<pre>{escape(trace[-20000:])}</pre>")
    if s and s.outputs:
        parts.append("<h2>Outputs</h2>" + _table(["output", "value"], [[k, _value(v)] for k, v in s.outputs.items()]))
    metrics = run.metrics
    if metrics:
        parts.append("<h2>Final metrics</h2>" + _table(["metric", "value"],
                                                      [[k, _value(v)] for k, v in sorted(metrics.items())], num=1))
    charts = _charts(run.histories())
    if charts:
        parts.append("<h2>Metric histories</h2><div class='charts'>" + "".join(charts) + "</div>")
    plots = _plots(run.run_dir)
    if plots:
        parts.append("<h2>Plots</h2>" + "".join(plots))
    if run.params:
        parts.append("<h2>Params</h2>" + _table(["param", "value"], [[k, v] for k, v in sorted(run.params.items())]))
    if run.tags:
        parts.append("<h2>Tags</h2>" + _table(["tag", "value"], [[k, v] for k, v in sorted(run.tags.items())]))
    data = s.to_json() if s else {}
    parts.append("<h2>Spec</h2><pre>" + escape(dumps(data.get("spec"))) + "</pre>")
    tracking = data.get("tracking") or {}
    if tracking:
        parts.append("<h2>Tracking</h2>" + _table(["field", "value"], [[k, _value(v)] for k, v in tracking.items()]))
    env = data.get("environment") or {}
    if env:
        rows = [[k, _value(v)] for k, v in env.items() if k != "packages"]
        rows += [[f"package {k}", v] for k, v in sorted((env.get("packages") or {}).items())]
        parts.append("<h2>Environment</h2>" + _table(["what", "value"], rows))
    files = run.artifacts()
    if files:
        parts.append("<h2>Files</h2>" + _table(["path", "bytes"], [[p, n] for p, n in files], num=1))
    parts.append("</body></html>")
    return scrub("\n".join(parts))  # its sources are redacted already; a URI from an older record is not


def _charts(histories: dict[str, list[tuple[int, float]]]) -> list[str]:
    """One chart per metric logged at more than one step; train_/val_ twins share a chart."""
    stepped = {k: v for k, v in sorted(histories.items()) if len({step for step, _ in v}) > 1}
    charts, done = [], set()
    for name in stepped:
        if name in done:
            continue
        base = name.split("_", 1)[1] if "_" in name else name
        twins = {n: stepped[n] for n in (f"train_{base}", f"val_{base}") if n in stepped}
        group = twins if name in twins else {name: stepped[name]}
        done.update(group)
        title = base if len(group) > 1 else name
        charts.append(line_chart(group, title=title))
        if len(charts) >= MAX_CHARTS:
            break
    return [c for c in charts if c]


def _plots(run_dir: Path) -> list[str]:
    """The images in plots/: regular files inside the run folder only (a FIFO would hang the report, a
    link to /dev/zero or to a file outside would be embedded), sizes checked before anything is read."""
    out, budget = [], MAX_EMBEDDED_BYTES
    for path, size in regular_files(run_dir / "plots", run_dir):
        kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}.get(
            path.suffix.lower())
        if kind is None or path.parent != run_dir / "plots":
            continue
        caption = f"<p class='muted'>plots/{escape(path.name)}</p>"
        data = read_regular(path, run_dir, budget) if size <= budget else None
        if data is None:
            out.append(f"<div>{caption}<a href='../plots/{escape(path.name)}'>open (too large to embed)</a></div>")
            continue
        budget -= len(data)
        encoded = base64.b64encode(data).decode("ascii")
        out.append(f"<div>{caption}<img class='plot' alt='{escape(path.stem)}' src='data:{kind};base64,{encoded}'>"
                   "</div>")
    return out


def _table(header: list[str], rows: list[list[Any]], num: int | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td{' class=num' if i == num else ''}>{escape(str(c))}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return dumps(v, indent=None)
    return "" if v is None else str(v)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "duration unknown"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}m {secs:.1f}s" if minutes else f"{secs:.2f}s"
