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
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0} td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;overflow-wrap:normal}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.7rem;overflow:auto;font-size:.82rem;white-space:pre-wrap;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%} td{overflow-wrap:anywhere}
.status{display:inline-block;padding:.15rem .6rem;border-radius:.8rem;color:#fff;font-weight:600;font-size:.85rem}
.FINISHED{background:#2e7d32}.FAILED{background:#c62828}.KILLED{background:#ef6c00}.PRUNED{background:#7b1fa2}.RUNNING{background:#1565c0}.DEAD{background:#6d4c41}
.charts{display:flex;flex-wrap:wrap;gap:1rem} .chart text{font-size:10px;fill:#444} .chart .title{font-size:12px;font-weight:600}
.chart .axis{stroke:#888} .chart .grid{stroke:#eee} .chart{max-width:100%;height:auto}
.plots{display:flex;flex-wrap:wrap;gap:1rem} .plots figure{margin:0;flex:1 1 480px;max-width:560px}
img.plot{width:100%;height:auto;border:1px solid #eee} figcaption{font-size:.8rem;color:#777}
@media (max-width:600px){body{margin:1rem auto;padding:0 .6rem} h1{font-size:1.2rem} table{font-size:.8rem}
 .plots figure{flex-basis:100%}}
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
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(run.run_id)} "
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
        parts.append("<h2>Final metrics</h2>" + _metric_grid(metrics))
    charts = _charts(run.histories())
    if charts:
        parts.append("<h2>Metric histories</h2><div class='charts'>" + "".join(charts) + "</div>")
    plots = _plots(run.run_dir)
    if plots:
        parts.append("<h2>Plots</h2><div class='plots'>" + "".join(plots) + "</div>")
    if run.params:
        parts.append("<h2>Params</h2>" + _table(["param", "value"], [[k, v] for k, v in sorted(run.params.items())]))
    if run.tags:
        parts.append("<h2>Tags</h2>" + _table(["tag", "value"], [[k, v] for k, v in sorted(run.tags.items())]))
    data = s.to_json() if s else {}
    tracking = data.get("tracking") or {}
    spec = dict(data.get("spec") or {})
    if spec and not spec.get("experiment") and tracking.get("experiment"):
        spec["experiment"] = tracking["experiment"]  # the one the run was tracked in (the default, unless set)
    parts.append("<h2>Spec</h2><pre>" + escape(dumps(spec or None)) + "</pre>")
    if tracking:
        link = _mlflow_link(tracking)
        parts.append("<h2>Tracking</h2>" + (link or "") +
                     _table(["field", "value"], [[k, _value(v)] for k, v in tracking.items()]))
    env = data.get("environment") or {}
    if env:
        rows = [[k, _value(v)] for k, v in env.items() if k != "packages"]
        # only what is installed: "mlflow-skinny 3.17.2", not a row saying mlflow is absent
        rows += [[f"package {k}", v] for k, v in sorted((env.get("packages") or {}).items()) if v]
        parts.append("<h2>Environment</h2>" + _table(["what", "value"], rows))
    files = run.artifacts()
    if files:
        parts.append("<h2>Files</h2>" + _table(["path", "bytes"], [[p, n] for p, n in files], num=1))
    parts.append("</body></html>")
    return scrub("\n".join(parts))  # its sources are redacted already; a URI from an older record is not


#: the splits a metric name starts with, in the order the grid shows them
SPLITS = ("train", "val", "test", "score")


def _metric_grid(metrics: dict[str, Any]) -> str:
    """Final metrics as a metric x split grid (`train_loss`, `val_loss` on one row); names without a
    split prefix in a `value` column."""
    rows: dict[str, dict[str, Any]] = {}
    for key, value in sorted(metrics.items()):
        split, _, base = key.partition("_")
        if split not in SPLITS or not base:
            split, base = "value", key
        rows.setdefault(base, {})[split] = value
    columns = [c for c in (*SPLITS, "value") if any(c in cells for cells in rows.values())]
    body = [[base, *(_value(cells[c]) if c in cells else "" for c in columns)] for base, cells in rows.items()]
    return _table(["metric", *columns], body, num=set(range(1, len(columns) + 1)))


def _mlflow_link(tracking: dict[str, Any]) -> str | None:
    """A link to the run in MLflow's UI when it lives on a server people can open."""
    uri, run_id = str(tracking.get("uri") or ""), tracking.get("run_id")
    if not run_id or not uri.startswith(("http://", "https://")):
        return None
    href = f"{uri.rstrip('/')}/#/runs/{run_id}"
    return f"<p><a href='{escape(href)}'>open this run in MLflow</a></p>"


def _charts(histories: dict[str, list[tuple[int, float]]]) -> list[str]:
    """One chart per metric logged at more than one step whose value changed (a flat line says less than
    the number in the grid); train_/val_ twins share a chart."""
    stepped = {k: v for k, v in sorted(histories.items())
               if len({step for step, _ in v}) > 1 and len({value for _, value in v}) > 1}
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
    """The images in plots/, embedded (`embed_images`)."""
    return embed_images(run_dir / "plots", run_dir, link_prefix="../plots/", caption_prefix="plots/")


IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}


def embed_images(folder: Path, within: Path, *, link_prefix: str, caption_prefix: str,
                 first: tuple[str, ...] = ()) -> list[str]:
    """A `<figure>` per image directly in `folder`, embedded as a data URI: regular files inside `within`
    only (a FIFO would hang the report, a link to /dev/zero or to a file outside would be embedded),
    sizes checked before anything is read; past `MAX_EMBEDDED_BYTES` in all, linked (`link_prefix` +
    name) instead. The names in `first` come first, the rest in name order."""
    out, budget = [], MAX_EMBEDDED_BYTES
    found = [(path, size) for path, size in regular_files(folder, within)
             if path.parent == folder and path.suffix.lower() in IMAGE_TYPES]
    found.sort(key=lambda item: (item[0].name not in first, first.index(item[0].name) if item[0].name in first
                                 else 0, item[0].name))
    for path, size in found:
        kind = IMAGE_TYPES[path.suffix.lower()]
        caption = f"<figcaption>{escape(caption_prefix + path.name)}</figcaption>"
        data = read_regular(path, within, budget) if size <= budget else None
        if data is None:
            out.append(f"<figure><a href='{escape(link_prefix + path.name)}'>open (too large to embed)</a>{caption}"
                       "</figure>")
            continue
        budget -= len(data)
        encoded = base64.b64encode(data).decode("ascii")
        out.append(f"<figure><img class='plot' alt='{escape(path.stem)}' src='data:{kind};base64,{encoded}'>"
                   f"{caption}</figure>")
    return out


def _table(header: list[str], rows: list[list[Any]], num: int | set[int] | None = None) -> str:
    numeric = {num} if isinstance(num, int) else (num or set())
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td{' class=num' if i in numeric else ''}>{escape(str(c))}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"  # as the CLI shows numbers
    if isinstance(v, (dict, list)):
        return dumps(v, indent=None)
    return "" if v is None else str(v)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "duration unknown"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}m {secs:.1f}s" if minutes else f"{secs:.2f}s"
