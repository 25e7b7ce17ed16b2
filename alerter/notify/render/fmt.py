"""One format for money, percentages, durations and times, wherever a person reads them.

The console, Slack, email, Teams, ``status`` and ``backtest`` all call these, so a
spike reads ``+$351.30 (+574%)`` and lasted ``7d 2h`` everywhere:

- money: ``$1,234.56`` for USD, ``1,234.56 EUR`` otherwise; a change carries its sign
  (``+$12.00``, ``-$3.50``);
- percent: whole numbers from 10 % up (``+574%``), one decimal below (``+3.2%``);
- durations: the two largest units (``7d 2h``, ``5h 30m``, ``45m``);
- times: ``2026-10-05 14:00 UTC`` in a table; windows by ``summary.window_text``.

Everything returned is plain text without untrusted input: callers escape nothing here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from alerter.money import format_money


def money(amount: Decimal, currency: str = "USD") -> str:
    """``$1,234.56`` / ``-$3.50`` / ``1,234.56 EUR``."""
    return format_money(amount, currency)


def signed_money(amount: Decimal, currency: str = "USD") -> str:
    """``+$12.00`` / ``-$3.50``: a change, always signed."""
    text = format_money(amount, currency)
    return text if text.startswith("-") else "+" + text


def percent(pct: float | None) -> str:
    """``+574%``, ``-42%``, ``+3.2%``; ``new spend`` when there was no baseline."""
    if pct is None:
        return "new spend"
    if abs(pct) >= 10:
        return f"{pct:+,.0f}%"
    return f"{pct:+.1f}%"


def share(fraction: float) -> str:
    """A share of a total, ``0.42`` -> ``42%``."""
    return f"{fraction * 100:.0f}%"


def duration(delta: timedelta) -> str:
    """``7d 2h``, ``5h 30m``, ``45m``: the two largest units, never negative."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def when(value: datetime | None, tz: ZoneInfo | None = None) -> str:
    """``2026-10-05 14:00 UTC`` (``-`` for None): a moment in a table or a log line."""
    if value is None:
        return "-"
    local = value.astimezone(tz or ZoneInfo("UTC"))
    return f"{local:%Y-%m-%d %H:%M} {local:%Z}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 incident``, ``3 incidents``."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
