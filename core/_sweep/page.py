"""`sweeps/<sweep id>/report.html`: one self-contained page per sweep, written by the driver when
a sweep ends (finished, failed, interrupted, or resumed), and logged to its parent MLflow run.

What it shows: the sweep's status counts, metric and mode; the best run and its params; a search's
settings and Optuna's plots (the PNGs `search.write_report` left in `search/`); the ranked table
(each run linked to its own `reports/report.html` when that folder is on this disk, its MLflow run
when it lives on a server); the metric per run and against each numeric param that varies, as SVG
charts; the runs that did not end well, each with its one-line reason.

In the style of the run report (`core._report`, whose CSS and helpers it uses): no JavaScript and
no external resources, everything escaped (param values and errors come from users and plugins).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core._files import atomic_write_text, dumps
from core._records import RecordStatus, RunRecord, read_run
from core._redact import scrub
from core._report import CSS, _duration, embed_images
from core._safefiles import read_regular
from core._svgchart import scatter_chart
from core._sweep.store import SweepLayout, SweepState
from core._sweep.table import ResultRow, SweepOutcome

#: the search plots, in this order, before any other image in `search/`
SEARCH_PLOTS = ("optimization_history.png", "param_importances.png")
#: charts of the metric against a param: one per numeric param that varies, at most this many
MAX_PARAM_CHARTS = 12
#: the statuses the counts always show, then any other found (NOT RUN, DEAD, UNKNOWN)
COUNTED = (RecordStatus.FINISHED, RecordStatus.PRUNED, RecordStatus.FAILED, RecordStatus.KILLED)

PAGE_CSS = CSS + """
.NOT_RUN,.UNKNOWN{background:#9e9e9e} .status{white-space:nowrap} .counts .status{margin:0 .3rem 0 .8rem}
tr.best td{background:#f1f8e9} td.reason{max-width:40rem}
th{overflow-wrap:normal;word-break:normal}
"""


class _Html(str):
    """Text that is HTML already (a link made here from escaped parts): table cells are escaped unless so marked."""


def write_page(outcome: SweepOutcome, state: SweepState, *, plugin: str, executor: str) -> Path:
    """Render the sweep as its files and run folders are now into `sweeps/<sweep id>/report.html`."""
    layout = SweepLayout(outcome.folder)
    atomic_write_text(layout.report, render(outcome, state, plugin=plugin, executor=executor))
    return layout.report


def render(outcome: SweepOutcome, state: SweepState, *, plugin: str, executor: str) -> str:
    folder = Path(outcome.folder)
    records = {row.index: read_run(Path(row.run_dir)) for row in outcome.rows if row.run_dir}
    varying, constant = _split_params(outcome.rows)
    status = _sweep_status(outcome)
    name = state.name or outcome.sweep_id
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
             f"content='width=device-width, initial-scale=1'><title>sweep {escape(outcome.sweep_id)} "
             f"({escape(status)})</title><style>{PAGE_CSS}</style></head><body>",
             f"<h1>sweep {escape(name)} {_badge(status)}</h1>",
             f"<p class='muted'>{' &middot; '.join(escape(x) for x in _facts(outcome, state, plugin, executor))}</p>",
             f"<p class='counts'>{_counts(outcome.rows)}</p>"]
    if outcome.interrupt:
        parts.append(f"<p><strong>stopped by {escape(outcome.interrupt)}</strong>: runs still running ended KILLED, "
                     f"queued ones never started; <code>core sweep {escape(state.source or 'FILE')} --resume "
                     f"{escape(outcome.sweep_id)}</code> runs what is left.</p>")
    parent = _parent_line(outcome, state)
    if parent:
        parts.append(parent)
    parts += _best(outcome, records, folder)
    parts += _search(folder)
    parts.append("<h2>Runs</h2>" + _ranked_table(outcome, records, varying, folder))
    if constant:
        parts.append("<p class='muted'>the same in every run: "
                     + escape(", ".join(f"{_key(k)}={_show(v)}" for k, v in constant.items())) + "</p>")
    charts = _charts(outcome, varying)
    if charts:
        parts.append("<h2>Charts</h2><div class='charts'>" + "".join(charts) + "</div>")
    failures = _failures(outcome, records, folder)
    if failures:
        parts.append("<h2>Runs that did not end well</h2>" + failures)
    parts.append("<h2>Files</h2><p>beside this page: "
                 + ", ".join(f"<a href='{name}'>{name}</a>" for name in ("results.csv", "results.json", "plan.json")
                             if (folder / name).is_file()) + "</p>")
    parts.append("</body></html>")
    return scrub("\n".join(parts))  # its sources are redacted already; an error quoting a URI may not be


def _sweep_status(outcome: SweepOutcome) -> str:
    """As the parent MLflow run ends: KILLED when interrupted, FAILED when a run did not end well."""
    if outcome.interrupt:
        return RecordStatus.KILLED.value
    return RecordStatus.FAILED.value if outcome.failed else RecordStatus.FINISHED.value


def _facts(outcome: SweepOutcome, state: SweepState, plugin: str, executor: str) -> list[str]:
    ranked = f"ranked by {outcome.metric} ({outcome.mode or 'min'})" if outcome.metric else "no metric to rank by"
    facts = [f"sweep {outcome.sweep_id}", f"plugin {plugin}", f"executor {executor}", ranked,
             f"{len(outcome.rows)} runs"]
    if state.created_at:
        facts.append(f"created {state.created_at}")
    if outcome.skipped:
        facts.append(f"{outcome.skipped} ended well in an earlier attempt (resumed)")
    if outcome.elapsed_s:
        facts.append(f"runs took {_duration(outcome.elapsed_s)} this time")
    return facts


def _badge(status: str) -> str:
    return f"<span class='status {escape(status.replace(' ', '_'))}'>{escape(status)}</span>"


def _counts(rows: Sequence[ResultRow]) -> str:
    found = Counter(row.status for row in rows)
    shown = [*COUNTED, *sorted((s for s in found if s not in COUNTED), key=lambda s: s.value)]
    return " ".join(f"{_badge(s.value)} {found.get(s, 0)}" for s in shown if s in COUNTED or found.get(s))


def _parent_line(outcome: SweepOutcome, state: SweepState) -> str | None:
    if not outcome.parent_run_id:
        return None
    link = _mlflow_href(state.tracking_uri, outcome.parent_run_id)
    shown = f"<a href='{escape(link)}'>{escape(outcome.parent_run_id)}</a>" if link else escape(outcome.parent_run_id)
    return f"<p>parent MLflow run {shown} (this page is logged there under <code>sweep/</code>)</p>"


def _mlflow_href(uri: str | None, run_id: str | None) -> str | None:
    """The run in MLflow's UI when it lives on a server people can open."""
    if not uri or not run_id or not uri.startswith(("http://", "https://")):
        return None
    return f"{uri.rstrip('/')}/#/runs/{quote(run_id)}"


def _split_params(rows: Sequence[ResultRow]) -> tuple[list[str], dict[str, Any]]:
    """The override keys whose values differ between runs (all of them for a single run), and the others with
    their one value."""
    keys = list(dict.fromkeys(k for row in rows for k in row.overrides))
    varying, constant = [], {}
    for key in keys:
        values = {dumps(row.overrides.get(key), indent=None) for row in rows}
        if len(values) > 1 or len(rows) < 2:
            varying.append(key)
        else:
            constant[key] = rows[0].overrides.get(key)
    return varying, constant


def _best(outcome: SweepOutcome, records: dict[int, RunRecord], folder: Path) -> list[str]:
    best = outcome.best
    if best is None or not outcome.metric:
        return []
    value = best.metrics.get(outcome.metric)
    head = (f"<h2>Best run</h2><p>{_run_cell(best, records.get(best.index), folder)}: "
            f"<strong>{escape(outcome.metric)} = {escape(_show(value))}</strong> ({escape(outcome.mode or 'min')})</p>")
    params = [[_key(k), _show(v)] for k, v in best.overrides.items()]
    return [head + (_table(["param", "value"], params) if params else "")]


def _search(folder: Path) -> list[str]:
    """A search's settings, trials by state and best trial (its `search/best.json`), and Optuna's plots."""
    search = folder / "search"
    if not search.is_dir():
        return []
    parts = ["<h2>Search</h2>"]
    data = read_regular(search / "best.json", folder, 4 * 1024 * 1024)
    try:
        best = json.loads(data.decode("utf-8")) if data else None
    except ValueError:
        best = None
    if isinstance(best, dict):
        trials = best.get("trials") if isinstance(best.get("trials"), dict) else {}
        facts = [f"sampler {best.get('sampler')}", f"pruner {best.get('pruner')}",
                 "trials " + (", ".join(f"{n} {state}" for state, n in sorted(trials.items())) or "none")]
        parts.append(f"<p>{' &middot; '.join(escape(f) for f in facts)}</p>")
    plots = embed_images(search, folder, link_prefix="search/", caption_prefix="search/", first=SEARCH_PLOTS)
    if plots:
        parts.append("<div class='plots'>" + "".join(plots) + "</div>")
    return parts if len(parts) > 1 else []


def _ranked_table(outcome: SweepOutcome, records: dict[int, RunRecord], varying: list[str], folder: Path) -> str:
    metric = outcome.metric
    pruned = any(row.pruned_step is not None for row in outcome.rows)
    header = ["rank", "run", "status", *([metric] if metric else []), *(["pruned at step"] if pruned else []),
              *[_key(k) for k in varying], "duration"]
    first_param = 3 + bool(metric) + pruned
    numeric = {0, *([3] if metric else []), *([3 + bool(metric)] if pruned else []), first_param + len(varying)}
    numeric |= {first_param + i for i, k in enumerate(varying)
                if all(_is_number(r.overrides.get(k)) for r in outcome.rows if k in r.overrides)}
    body, classes = [], []
    for row in outcome.rows:
        record = records.get(row.index)
        value = row.metrics.get(metric) if metric else None
        shown = _show(value) + (" (last)" if row.status is RecordStatus.PRUNED and value is not None else "")
        cells: list[Any] = [row.rank or "", _run_cell(row, record, folder), _Html(_status_cell(row))]
        cells += [shown] if metric else []
        cells += ["" if row.pruned_step is None else row.pruned_step] if pruned else []
        cells += [_show(row.overrides[k]) if k in row.overrides else "" for k in varying]
        duration = record.duration_s if record else None
        cells.append(_duration(duration) if duration is not None else "")
        body.append(cells)
        classes.append("best" if row.rank == 1 else "")
    return _table(header, body, numeric, classes)


def _run_cell(row: ResultRow, record: RunRecord | None, folder: Path) -> _Html:
    """The run id, linked to its own report when its folder is on this disk (by a relative path, so the
    artifact root can move), and to its MLflow run when that lives on a server."""
    if not row.run_id:
        return _Html("<span class='muted'>none</span>")
    shown = escape(row.run_id)
    report = Path(row.run_dir) / "reports" / "report.html" if row.run_dir else None
    if report is not None and report.is_file():
        href = quote(Path(os.path.relpath(report, folder)).as_posix())
        shown = f"<a href='{escape(href)}'>{shown}</a>"
    tracking = record.summary.tracking if record and record.summary else None
    mlflow = _mlflow_href(tracking.uri, tracking.run_id) if tracking else None
    if mlflow:
        shown += f" <a class='muted' href='{escape(mlflow)}'>MLflow</a>"
    return _Html(shown)


def _status_cell(row: ResultRow) -> str:
    notes = []
    if row.resumed:
        notes.append("earlier")
    if row.retry_of:
        notes.append(f"retry of {row.retry_of[-1]}")
    if row.pending:
        notes.append(f"{row.pending} calls not in MLflow yet")
    return _badge(row.status.value) + (f" <span class='muted'>({escape('; '.join(notes))})</span>" if notes else "")


def _charts(outcome: SweepOutcome, varying: list[str]) -> list[str]:
    """The metric per run (by sweep index), then against each numeric param that varies: finished runs and
    pruned runs' last values as two series, each dot naming its run."""
    metric = outcome.metric
    if not metric:
        return []
    valued = [r for r in outcome.rows if _is_number(r.metrics.get(metric))
              and r.status in (RecordStatus.FINISHED, RecordStatus.PRUNED)]
    if not valued:
        return []

    def series(x_of: Any) -> dict[str, list[tuple[float, float, str]]]:
        out: dict[str, list[tuple[float, float, str]]] = {}
        for row in sorted(valued, key=lambda r: r.index):
            label = "finished" if row.status is RecordStatus.FINISHED else "pruned (last)"
            out.setdefault(label, []).append((x_of(row), float(row.metrics[metric]), row.run_id or "?"))
        return out

    charts = [scatter_chart(series(lambda r: r.index), title=f"{metric} by run", x_label="run (sweep index)")]
    for key in varying[:MAX_PARAM_CHARTS]:
        values = [r.overrides.get(key) for r in valued]
        if not all(_is_number(v) for v in values) or len(set(values)) < 2:
            continue
        # A range drawn log-uniformly (a learning rate) reads on a log axis: log10 when it spans 2 decades.
        logged = min(values) > 0 and max(values) / min(values) >= 100
        charts.append(scatter_chart(
            series(lambda r, k=key, lg=logged: math.log10(r.overrides[k]) if lg else float(r.overrides[k])),
            title=f"{metric} vs {_key(key)}", x_label=f"log10({_key(key)})" if logged else _key(key)))
    return [c for c in charts if c]


def _failures(outcome: SweepOutcome, records: dict[int, RunRecord], folder: Path) -> str:
    rows = []
    for row in outcome.failed:
        reason = row.error.strip().splitlines()[0][:300] if row.error and row.error.strip() else _no_reason(row)
        params = ", ".join(f"{_key(k)}={_show(v)}" for k, v in row.overrides.items())
        rows.append([_run_cell(row, records.get(row.index), folder), _Html(_badge(row.status.value)), params,
                     reason])
    return _table(["run", "status", "params", "reason"], rows, classes=None, wide={3}) if rows else ""


def _no_reason(row: ResultRow) -> str:
    if row.status is RecordStatus.NOT_RUN:
        return "never started: the sweep was stopped first"
    if row.status is RecordStatus.KILLED:
        return "stopped with the sweep"
    return "no error recorded"


def _table(header: list[str], rows: list[list[Any]], num: set[int] | None = None, classes: list[str] | None = None,
           wide: set[int] | None = None) -> str:
    """`core._report`'s table, with cells that are HTML already (`_Html`) left as they are and a class per row."""
    numeric, reasons = num or set(), wide or set()
    # A long param name breaks after its dots and underscores (<wbr>), never inside a word.
    head = "".join(f"<th>{escape(h).replace('.', '.<wbr>').replace('_', '_<wbr>')}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        css = classes[i] if classes and classes[i] else ""
        cells = "".join(
            f"<td{' class=num' if j in numeric else ' class=reason' if j in reasons else ''}>"
            f"{c if isinstance(c, _Html) else escape(str(c))}</td>" for j, c in enumerate(row))
        body.append(f"<tr{f' class={css}' if css else ''}>{cells}</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _key(key: str) -> str:
    """A param's name as the sweep table shows it (`data_spec.` left out)."""
    return key.removeprefix("data_spec.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"  # as the sweep table prints numbers
    if isinstance(value, (dict, list)):
        return dumps(value, indent=None)
    return str(value)
