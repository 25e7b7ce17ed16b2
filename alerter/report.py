"""``alerter backtest --html FILE``: one self-contained page about a backtest.

Per rule: its alerts per week against its noise budget, and for each alerting group a
chart (the group's recent spend, the detector's band, the alerted window marked; the
same PNG the notifications carry, embedded as a data URI) with one line per incident.
"""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from pathlib import Path

from alerter.backtest import BacktestResult
from alerter.detect.budget import format_budget
from alerter.domain import Notification, Reason
from alerter.notify.render.chart import safe_chart
from alerter.notify.render.escape import html_text
from alerter.notify.render.summary import group_label
from alerter.timeparse import format_time

MAX_CHARTS = 50
"""Charts per rule (the groups with the most incidents first)."""

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #eee;text-align:left}
.kept{color:#1a7f37}.over{color:#b42318;font-weight:bold}.group{margin:1em 0}
img{max-width:100%;border:1px solid #eee}
"""


def report_style_hash() -> str:
    """The CSP hash (``sha256-...``, to be quoted in a policy) that allows the report's one ``<style>`` block,
    so a server can serve the report under a policy without ``'unsafe-inline'``."""
    digest = hashlib.sha256(_STYLE.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render_html(result: BacktestResult) -> str:
    """The report as one HTML document (no external resources)."""
    firsts: dict[str, dict[tuple[tuple[str, str], ...], list[Notification]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for event in result.events:
        if event.event is Reason.FIRST:
            firsts[event.rule][event.group].append(event)
    rates = result.per_rule_weekly()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>alerter backtest</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Backtest {html_text(format_time(result.since))} .. "
        f"{html_text(format_time(result.until))}</h1>",
        "<table><tr><th>rule</th><th>alerts/week</th><th>per group/week</th>"
        "<th>budget</th><th></th></tr>",
    ]
    for rule in result.rules:
        per_group, budget, kept = result.budget_report(rule)
        verdict = "" if budget is None else ("kept" if kept else "exceeded")
        css = "kept" if kept else "over"
        budget_text = f"{rule.max_alerts} ({format_budget(budget)})" if budget else "none"
        parts.append(
            f"<tr><td>{html_text(rule.name)}</td><td>{rates.get(rule.name, 0.0):.2f}</td>"
            f"<td>{per_group:.3f}</td><td>{html_text(budget_text)}</td>"
            f"<td class='{css}'>{verdict}</td></tr>"
        )
    parts.append("</table>")
    for rule in result.rules:
        groups = firsts.get(rule.name, {})
        parts.append(f"<h2>{html_text(rule.name)}: {len(groups)} alerting groups</h2>")
        ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for group, events in ordered[:MAX_CHARTS]:
            parts.append(f"<div class='group'><h3>{html_text(group_label(group))}</h3><ul>")
            parts.extend(
                f"<li>{html_text(format_time(e.window_start))}: observed {e.observed} "
                f"expected {e.expected} (band {e.lower} .. {e.upper}, "
                f"{html_text(e.direction.value)})</li>"
                for e in events
            )
            parts.append("</ul>")
            png = safe_chart(events[-1])
            if png:
                data = base64.b64encode(png).decode("ascii")
                parts.append(f"<img alt='chart' src='data:image/png;base64,{data}'>")
            parts.append("</div>")
        if len(ordered) > MAX_CHARTS:
            parts.append(f"<p>{len(ordered) - MAX_CHARTS} more groups not charted.</p>")
    parts.append("</body></html>")
    return "".join(parts)


def write_html(result: BacktestResult, path: str | Path) -> None:
    Path(path).write_text(render_html(result), encoding="utf-8")
