"""Line and scatter charts as inline SVG, in pure Python: the HTML reports draw metric histories
(a run's) and a metric across runs (a sweep's) without matplotlib or JavaScript, so every run and
sweep gets charts whatever its plugin installed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str, x_label: str = "step",
               width: int = 460, height: int = 260) -> str:
    """One `<svg>` with a line (and dots) per series, axes with ticks, and a legend."""
    return _chart(series, title=title, x_label=x_label, width=width, height=height, lines=True)


def scatter_chart(series: Mapping[str, Sequence[tuple[Any, ...]]], *, title: str, x_label: str,
                  width: int = 460, height: int = 260) -> str:
    """One `<svg>` with a dot per point and no line between them (the points are separate runs, not a
    history); a point may carry a third item, a label its tooltip shows (a run id)."""
    return _chart(series, title=title, x_label=x_label, width=width, height=height, lines=False)


def _chart(series: Mapping[str, Sequence[tuple[Any, ...]]], *, title: str, x_label: str, width: int, height: int,
           lines: bool) -> str:
    series = {name: [p for p in pts if math.isfinite(p[0]) and math.isfinite(p[1])] for name, pts in series.items()}
    points = [(p[0], p[1]) for pts in series.values() for p in pts]
    if not points:
        return ""
    left, right, top, bottom = 58, 12, 28, 44
    x0, x1 = _span([p[0] for p in points])
    y0, y1 = _span([p[1] for p in points])

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" class="title">{escape(title)}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" class="axis"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" class="axis"/>']
    for value in _ticks(y0, y1):
        y = sy(value)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value)}</text>')
    for value in _ticks(x0, x1):
        x = sx(value)
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{_fmt(value)}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    dot, opacity = ("2.5", "") if lines else ("3.5", ' fill-opacity="0.75"')  # overlapping runs stay visible
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        if lines and len(pts) > 1:
            path = " ".join(f"{sx(p[0]):.1f},{sy(p[1]):.1f}" for p in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        if not lines or len(pts) <= 60:  # a long history reads as its line; a scatter is its dots
            parts += [f'<circle cx="{sx(p[0]):.1f}" cy="{sy(p[1]):.1f}" r="{dot}" fill="{colour}"{opacity}>'
                      f"<title>{escape(name)} {escape(x_label)} "
                      f"{_fmt(p[0])}: {p[1]:.6g}{_label(p)}</title></circle>" for p in pts]
        if len(series) > 1:
            ly = top + 4 + 14 * i
            parts.append(f'<rect x="{width - right - 120}" y="{ly}" width="10" height="10" fill="{colour}"/>')
            parts.append(f'<text x="{width - right - 106}" y="{ly + 9}">{escape(name[:18])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _label(point: tuple[Any, ...]) -> str:
    return f" ({escape(str(point[2]))})" if len(point) > 2 else ""


def _span(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(count + 2) if first + i * step <= hi]


def _fmt(value: float) -> str:
    return f"{value:.4g}"
