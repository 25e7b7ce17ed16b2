"""The incident chart: a PNG of the group's recent history (matplotlib, Agg, no pyplot).

Observed spend as a line, the expected value dashed inside its shaded band, and the
anomalous window marked. Hourly (and finer) data shows the last 7 days; daily and
coarser data the last 8 weeks.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerter.domain import HistoryPoint, Notification
from alerter.notify.render.escape import plain_text
from alerter.notify.render.summary import delta_text, group_label, zone

log = logging.getLogger(__name__)

HOURLY_SPAN = timedelta(days=7)
DAILY_SPAN = timedelta(weeks=8)


def chart_span(step_seconds: int) -> timedelta:
    """How much history a chart shows for windows of ``step_seconds``."""
    return DAILY_SPAN if step_seconds >= 86400 else HOURLY_SPAN


def chart_points(msg: Notification) -> list[HistoryPoint]:
    """The history points inside the chart span, ending at the incident window's end."""
    since = msg.window_end - chart_span(msg.step_seconds)
    return sorted(
        (h for h in msg.history if since <= h.start < msg.window_end), key=lambda h: h.start
    )


def drawn_points(msg: Notification) -> list[HistoryPoint]:
    """``chart_points`` from the first window with any data: a short history starts the
    axis there instead of leaving its left part empty."""
    points = chart_points(msg)
    known = [i for i, h in enumerate(points) if h.observed is not None or h.expected is not None]
    return points[known[0] :] if known else []


def _x(when: datetime) -> float:
    from matplotlib import dates as mdates

    return float(mdates.date2num(when))  # type: ignore[no-untyped-call]


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


def render_chart(msg: Notification, timezone: str = "UTC", *, dpi: int = 100) -> bytes | None:
    """PNG bytes of the incident's history, or None when there is no history to draw."""
    points = drawn_points(msg)
    if not points:
        return None
    # imported here: matplotlib takes about a second to import, and every CLI command
    # loads the notifier registry while few of them draw a chart
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tz: ZoneInfo = zone(timezone)
    step_days = msg.step_seconds / 86400
    xs = mdates.date2num([h.start for h in points])  # type: ignore[no-untyped-call]
    observed = [_num(h.observed) for h in points]
    expected = [_num(h.expected) for h in points]
    lower = [_num(h.lower) for h in points]
    upper = [_num(h.upper) for h in points]

    fig = Figure(figsize=(9, 3.4), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.fill_between(
        xs, lower, upper, color="#9ecae1", alpha=0.45, linewidth=0, label="expected band"
    )
    ax.plot(xs, expected, color="#3182bd", linestyle="--", linewidth=1.0, label="expected")
    ax.plot(xs, observed, color="#222222", linewidth=1.4, label="observed")
    colour = "#2ca02c" if msg.event.value == "resolved" else "#d62728"
    ax.axvspan(_x(msg.window_start), _x(msg.window_end), color=colour, alpha=0.18, linewidth=0)
    ax.scatter(
        [_x(msg.window_start)],
        [float(msg.observed)],
        color=colour,
        zorder=5,
        s=24,
        label="provisional" if msg.partial else "anomalous window",
    )
    left = float(xs[0])
    right = max(float(xs[-1]) + step_days, _x(msg.window_end))
    ax.set_xlim(left, right + (right - left) * 0.04)
    ax.annotate(
        delta_text(msg),
        xy=(_x(msg.window_start), float(msg.observed)),
        xytext=(-8, -4),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=8,
        color=colour,
    )
    locator = mdates.AutoDateLocator(tz=tz, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=tz)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.set_ylabel(f"spend per window ({msg.currency})")
    ax.set_ylim(bottom=min(0.0, *(v for v in observed + lower if not math.isnan(v))))
    ax.grid(True, color="#eeeeee", linewidth=0.8)
    title = plain_text(f"{msg.rule}: {group_label(msg.group)}")[:100]
    ax.set_title(title, fontsize=10, loc="left", parse_math=False)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # A customer name in a script the bundled font lacks draws boxes; not an error.
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def safe_chart(msg: Notification, timezone: str = "UTC", *, dpi: int = 100) -> bytes | None:
    """``render_chart``, or None (logged) if drawing fails: a chart never blocks an alert."""
    try:
        return render_chart(msg, timezone, dpi=dpi)
    except Exception as exc:  # matplotlib can fail in many ways; the message still goes out
        log.warning("chart.failed incident=%s error=%s", msg.incident_id, type(exc).__name__)
        return None
