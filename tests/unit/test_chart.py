from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from alerter.domain import Notification
from alerter.notify.render.chart import (
    chart_points,
    chart_span,
    drawn_points,
    render_chart,
    safe_chart,
)
from tests.fakes.notifications import HOSTILE, sample


def test_chart_is_a_png() -> None:
    png = render_chart(sample(), "Europe/Berlin")
    assert png is not None
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_no_history_no_chart() -> None:
    assert render_chart(sample(history=()), "UTC") is None


@pytest.mark.parametrize(
    "name", [HOSTILE, "$\\frac{1}{0}$ math", "株式会社テスト 🚀", "tab\tnew\nline\x00"]
)
def test_hostile_or_exotic_names_still_draw(name: str) -> None:
    png = render_chart(sample(name), "UTC")
    assert png is not None
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("step", "span"),
    [(300, timedelta(days=7)), (3600, timedelta(days=7)), (86400, timedelta(weeks=8))],
)
def test_span_depends_on_window_size(step: int, span: timedelta) -> None:
    assert chart_span(step) == span


def test_points_are_limited_to_the_span_before_the_window_end() -> None:
    msg = sample()
    longer = dataclasses.replace(
        msg,
        history=msg.history
        + tuple(dataclasses.replace(h, start=h.start - timedelta(days=7)) for h in msg.history),
    )
    points = chart_points(longer)
    assert len(points) == 7 * 24
    assert points[0].start == msg.window_end - timedelta(days=7)
    assert points[-1].start == msg.window_start


def broken() -> Notification:
    msg = sample()
    bad = dataclasses.replace(msg.history[-1], observed="not a number")  # type: ignore[arg-type]
    return dataclasses.replace(msg, history=(*msg.history[:-1], bad))


def test_safe_chart_turns_a_drawing_failure_into_no_chart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ValueError):
        render_chart(broken(), "UTC")
    assert safe_chart(broken(), "UTC") is None
    assert "chart.failed incident=42 error=ValueError" in caplog.text


def test_a_short_history_starts_the_axis_at_the_first_known_window() -> None:
    msg = sample()
    blank = [
        dataclasses.replace(h, observed=None, expected=None, lower=None, upper=None)
        for h in msg.history[: 24 * 5]
    ]
    short = dataclasses.replace(msg, history=(*blank, *msg.history[24 * 5 :]))
    points = drawn_points(short)
    assert points[0].start == msg.history[24 * 5].start
    assert render_chart(short, "UTC") is not None
