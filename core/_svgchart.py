"""Line charts as inline SVG, in pure Python: the HTML report draws metric histories without
matplotlib or JavaScript, so every run gets charts whatever its plugin installed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str, x_label: str = "step",
               width: int = 460, height: int = 260) -> str:
    """One `<svg>` with a line (and dots) per series, axes with ticks, and a legend."""
    points = [(x, y) for pts in series.values() for x, y in pts if math.isfinite(y)]
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
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        finite = [(x, y) for x, y in pts if math.isfinite(y)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in finite)
        if len(finite) > 1:
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        if len(finite) <= 60:
            parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}">'
                      f"<title>{escape(name)} step {_fmt(x)}: {y:.6g}</title></circle>" for x, y in finite]
        if len(series) > 1:
            ly = top + 4 + 14 * i
            parts.append(f'<rect x="{width - right - 120}" y="{ly}" width="10" height="10" fill="{colour}"/>')
            parts.append(f'<text x="{width - right - 106}" y="{ly + 9}">{escape(name[:18])}</text>')
    parts.append("</svg>")
    return "".join(parts)


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
