"""Held-out families of bench/independent.py: written from what billing exports look
like, without reading the detectors or their rules, and kept out of the default run so
that nobody tunes on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from bench.scenario_kit import (
    HOLIDAYS,
    TOLERANCE_HOURS,
    Calendar,
    Label,
    Shape,
    diurnal_curve,
    inject_anomaly,
    log_noise,
    typical_level,
    weekend_factor,
)

TIMEZONES = (-8, -7, -6, -5, -3, 0, 1, 2, 3, 5, 8, 9, 10)
"""Customers' UTC offsets in hours (Americas, Europe, India, East Asia, Australia)."""


def shape_saas(rng: np.random.Generator, cal: Calendar) -> Shape:
    """Usage cost of one SaaS customer: the level is log-uniform over 4 orders of magnitude
    (5 .. 50,000 per hour), the daily curve follows the customer's office hours in its own
    time zone (so its weekend is local too), small customers are noisier (log sigma 0.3 at
    5/h down to 0.05 at 50,000/h), accounts grow or shrink by up to +30 / -15 %, and 30 %
    the export misses 3 stretches of 1-6 hours for all customers (unknown, not zero)."""
    n = cal.windows
    hourly = float(np.exp(rng.uniform(np.log(5), np.log(50_000))))
    clock = (cal.weekday * 24 + cal.hour + int(rng.choice(TIMEZONES))) % 168
    local_hour, local_day = clock % 24, clock // 24
    peak, width = rng.uniform(10, 15), rng.uniform(2.5, 5)
    floor = rng.uniform(0.15, 0.8)  # API traffic runs all day; seats only in office hours
    curve = floor + (1 - floor) * np.exp(-0.5 * ((local_hour - peak) / width) ** 2)
    weekend = np.where(local_day >= 5, rng.uniform(0.3, 1.0), 1.0)
    trend = 1 + rng.uniform(-0.15, 0.3) * cal.frac
    normal = hourly * (1 if cal.hourly else 24) * curve * weekend * trend
    decades = np.log10(hourly / 5)
    sigma = float(np.clip((0.3 - 0.0625 * decades) * rng.uniform(0.8, 1.2), 0.05, 0.3))
    return Shape(normal, np.ones(n), log_noise(rng, n, sigma))


def shape_infra(rng: np.random.Generator, cal: Calendar) -> Shape:
    """One infrastructure SKU: a committed part (reserved capacity or a savings plan: flat,
    log sigma 0.2-1 %) plus an autoscaled part (whole instances following the day's load,
    weekend 0.6-1.0) whose size moves by -15 .. +20 % at 2-5 deploys (weekday afternoons,
    not labelled). 15 % of the SKUs are commitment only, with exactly constant cost."""
    n = cal.windows
    level = typical_level(rng, cal)
    pick = rng.random()
    if pick < 0.15:
        return Shape(np.full(n, level), np.ones(n), np.ones(n))
    committed_share = rng.uniform(0.3, 0.9) if pick < 0.6 else rng.uniform(0.0, 0.3)
    committed = level * committed_share
    load = diurnal_curve(rng, cal, 0.7) * weekend_factor(cal, rng.uniform(0.6, 1.0))
    deploys = np.flatnonzero((cal.weekday < 5) & (cal.hour == int(rng.integers(14, 22))))
    size = np.ones(n)
    for at in np.sort(rng.choice(deploys, int(rng.integers(2, 6)), replace=False)):
        size[at:] = rng.uniform(0.85, 1.2)  # against the first size: no compounding drift
    instances = int(rng.integers(4, 61))
    expected = level * (1 - committed_share) * load * size
    demand = instances * load * size * log_noise(rng, n, rng.uniform(0.03, 0.12))
    scaled = np.maximum(np.round(demand), 1) / instances * level * (1 - committed_share)
    held = committed * log_noise(rng, n, rng.uniform(0.002, 0.01))
    normal = committed + expected
    return Shape(normal, np.ones(n), (held + scaled) / normal)


@dataclass
class BatchShape(Shape):
    """A bursty series together with its job runs, so an anomaly can act on one run."""

    base: float = 0.0  # cost per window between runs
    runs: list[tuple[int, int, float]] = field(default_factory=list)  # start, end, cost
    scheduled: bool = False


def shape_batch(rng: np.random.Generator, cal: Calendar) -> BatchShape:
    """Batch and ML training: a low floor (notebooks, disks, idle endpoints: 2-10 % of a
    run's cost) and runs of heavy spend. 60 % of the series retrain on a schedule (every
    1, 2 or 3 days, start jitter +/-2 h, 2-8 h +/-1 h long, cost +/-20 %); the rest are
    ad hoc experiments at irregular times (gaps of 2-5 days on average, 2-12 h long, cost
    0.5-1.5x). Hourly only."""
    n = cal.windows
    burst = typical_level(rng, cal) * rng.uniform(2, 8)
    base = burst * rng.uniform(0.02, 0.1)
    normal = np.full(n, base)
    runs = []
    scheduled = bool(rng.random() < 0.6)
    if scheduled:
        period, length = int(rng.choice([24, 48, 72])), int(rng.integers(2, 9))
        for slot in range(int(rng.integers(0, period)), n, period):
            begin = max(0, slot + int(rng.integers(-2, 3)))
            end = min(n, begin + max(1, length + int(rng.integers(-1, 2))))
            runs.append((begin, end, burst * rng.uniform(0.8, 1.2)))
    else:
        mean_gap = rng.uniform(48, 120)
        begin = int(rng.integers(0, 72))
        while begin < n:
            end = min(n, begin + int(rng.integers(2, 13)))
            runs.append((begin, end, burst * rng.uniform(0.5, 1.5)))
            begin = end + 1 + int(rng.exponential(mean_gap))
    for begin, end, cost in runs:
        normal[begin:end] += cost
    noise = log_noise(rng, n, rng.uniform(0.05, 0.2))
    return BatchShape(normal, np.ones(n), noise, base=base, runs=runs, scheduled=scheduled)


def inject_batch(
    rng: np.random.Generator, shape: Shape, kind: str, name: str, cal: Calendar, warmup: int
) -> Label | None:
    """Batch anomalies that act on runs; level shifts down, ramps and new spend as in
    ``inject_anomaly``.

    - spike: one run costs 3-10x its usual (a cluster launched far too large);
    - level_up, a runaway job: a run that never stops; the label starts at the first hour
      longer than any earlier run of the series (before that it looks like a run);
    - drop, missing batch: 1-3 consecutive scheduled runs do not happen (the label spans
      them); an irregular series has no run that is due, so it gets no drop label.
    """
    if not isinstance(shape, BatchShape) or kind not in ("spike", "level_up", "drop"):
        return inject_anomaly(rng, shape, kind, name, cal, warmup)
    n = cal.windows
    late = n - 4 * cal.per_day
    eligible = [i for i, (begin, _, _) in enumerate(shape.runs) if warmup <= begin < late]
    if not eligible or (kind == "drop" and not shape.scheduled):
        return None
    pick = int(rng.choice(eligible))
    begin, end, cost = shape.runs[pick]
    if kind == "spike":
        shape.normal[begin:end] += (rng.uniform(3, 10) - 1) * cost
        return Label(name, kind, begin, end, TOLERANCE_HOURS[kind])
    if kind == "level_up":
        longest = max(e - b for b, e, _ in shape.runs[: pick + 1])
        shape.normal[end:] += cost
        return Label(name, kind, begin + longest, n, TOLERANCE_HOURS[kind])
    gone = shape.runs[pick : pick + int(rng.integers(1, 4))]
    for b, e, c in gone:
        shape.normal[b:e] -= c
    return Label(name, kind, begin, gone[-1][1], TOLERANCE_HOURS[kind])


def shape_storage(rng: np.random.Generator, cal: Calendar) -> Shape:
    """Object or block storage: cost follows stored bytes, which grow steadily (0.5-4 % a
    week, compounding, or linearly) with tiny noise (log sigma 0.2-2 %); 40 % of the series
    have a lifecycle rule that deletes 0.5-2 % once a day at a fixed hour (a small
    sawtooth); the export misses 2 stretches of 1-4 hours (unknown, not zero)."""
    n = cal.windows
    weeks = cal.windows * cal.step / timedelta(weeks=1)
    rate = rng.uniform(0.005, 0.04)
    compounding = rng.random() < 0.5
    growth = (1 + rate) ** (cal.frac * weeks) if compounding else 1 + rate * cal.frac * weeks
    normal = typical_level(rng, cal) * growth
    if cal.hourly and rng.random() < 0.4:
        cut, hour = rng.uniform(0.005, 0.02), int(rng.integers(24))
        normal = normal * (1 + cut * (((cal.hour - hour) % 24) / 23 - 0.5))
    noise = log_noise(rng, n, rng.uniform(0.002, 0.02))
    return Shape(normal, np.ones(n), noise)


SEASON_DAYS = [date(2025, 12, 24) + timedelta(days=i) for i in range(10)]
INVOICE_HOLIDAYS = [date(2025, 11, 27), date(2025, 11, 28), *HOLIDAYS]


def shape_invoices(rng: np.random.Generator, cal: Calendar) -> Shape:
    """Daily spend as an invoice shows it: usage with weekends and public holidays at
    0.3-1.0, a year-end slump (24 Dec - 2 Jan at 0.4-0.8), a trend of -10 .. +25 %, and
    invoice-day items that are not anomalies: 40 % of the series post a fee (support plan,
    marketplace subscription: 0.5-5 days of usage) on the 1st, 20 % on a contract day of
    their own (2nd-28th), 15 % receive a monthly credit on the 1st (that day at 0.3-0.7)."""
    n = cal.windows
    level = typical_level(rng, cal)
    off = weekend_factor(cal, rng.uniform(0.3, 1.0), cal.on_dates(INVOICE_HOLIDAYS))
    season = np.where(cal.on_dates(SEASON_DAYS), rng.uniform(0.4, 0.8), 1.0)
    usage = level * off * season * (1 + rng.uniform(-0.1, 0.25) * cal.frac)
    pick = rng.random()
    if pick < 0.6:
        day = 1 if pick < 0.4 else int(rng.integers(2, 29))
        fee = np.where(cal.day_of_month == day, rng.uniform(0.5, 5) * level, 0.0)
        usage = usage + fee
    elif pick < 0.75:
        usage = usage * np.where(cal.day_of_month == 1, rng.uniform(0.3, 0.7), 1.0)
    return Shape(usage, np.ones(n), log_noise(rng, n, rng.uniform(0.03, 0.15)))
