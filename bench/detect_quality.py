"""Detection quality on labelled synthetic cost data, through ``alerter.backtest``.

Several independent *scenario families* (different noise models, seasonality shapes,
zero inflation, trends, holidays, month-start billing; hourly and daily) each generate
spend series with injected events (spikes, level shifts, runaway ramps, new spend,
drops, bursts on zero-inflated series) and clean series. Each family is written as a
``timestamp,series,amount`` CSV and replayed through the same backtest path as the
daemon with the rules of ``bench/rules/cost-hourly.toml`` (``cost-daily.toml`` for daily
families), and the alerts (new incidents) are scored per family.

Families are either ``tune`` (the rules' parameters were chosen looking at these) or
``held-out`` (never looked at while choosing parameters; reported as they come out).

Scoring, per event: detected if some alert starts inside its label window; delay is
the first such alert's window minus the event start. An alert inside no label window
of its series is a false alert. Alerts inside a window after the first are repeats,
not false alerts. precision = detected / (detected + false alerts), recall =
detected / events; false alerts per 100 series-weeks count every series.

    python bench/detect_quality.py [--series 300] [--seed 7] [--family NAME ...] [--held-out]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerter.backtest import run_backtest  # noqa: E402
from alerter.config import load_config  # noqa: E402
from alerter.domain import Reason, key_get  # noqa: E402

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
KINDS = ("spike", "level_shift", "ramp", "new_spend", "drop", "zero_inflated_burst")
Array = np.ndarray


@dataclass(frozen=True)
class Grid:
    """Calendar of a family's windows."""

    per_day: int
    n: int

    @property
    def t(self) -> Array:
        return np.arange(self.n)

    @property
    def hour(self) -> Array:
        return (self.t % self.per_day) * (24 // self.per_day)

    @property
    def day(self) -> Array:
        return self.t // self.per_day

    @property
    def weekday(self) -> Array:
        return self.day % 7  # T0 is a Monday

    @property
    def month_start(self) -> Array:
        dates = np.datetime64(T0.date()) + self.day.astype("timedelta64[D]")
        return dates.astype("datetime64[D]") == dates.astype("datetime64[M]")


Base = Callable[[np.random.Generator, Grid], tuple[Array, Array, bool]]
"""(rng, grid) -> expected spend, noisy spend, whether the series may be zero-inflated."""


@dataclass(frozen=True)
class Family:
    name: str
    role: str  # "tune" or "held-out"
    about: str
    hourly: bool
    weeks: int
    judge_from_week: int
    base: Base
    zero_share: float  # share of series that are zero-inflated
    occupancy: tuple[float, float]  # share of non-zero windows of zero-inflated series
    holidays: int = 0  # weekdays in the judged span that behave like a weekend

    @property
    def per_day(self) -> int:
        return 24 if self.hourly else 1

    @property
    def rules(self) -> str:
        return "cost-hourly.toml" if self.hourly else "cost-daily.toml"

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.hourly else timedelta(days=1)


def _bump(rng: np.random.Generator, g: Grid, width: float = 4) -> Array:
    peak = rng.uniform(8, 18)
    circ = np.minimum(np.abs(g.hour - peak), 24 - np.abs(g.hour - peak))
    return np.asarray(1 + rng.uniform(0.2, 1.5) * np.exp(-((circ / width) ** 2)))


def steady(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """The original generator: Gaussian daily bump, weekend dip, t(5) noise 2-8 %."""
    level = float(np.clip(rng.lognormal(np.log(20), 1.0), 2, 2000))
    daily = _bump(rng, g) if g.per_day > 1 else 1.0
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.4, 1.0))
    trend = (1 + rng.normal(0, 0.02)) ** (g.t / (7 * g.per_day))
    expected = level * daily * weekly * trend
    sigma = rng.uniform(0.02, 0.08)
    return expected, expected * np.exp(sigma * np.sqrt(3 / 5) * rng.standard_t(5, g.n)), True


def lognormal(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Multiplicative lognormal noise up to 25 % per window, weekend factor 0.5-1.0,
    linear trends up to +-20 % over eight weeks, a smooth daily wave."""
    level = float(np.clip(rng.lognormal(np.log(30), 1.2), 1, 5000))
    phase = rng.uniform(0, 24)
    daily = 1 + rng.uniform(0, 0.8) * np.sin(2 * np.pi * (g.hour - phase) / 24)
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.5, 1.0))
    trend = 1 + rng.uniform(-0.2, 0.2) * g.t / (56 * g.per_day)
    expected = level * daily * weekly * trend
    return expected, expected * rng.lognormal(0, rng.uniform(0.02, 0.25), g.n), True


def office(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Business hours: flat 8-18 on weekdays, nights and weekends at 5-50 %; t(5) noise
    of 5-20 % (cut at 6 scales); growth up to +30 % over the span."""
    level = float(np.clip(rng.lognormal(np.log(50), 1.0), 2, 5000))
    start, end = rng.integers(7, 10), rng.integers(17, 20)
    busy = (g.hour >= start) & (g.hour < end) & (g.weekday < 5)
    if g.per_day == 1:
        busy = g.weekday < 5
    quiet = rng.uniform(0.05, 0.5)
    shape = np.where(busy, 1.0, quiet)
    trend = np.exp(np.log(1 + rng.uniform(0, 0.3)) * g.t / g.n)
    expected = level * shape * trend
    noise = np.exp(rng.uniform(0.05, 0.2) * np.clip(rng.standard_t(5, g.n), -6, 6))
    return expected, expected * noise, True


def meter(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Metered usage: Poisson counts (8-400 an hour) times a unit price, a day-to-day
    drifting factor (AR(1), 8 %), weekday/weekend and a two-peak day."""
    rate = rng.uniform(8, 400)
    price = float(rng.lognormal(np.log(0.2), 1.0))
    p1, p2 = rng.uniform(9, 12), rng.uniform(14, 20)
    day = (
        1
        + 0.6 * np.exp(-(((g.hour - p1) / 2.5) ** 2))
        + 0.6 * np.exp(-(((g.hour - p2) / 2.5) ** 2))
    )
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.3, 0.9))
    days = int(g.day[-1]) + 1
    drift = np.zeros(days)
    for d in range(1, days):
        drift[d] = 0.7 * drift[d - 1] + rng.normal(0, 0.08)
    lam = rate * day * weekly * np.exp(drift[g.day])
    expected = price * rate * day * weekly
    return expected, price * rng.poisson(lam).astype(float), False


def heavy(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Heavy noise: lognormal 15-35 % per window on top of a random daily factor (10 %),
    weekend factor 0.5-1.0, double-peaked day, trends from -20 % to +30 %."""
    level = float(np.clip(rng.lognormal(np.log(15), 1.5), 0.5, 10000))
    day = _bump(rng, g, 3) * _bump(rng, g, 2) if g.per_day > 1 else 1.0
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.5, 1.0))
    trend = 1 + rng.uniform(-0.2, 0.3) * g.t / g.n
    expected = level * day * weekly * trend
    daily_factor = rng.lognormal(0, 0.1, int(g.day[-1]) + 1)[g.day]
    noise = rng.lognormal(0, rng.uniform(0.15, 0.35), g.n)
    return expected, expected * daily_factor * noise, True


def billing(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Daily bills: weekday/weekend, a month-start charge of 2-10 days' spend on 60 % of
    series, lognormal noise 3-20 %, trends up to +-20 %."""
    level = float(np.clip(rng.lognormal(np.log(200), 1.2), 5, 50000))
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.3, 1.0))
    trend = 1 + rng.uniform(-0.2, 0.2) * g.t / g.n
    expected = level * weekly * trend
    if rng.random() < 0.6:
        expected = expected + np.where(g.month_start, level * rng.uniform(2, 10), 0.0)
    return expected, expected * rng.lognormal(0, rng.uniform(0.03, 0.2), g.n), True


def retail(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Busier weekends (factor 1.0-1.8), an evening peak, gamma noise (shape 12-60, i.e.
    13-29 %), trends from -10 % to +30 %."""
    level = float(np.clip(rng.lognormal(np.log(40), 1.3), 1, 20000))
    evening = 1 + rng.uniform(0.3, 2.0) * np.clip(np.sin(np.pi * (g.hour - 12) / 12), 0, None)
    day = evening if g.per_day > 1 else 1.0
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(1.0, 1.8))
    trend = 1 + rng.uniform(-0.1, 0.3) * g.t / g.n
    expected = level * day * weekly * trend
    shape = rng.uniform(12, 60)
    return expected, expected * rng.gamma(shape, 1 / shape, g.n), True


def batch(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """A flat base (lognormal noise 5-15 %) plus a nightly batch job of 2-4 hours at
    3-8x the base; half the series also bill a fixed fee at 00:00 on the 1st."""
    level = float(np.clip(rng.lognormal(np.log(10), 1.0), 1, 5000))
    at, hours = int(rng.integers(0, 6)), int(rng.integers(2, 5))
    job = (g.hour >= at) & (g.hour < at + hours)
    expected = level * np.where(job, rng.uniform(3, 8), 1.0)
    if rng.random() < 0.5:
        expected = expected + np.where(
            g.month_start & (g.hour == 0), level * rng.uniform(20, 60), 0.0
        )
    return expected, expected * rng.lognormal(0, rng.uniform(0.05, 0.15), g.n), True


def mixed(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Additive noise of 5-15 % of the mean level (so quiet hours are relatively noisier)
    on top of multiplicative lognormal 5-15 %; weekday office shape with weekend 0.5-1.0."""
    level = float(np.clip(rng.lognormal(np.log(25), 1.0), 2, 5000))
    busy = (g.hour >= 8) & (g.hour < 19)
    day = np.where(busy, 1.0, rng.uniform(0.3, 0.8)) if g.per_day > 1 else 1.0
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.5, 1.0))
    expected = level * day * weekly
    mult = rng.lognormal(0, rng.uniform(0.05, 0.15), g.n)
    add = rng.normal(0, rng.uniform(0.05, 0.15) * float(expected.mean()), g.n)
    return expected, np.maximum(expected * mult + add, 0.0), True


def weekly_daily(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Daily spend, lognormal noise 5-30 %, weekend factor 0.5-1.0, growth that starts
    mid-span (up to +25 %)."""
    level = float(np.clip(rng.lognormal(np.log(100), 1.2), 2, 50000))
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.5, 1.0))
    mid = g.n // 2
    growth = 1 + rng.uniform(0, 0.25) * np.clip((g.t - mid) / (g.n - mid), 0, None)
    expected = level * weekly * growth
    return expected, expected * rng.lognormal(0, rng.uniform(0.05, 0.3), g.n), True


def saas_daily(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Daily SaaS spend: Mondays 10-40 % above the week, weekends at 40-90 %, a month-end
    surge (last 5 days of the month at 110-150 %), t(4) noise of 4-20 %, exponential
    growth from -20 % to +40 % over the span."""
    level = float(np.clip(rng.lognormal(np.log(500), 1.0), 10, 100000))
    weekly = np.where(g.weekday == 0, rng.uniform(1.1, 1.4), 1.0)
    weekly = np.where(g.weekday >= 5, rng.uniform(0.4, 0.9), weekly)
    dates = np.datetime64(T0.date()) + g.day.astype("timedelta64[D]")
    next_month = (dates.astype("datetime64[M]") + 1).astype("datetime64[D]")
    month_end = (next_month - dates).astype(int) <= 5
    surge = np.where(month_end, rng.uniform(1.1, 1.5), 1.0)
    growth = np.exp(np.log(1 + rng.uniform(-0.2, 0.4)) * g.t / g.n)
    expected = level * weekly * surge * growth
    noise = np.exp(rng.uniform(0.04, 0.2) * np.clip(rng.standard_t(4, g.n), -6, 6) / np.sqrt(2))
    return expected, expected * noise, True


def fleet(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """An autoscaled fleet: whole instances (2-40 at peak) follow a daily demand curve
    and weekends at 60-100 %, each billed at a fixed hourly price; 2-5 % price noise."""
    peak = int(rng.integers(2, 41))
    price = float(rng.lognormal(np.log(0.5), 1.0))
    phase = rng.uniform(0, 24)
    demand = 0.55 + 0.45 * np.cos(2 * np.pi * (g.hour - phase) / 24)
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.6, 1.0))
    expected = price * np.maximum(1, peak * demand * weekly)
    instances = np.maximum(1, np.round(peak * demand * weekly + rng.normal(0, 0.3, g.n)))
    return expected, price * instances * rng.lognormal(0, rng.uniform(0.02, 0.05), g.n), True


def campaign(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """Paced ad spend: a daily budget spread over 6-23 h (nights at 5 %), the day's
    total off by 10-25 % (lognormal, per day), 10 % per-hour noise, weekends 50-100 %."""
    level = float(np.clip(rng.lognormal(np.log(30), 1.2), 1, 10000))
    awake = (g.hour >= 6) & (g.hour < 23) if g.per_day > 1 else np.ones(g.n, bool)
    shape = np.where(awake, 1.0, 0.05)
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.5, 1.0))
    expected = level * shape * weekly
    day = rng.lognormal(0, rng.uniform(0.1, 0.25), int(g.day[-1]) + 1)[g.day]
    return expected, expected * day * rng.lognormal(0, 0.1, g.n), True


def tenants(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """A reseller's bill: the sum of 3-10 tenants, each with its own office-hours shape
    (start 6-10 h, end 16-21 h, nights 10-40 %), weekend factor 0.3-1.0 and a whole-day
    activity factor of its own (lognormal 10-30 % per tenant per day); gamma noise of
    5-15 % per tenant-hour."""
    total = np.zeros(g.n)
    expected = np.zeros(g.n)
    days = int(g.day[-1]) + 1
    for _ in range(int(rng.integers(3, 11))):
        level = float(rng.lognormal(np.log(10), 1.0))
        start, end = int(rng.integers(6, 11)), int(rng.integers(16, 22))
        awake = (g.hour >= start) & (g.hour < end) if g.per_day > 1 else np.ones(g.n, bool)
        shape = np.where(awake, 1.0, rng.uniform(0.1, 0.4))
        weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.3, 1.0))
        part = level * shape * weekly
        activity = rng.lognormal(0, rng.uniform(0.1, 0.3), days)[g.day]
        k = 1 / rng.uniform(0.05, 0.15) ** 2
        total += part * activity * rng.gamma(k, 1 / k, g.n)
        expected += part
    return expected, total, True


def cluster(rng: np.random.Generator, g: Grid) -> tuple[Array, Array, bool]:
    """A shared compute cluster: a flat reserved base (30-80 % of the peak) plus on-demand
    nodes whose whole-day utilisation follows a Beta(4, 4) draw per day (so a day runs
    anywhere from a quarter to three quarters of the on-demand capacity), a weekday
    shape peaking 10-16 h, weekends at 60-100 %, lognormal noise 3-12 % an hour."""
    peak = float(np.clip(rng.lognormal(np.log(60), 1.1), 2, 20000))
    base = peak * rng.uniform(0.3, 0.8)
    days = int(g.day[-1]) + 1
    use = rng.beta(4, 4, days)[g.day] / 0.5
    centre = rng.uniform(10, 16)
    hours = np.exp(-(((g.hour - centre) / 5) ** 2)) if g.per_day > 1 else 1.0
    weekly = np.where(g.weekday < 5, 1.0, rng.uniform(0.6, 1.0))
    demand = (peak - base) * hours * weekly
    expected = base + demand
    noisy = (base + demand * use) * rng.lognormal(0, rng.uniform(0.03, 0.12), g.n)
    return expected, noisy, True


FAMILIES = [
    Family("steady", "tune", steady.__doc__ or "", True, 9, 4, steady, 0.1, (0.02, 0.3)),
    Family("lognormal", "tune", lognormal.__doc__ or "", True, 9, 4, lognormal, 0.2, (0.02, 0.3)),
    Family("steady-daily", "tune", steady.__doc__ or "", False, 30, 9, steady, 0.1, (0.05, 0.4)),
    Family("office", "tune", office.__doc__ or "", True, 9, 4, office, 0.15, (0.05, 0.3), 2),
    Family("meter", "tune", meter.__doc__ or "", True, 9, 4, meter, 0.0, (0.0, 0.0)),
    Family("heavy", "tune", heavy.__doc__ or "", True, 9, 4, heavy, 0.25, (0.02, 0.3)),
    Family(
        "billing-daily", "tune", billing.__doc__ or "", False, 30, 9, billing, 0.15, (0.05, 0.4), 3
    ),
    Family("retail", "held-out", retail.__doc__ or "", True, 9, 4, retail, 0.2, (0.03, 0.3)),
    Family("batch", "held-out", batch.__doc__ or "", True, 10, 5, batch, 0.1, (0.02, 0.2)),
    # held out in run 2 (F1 0.944: one-window dips in quiet hours); `down_spikes` off since
    Family("mixed", "tune", mixed.__doc__ or "", True, 9, 4, mixed, 0.15, (0.02, 0.3), 2),
    Family("fleet", "held-out", fleet.__doc__ or "", True, 9, 4, fleet, 0.1, (0.02, 0.3)),
    # held out in run 3 (F1 0.866, 3.2 false alerts per 100 series-weeks: whole-day
    # swings); the day-level factor, 6-window average and 3-day hold were chosen on it
    Family("campaign", "tune", campaign.__doc__ or "", True, 9, 4, campaign, 0.1, (0.02, 0.3), 2),
    # written with the day-level factor of the cost detector (run 4), before any run; held
    # out in run 4a, where a 6-window average doubled their false alerts: it went back to 12
    Family("tenants", "tune", tenants.__doc__ or "", True, 9, 4, tenants, 0.1, (0.02, 0.3)),
    Family("cluster", "tune", cluster.__doc__ or "", True, 9, 4, cluster, 0.1, (0.02, 0.3), 1),
    Family(
        "weekly-daily",
        "tune",  # held out in the first run (level-shift recall 0.69); the daily rule changed since
        weekly_daily.__doc__ or "",
        False,
        30,
        9,
        weekly_daily,
        0.2,
        (0.05, 0.4),
        3,
    ),
    Family(
        "saas-daily",
        "held-out",
        saas_daily.__doc__ or "",
        False,
        26,
        9,
        saas_daily,
        0.1,
        (0.05, 0.4),
        2,
    ),
]


@dataclass(frozen=True)
class Event:
    series: str
    kind: str
    start: int  # window index
    end: int  # label window end (exclusive)


def generate(fam: Family, n: int, rng: np.random.Generator) -> tuple[Array, list[str], list[Event]]:
    """Spend matrix (series x windows), series kinds, injected events."""
    per_week = 7 * fam.per_day
    g = Grid(fam.per_day, fam.weeks * per_week)
    total = g.n
    first = fam.judge_from_week * per_week
    spike_len, ramp_len = ((1, 6), (24, 96)) if fam.hourly else ((1, 3), (4, 10))
    after = 24 * 15 if fam.hourly else 35
    holiday = np.zeros(total, bool)
    weekdays = [d for d in range(first // fam.per_day, total // fam.per_day) if d % 7 < 5]
    for d in rng.choice(weekdays, size=fam.holidays, replace=False) if fam.holidays else []:
        holiday[g.day == d] = True
    values = np.zeros((n, total))
    kinds: list[str] = []
    events: list[Event] = []
    for i in range(n):
        name = f"s{i:04d}"
        expected, row, may_be_sparse = fam.base(rng, g)
        if holiday.any():  # a holiday spends like the Sunday before it
            at = np.nonzero(holiday)[0]
            sunday = at - (g.weekday[at] + 1) * fam.per_day
            scale = expected[sunday] / expected[at]
            row[at] *= scale
            expected[at] = expected[sunday]
        kind = str(rng.choice(["clean", *KINDS], p=[0.4, 0.11, 0.11, 0.1, 0.09, 0.11, 0.08]))
        sparse = may_be_sparse and (
            kind == "zero_inflated_burst" or (kind == "clean" and rng.random() < fam.zero_share)
        )
        if kind == "zero_inflated_burst" and not may_be_sparse:
            kind = "spike"
        level = float(np.median(expected))
        if sparse:
            occupancy = rng.uniform(*fam.occupancy)
            blips = rng.lognormal(np.log(level), 0.5, total)
            row = np.where(rng.random(total) < occupancy, blips, 0.0)
        kinds.append("zero_inflated" if sparse and kind == "clean" else kind)
        start = int(rng.integers(first + per_week // 2, total - per_week))
        if kind == "spike":
            length = int(rng.integers(spike_len[0], spike_len[1] + 1))
            row[start : start + length] += expected[start : start + length] * rng.uniform(2, 7)
            events.append(Event(name, kind, start, start + length))
        elif kind == "zero_inflated_burst":
            length = int(rng.integers(spike_len[0], spike_len[1] + 1))
            row[start : start + length] = level * rng.uniform(10, 30, length)
            events.append(Event(name, kind, start, start + length))
        elif kind == "level_shift":
            row[start:] *= rng.uniform(1.5, 3.0)
            events.append(Event(name, kind, start, start + after))
        elif kind == "ramp":
            length = int(rng.integers(ramp_len[0], ramp_len[1] + 1))
            top = rng.uniform(2, 5)
            factor = np.ones(total)
            factor[start:] = top
            factor[start : start + length] = np.linspace(1, top, length)[: total - start]
            row *= factor
            events.append(Event(name, kind, start, start + length + after))
        elif kind == "new_spend":
            row[:start] = 0.0
            events.append(Event(name, kind, start, start + after))
        elif kind == "drop":
            row[start:] *= rng.uniform(0.0, 0.5)
            events.append(Event(name, kind, start, start + after))
        values[i] = np.round(row, 4)
    return values, kinds, events


def write_csv(path: Path, sc: Family, values: np.ndarray) -> None:
    starts = [T0 + sc.step * j for j in range(values.shape[1])]
    stamps = [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in starts]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["timestamp", "series", "amount"])
        for i, row in enumerate(values):
            name = f"s{i:04d}"
            out.writerows((stamps[j], name, f"{v:.4f}") for j, v in enumerate(row))


def write_config(tmp: Path, sc: Family, rules_dir: Path) -> Path:
    step = "1h" if sc.per_day == 24 else "1d"
    rules = (rules_dir / sc.rules).read_text(encoding="utf-8")
    (tmp / "rules").mkdir()
    (tmp / "rules" / sc.rules).write_text(rules, encoding="utf-8")
    cfg = tmp / "config.toml"
    cfg.write_text(
        f"""[alerter]
state = "state.db"
rules = ["rules/*.toml"]
settle = "0s"
alert_on_backfill = true

[sources.bench]
type = "csv"
path = "data.csv"
timestamp_column = "timestamp"
amount_column = "amount"
dimensions = ["series"]
step = "{step}"

[notifiers.out]
type = "file"
path = "alerts.jsonl"
""",
        encoding="utf-8",
    )
    return cfg


def backtest_alerts(
    sc: Family, values: np.ndarray, rules_dir: Path
) -> tuple[list[tuple[str, str, int]], float]:
    """(rule, series, window index) of every new incident, and the backtest seconds."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        write_csv(tmp / "data.csv", sc, values)
        config = load_config(write_config(tmp, sc, rules_dir))
        since = T0 + sc.step * (sc.judge_from_week * 7 * sc.per_day)
        until = T0 + sc.step * values.shape[1]
        began = time.perf_counter()
        result = run_backtest(config, since=since, until=until, clock_now=until)
        seconds = time.perf_counter() - began
    alerts = [
        (e.rule, key_get(e.group, "series"), int((e.window_start - T0) / sc.step))
        for e in result.events
        if e.event is Reason.FIRST
    ]
    return alerts, seconds


def score(
    fam: Family, kinds: list[str], events: list[Event], alerts: list[tuple[str, str, int]]
) -> list[dict[str, object]]:
    by_series: dict[str, list[int]] = defaultdict(list)
    for _rule, series, j in alerts:
        by_series[series].append(j)
    event_of = {e.series: e for e in events}
    detected: dict[str, list[int]] = defaultdict(list)  # kind -> delays
    counts: dict[str, int] = defaultdict(int)
    false: dict[str, int] = defaultdict(int)
    series_n: dict[str, int] = defaultdict(int)
    judged_weeks = fam.weeks - fam.judge_from_week
    for i, kind in enumerate(kinds):
        name = f"s{i:04d}"
        series_n[kind] += 1
        event = event_of.get(name)
        hits = sorted(by_series.get(name, []))
        if event is not None:
            counts[kind] += 1
            inside = [j for j in hits if event.start <= j < event.end]
            if inside:
                detected[kind].append(inside[0] - event.start)
            false[kind] += sum(1 for j in hits if not event.start <= j < event.end)
        else:
            false[kind] += len(hits)
    rows: list[dict[str, object]] = []
    for kind in ["clean", "zero_inflated", *KINDS, "overall"]:
        if kind == "overall":
            n_events, fa, n_series = sum(counts.values()), sum(false.values()), len(kinds)
            delays = [d for v in detected.values() for d in v]
        elif kind in series_n:
            n_events, fa, n_series = counts[kind], false[kind], series_n[kind]
            delays = detected[kind]
        else:
            continue
        hit = len(delays)
        precision = hit / (hit + fa) if hit + fa else float("nan")
        recall = hit / n_events if n_events else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if hit else float("nan")
        rows.append(
            {
                "kind": kind,
                "series": n_series,
                "events": n_events,
                "detected": hit,
                "false": fa,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "delay": statistics.median(delays) if delays else float("nan"),
                "fa_per_100sw": 100 * fa / (n_series * judged_weeks),
            }
        )
    return rows


def print_table(fam: Family, rows: list[dict[str, object]]) -> None:
    unit = "hours" if fam.hourly else "days"
    print(f"\n{fam.name} [{fam.role}] {fam.rules}: {' '.join(fam.about.split())}")
    print(f"(delay: median, in {unit}; FA/100sw: false alerts per 100 series-weeks)")
    head = f"{'kind':<21}{'series':>7}{'events':>7}{'hit':>5}{'false':>6}"
    print(head + f"{'prec':>7}{'recall':>7}{'F1':>7}{'delay':>7}{'FA/100sw':>10}")
    for r in rows:
        print(
            f"{r['kind']:<21}{r['series']:>7}{r['events']:>7}{r['detected']:>5}{r['false']:>6}"
            f"{r['precision']:>7.3f}{r['recall']:>7.3f}{r['f1']:>7.3f}{r['delay']:>7.1f}"
            f"{r['fa_per_100sw']:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--family", action="append", choices=[f.name for f in FAMILIES])
    parser.add_argument("--held-out", action="store_true", help="only the held-out families")
    parser.add_argument("--tune", action="store_true", help="only the tuning families")
    parser.add_argument("--rules-dir", type=Path, default=ROOT / "bench" / "rules")
    args = parser.parse_args()
    summary = []
    for fam in FAMILIES:
        if args.family and fam.name not in args.family:
            continue
        if (args.held_out and fam.role != "held-out") or (args.tune and fam.role != "tune"):
            continue
        rng = np.random.default_rng([args.seed, sum(map(ord, fam.name))])
        values, kinds, events = generate(fam, args.series, rng)
        alerts, seconds = backtest_alerts(fam, values, args.rules_dir)
        rows = score(fam, kinds, events, alerts)
        print_table(fam, rows)
        print(f"backtest: {values.size:,} points, {len(alerts)} alerts, {seconds:.1f} s")
        overall = rows[-1]
        recall = {r["kind"]: r["recall"] for r in rows}
        summary.append((fam, overall, recall))
    print(
        "\nsummary (F1, precision, recall, false alerts per 100 series-weeks, recall of drops"
        " and level shifts, median delay)"
    )
    for role in ("tune", "held-out"):
        rows = [o for fam, o, _rec in summary if fam.role == role]
        if not rows:
            continue
        hit = sum(int(o["detected"]) for o in rows)  # type: ignore[call-overload]
        false = sum(int(o["false"]) for o in rows)  # type: ignore[call-overload]
        events = sum(int(o["events"]) for o in rows)  # type: ignore[call-overload]
        weeks = sum(
            int(o["series"]) * (fam.weeks - fam.judge_from_week)  # type: ignore[call-overload]
            for fam, o, _rec in summary
            if fam.role == role
        )
        precision, recall = hit / max(hit + false, 1), hit / max(events, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        print(
            f"  pooled {role:<9} {len(rows)} families: F1 {f1:.3f}  P {precision:.3f}  "
            f"R {recall:.3f}  FA/100sw {100 * false / max(weeks, 1):.2f}"
        )
    for fam, o, rec in summary:
        print(
            f"  {fam.name:<14}{fam.role:<9} F1 {o['f1']:.3f}  P {o['precision']:.3f}  "
            f"R {o['recall']:.3f}  FA/100sw {o['fa_per_100sw']:.2f}  drop {rec.get('drop', float('nan')):.2f}"
            f"  shift {rec.get('level_shift', float('nan')):.2f}  delay {o['delay']:.1f}"
        )


if __name__ == "__main__":
    main()
