"""An incident chart as inline SVG geometry: observed line, expected band, marked window.

The same picture as ``notify/render/chart.py`` draws for Slack and email (its span and
point selection are reused), drawn by the browser: no image request, nothing for the
Content-Security-Policy to allow. Only numbers go into the path strings; every label
is text that the template escapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from alerter.domain import HistoryPoint

WIDTH = 900
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 16, 34


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True, slots=True)
class ChartGeometry:
    """Everything the template draws; coordinates in the ``WIDTH x HEIGHT`` viewBox."""

    width: int
    height: int
    band: str
    expected: str
    observed: str
    marker_x: float
    marker_w: float
    marker_cx: float
    marker_cy: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    dots: tuple[tuple[float, float], ...] = ()
    """Observed values drawn as points, not a line (sparse windows, e.g. weekly lags)."""
    bars: tuple[tuple[float, float, float, float], ...] = ()
    """Bands of single windows: ``(x, top, height, expected_y)``."""


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _path(points: Sequence[tuple[float, float | None]]) -> str:
    """An SVG path through the points, broken where a value is unknown (NaN is a gap)."""
    parts: list[str] = []
    pen_up = True
    for x, y in points:
        if y is None:
            pen_up = True
            continue
        parts.append(f"{'M' if pen_up else 'L'}{x:.1f},{y:.1f}")
        pen_up = False
    return " ".join(parts)


def _nice_step(span: float) -> float:
    raw = span / 4 if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def build_chart(
    points: Sequence[HistoryPoint],
    marker_start: datetime,
    marker_end: datetime,
    marker_value: float,
    *,
    step_seconds: int,
    sparse: bool = False,
) -> ChartGeometry | None:
    """Geometry for ``points`` (sorted by start) with the window ``[marker_start,
    marker_end)`` marked at ``marker_value``; None when there is nothing to draw.

    ``sparse`` draws observed values as dots and each band as a bar of its own window:
    for windows that are not adjacent (a seasonal baseline's weekly lags)."""
    if not points:
        return None
    t0 = min(points[0].start, marker_start).timestamp()
    t1 = max(points[-1].start.timestamp() + step_seconds, marker_end.timestamp())
    if sparse:  # room for the last bar beside the plot's edge
        t1 += (t1 - t0) * 0.03
    values = [
        v
        for h in points
        for v in (_finite(h.observed), _finite(h.lower), _finite(h.upper), _finite(h.expected))
        if v is not None
    ]
    values.append(marker_value)
    lo = min(0.0, *values)
    hi = max(values) if values else 1.0
    if hi <= lo:
        hi = lo + 1.0
    hi += (hi - lo) * 0.08
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(ts: float) -> float:
        return LEFT + (ts - t0) / max(t1 - t0, 1.0) * plot_w

    def y(v: float | None) -> float | None:
        return None if v is None else TOP + (hi - v) / (hi - lo) * plot_h

    mid = step_seconds / 2
    xs = [x(h.start.timestamp() + mid) for h in points]
    upper = [(px, y(_finite(h.upper))) for px, h in zip(xs, points, strict=True)]
    lower = [(px, y(_finite(h.lower))) for px, h in zip(xs, points, strict=True)]
    band_pts = [(px, py) for px, py in upper if py is not None]
    band_pts += [(px, py) for px, py in reversed(lower) if py is not None]
    band = ""
    if band_pts:
        band = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in band_pts) + " Z"
    step = _nice_step(hi - lo)
    y_ticks = []
    v = math.ceil(lo / step) * step
    while v <= hi:
        y_ticks.append(Tick(y(v) or 0.0, f"{v:,.0f}" if step >= 1 else f"{v:,.2f}"))
        v += step
    span_days = (t1 - t0) / 86400
    x_ticks = []
    count = 6
    for i in range(count + 1):
        ts = t0 + (t1 - t0) * i / count
        when = datetime.fromtimestamp(ts, tz=points[0].start.tzinfo)
        label = when.strftime("%m-%d" if span_days > 10 else "%m-%d %H:%M")
        x_ticks.append(Tick(x(ts), label))
    mx = x(marker_start.timestamp())
    dots: tuple[tuple[float, float], ...] = ()
    bars: tuple[tuple[float, float, float, float], ...] = ()
    if sparse:
        dots = tuple(
            (px, py)
            for px, py in ((px, y(_finite(h.observed))) for px, h in zip(xs, points, strict=True))
            if py is not None
        )
        found = []
        for px, h in zip(xs, points, strict=True):
            top, bottom, mid_y = y(_finite(h.upper)), y(_finite(h.lower)), y(_finite(h.expected))
            if top is not None and bottom is not None:
                found.append((px, top, max(bottom - top, 1.0), mid_y if mid_y is not None else top))
        bars = tuple(found)
        band = ""
    return ChartGeometry(
        width=WIDTH,
        height=HEIGHT,
        band=band,
        expected=_path([(px, y(_finite(h.expected))) for px, h in zip(xs, points, strict=True)]),
        observed=""
        if sparse
        else _path([(px, y(_finite(h.observed))) for px, h in zip(xs, points, strict=True)]),
        marker_x=mx,
        marker_w=max(x(marker_end.timestamp()) - mx, 2.0),
        marker_cx=x(marker_start.timestamp() + mid),
        marker_cy=y(marker_value) or 0.0,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        dots=dots,
        bars=bars,
    )
