"""What the pages say, over HTTP, and the pure pieces behind them."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from alerter.daemon import Daemon
from alerter.domain import Coverage, HistoryPoint
from alerter.explain import explain
from alerter.web.chart import build_chart
from alerter.web.views import coverage_gaps, fmt_duration, glob_literal
from tests.web.conftest import T0, Site


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def text(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, element_id
    return html.unescape(match.group(1))


def test_the_daemon_mounts_the_ui_only_when_asked(make_ui_site):
    on = make_ui_site("ui = true", "on")
    off = make_ui_site("ui = false", "off")
    for site, expected in ((on, 200), (off, 404)):
        daemon = Daemon(site.app, serve_http=False)
        server = daemon._start_http()
        try:
            base = f"http://127.0.0.1:{server.port}"
            assert get(base + "/ui/")[0] == expected
            assert get(base + "/healthz")[0] in (200, 503)
        finally:
            server.stop()


def test_explain_page_prints_what_alerter_explain_prints(site: Site):
    acme = next(c for c in site.customers.values() if c.name == "Acme Corp")
    at = T0 - timedelta(hours=3)
    group = {"customer_id": acme.id, "customer_name": acme.name}
    query = urlencode(
        {
            "rule": "customer-hourly-over-200",
            "group": "\n".join(f"{k}={v}" for k, v in group.items()),
            "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    status, page = get(f"{site.url}/ui/explain?{query}")
    assert status == 200
    expected = explain(
        site.app.config,
        rule="customer-hourly-over-200",
        group=group,
        at=at,
        state=site.app.store,
        clock_now=site.clock.now(),
    ).render()
    assert text(page, "verdict") == expected
    assert "flagged" in expected
    assert '<svg class="chart"' in page
    # an unknown group is named, not a crash
    status, page = get(f"{site.url}/ui/explain?rule=customer-hourly-over-200&group=x%3Dy")
    assert status == 200
    assert "has no group" in text(page, "error")


def test_sources_page_shows_a_failed_poll_with_its_located_error(site: Site):
    status, page = get(site.url + "/ui/sources")
    assert status == 200
    assert "poll-ok" in page
    site.clock.advance(timedelta(hours=1))
    site.app.store.record_poll(
        "metronome",
        site.clock.now(),
        ok=False,
        error="source metronome: GET /v1/customers page 1: HTTP 503",
        points=0,
        errors=1,
    )
    status, page = get(site.url + "/ui/sources")
    assert "poll-failed" in page
    assert "GET /v1/customers page 1: HTTP 503" in page
    # the rule's new incidents land in the last of the 4 weeks
    row = re.search(r"<td>customer-hourly-over-200</td>(.*?)</tr>", page, re.S)
    assert row
    counts = re.findall(r'<td class="num">(\d+)</td>', row.group(1))
    assert counts == ["0", "0", "0", "2"]


def test_backtest_page_embeds_the_backtest_report_under_a_strict_policy(site: Site):
    status, page = get(site.url + "/ui/rules/customer-hourly-over-200/backtest")
    assert status == 200
    summary = html.unescape(page[page.index('id="backtest-summary"') :])
    # Acme and the hostile customer, once each in the 2 days that hold data, among 3 groups
    assert "2 (7.00 a week, 3 groups judged)" in summary
    assert "1/month per group" in summary
    assert "exceeded" in summary
    report_url = "/ui/rules/customer-hourly-over-200/backtest/report"
    assert f'<iframe class="report" id="report" title="backtest report" src="{report_url}"' in page

    with urllib.request.urlopen(site.url + report_url, timeout=30) as resp:
        policy = resp.headers["Content-Security-Policy"]
        report = resp.read().decode()
    # the detection issue's report (``alerter backtest --html``), unchanged
    assert "<h2>customer-hourly-over-200: 2 alerting groups</h2>" in report
    assert "<img alt='chart' src='data:image/png;base64," in report
    assert "<script" not in report.lower()
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if " " in d.strip())
    assert directives["script-src"] == "'none'"
    assert directives["img-src"] == "data:"
    assert directives["style-src"].startswith("'sha256-")
    assert "unsafe" not in policy
    assert "sandbox" in policy
    style = re.search(r"<style>(.*?)</style>", report, re.S)
    assert style
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert directives["style-src"] == f"'sha256-{digest}'"

    status, page = get(site.url + "/ui/rules/no-such-rule/backtest")
    assert "no enabled rule named" in html.unescape(page)
    status, page = get(site.url + "/ui/rules/no-such-rule/backtest/report")
    assert status == 404
    assert "no enabled rule named" in html.unescape(page)


def test_rules_page_holds_alerts_a_week_against_the_max_alerts_budget(site: Site):
    status, page = get(site.url + "/ui/sources")
    assert status == 200
    row = re.search(r'<table class="list" id="rules">.*?</table>', page, re.S)
    assert row
    cells = html.unescape(re.sub(r"<[^>]+>", " ", row.group(0)))
    # one alert per group in 4 weeks: 0.25 a week, over a budget of 1/month (0.23 a week)
    assert "1/month per group" in cells
    assert "over" in cells.split("1/month per group", 1)[1].split()[0]
    assert "0.25/week vs 0.23" in cells


@pytest.mark.parametrize(
    ("value", "glob"),
    [("Acme Corp", "Acme Corp"), ("a*b?[c]", "a[*]b[?][[]c]"), ("", "")],
)
def test_glob_literal_matches_only_itself(value, glob):
    import fnmatch

    assert glob_literal(value) == glob
    assert fnmatch.fnmatchcase(value, glob_literal(value))
    assert not fnmatch.fnmatchcase(value + "x", glob_literal(value))


def test_coverage_gaps_per_scope():
    t = datetime(2026, 9, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    cov = [
        Coverage(t, t + 3 * h, ()),
        Coverage(t + 5 * h, t + 10 * h, ()),
        Coverage(t, t + 10 * h, (("customer_id", "a"),)),
        Coverage(t + 2 * h, t + 8 * h, (("customer_id", "b"),)),
    ]
    assert coverage_gaps(cov, t, t + 10 * h) == [
        ("customer_id=b", t, t + 2 * h),
        ("(whole source)", t + 3 * h, t + 5 * h),
        ("customer_id=b", t + 8 * h, t + 10 * h),
    ]


def test_fmt_duration():
    assert fmt_duration(timedelta(minutes=5)) == "5m"
    assert fmt_duration(timedelta(hours=5, minutes=2)) == "5h 2m"
    assert fmt_duration(timedelta(days=2, hours=3)) == "2d 3h"
    assert fmt_duration(timedelta(seconds=-5)) == "0m"


def test_chart_geometry_breaks_lines_at_unknown_windows_and_marks_the_window():
    t = datetime(2026, 9, 1, tzinfo=UTC)
    points = [
        HistoryPoint(t + timedelta(hours=i), None if i == 2 else 10.0 * i, 5.0, 0.0, 20.0)
        for i in range(5)
    ]
    chart = build_chart(
        points, t + timedelta(hours=4), t + timedelta(hours=5), 40.0, step_seconds=3600
    )
    assert chart is not None
    assert chart.observed.count("M") == 2  # the unknown window is a gap, not a zero
    assert chart.band.startswith("M") and chart.band.endswith("Z")
    assert chart.plot_left <= chart.marker_x <= chart.plot_right
    assert build_chart([], t, t, 0.0, step_seconds=3600) is None


def test_unknown_pages_and_methods_are_answered_not_crashed(site: Site):
    assert get(site.url + "/ui/nowhere")[0] == 404
    assert get(site.url + "/ui/incidents/999999")[0] == 404
    assert get(site.url + "/ui/static/secret.txt")[0] == 404
    request = urllib.request.Request(site.url + "/ui/sources", data=b"x=1")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)
    with answer.value as refused:
        assert refused.code == 405
    status, page = get(site.url + "/")  # redirected to the incidents page
    assert status == 200
    assert 'id="incidents"' in page


def test_sparse_chart_draws_dots_and_a_band_bar_instead_of_lines():
    t = datetime(2026, 9, 1, tzinfo=UTC)
    week = timedelta(weeks=1)
    points = [
        HistoryPoint(t, 40.0, None, None, None),
        HistoryPoint(t + week, 41.0, None, None, None),
        HistoryPoint(t + 2 * week, 200.0, 40.0, 0.0, 98.0),
    ]
    chart = build_chart(
        points,
        t + 2 * week,
        t + 2 * week + timedelta(hours=1),
        200.0,
        step_seconds=3600,
        sparse=True,
    )
    assert chart is not None
    assert chart.observed == ""
    assert len(chart.dots) == 3
    [(x, top, height, expected_y)] = chart.bars
    assert top < expected_y < top + height
    assert x <= chart.plot_right
