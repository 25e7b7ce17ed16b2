"""The daily family of the audit group of bench/independent.py (``--audit``; see
bench/heldout_audit.py): one project's line of a daily cloud billing export by project,
written from billing alone, without reading the detectors, their rules or any score."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from bench.scenario_kit import Calendar, Shape, log_noise, typical_level

# ---------------------------------------------------------------------------------------
# daily_gcp_projects

SUD_N1 = (1.0, 0.8, 0.6, 0.4)
SUD_N2 = (1.0, 0.8678, 0.733, 0.6)
"""Sustained-use discounts: the price of each further quarter of the month an instance
runs, as a share of the list price (N1 machines save up to 30 % over a full month, N2 up
to 20 %; public documentation)."""
PROJECT_HOLIDAYS = [
    date(2026, 5, 25),
    date(2026, 7, 3),
    date(2026, 9, 7),
    date(2026, 11, 26),
    date(2026, 11, 27),
]
"""Public holidays of the family's span (the kit's list stops in July)."""
PROJECT_KINDS = ("production", "data", "sandbox")


def _month_days(t: datetime) -> int:
    following = t.replace(day=28) + (t.replace(day=28) - t.replace(day=27)) * 4
    return (following.replace(day=1) - t.replace(day=1)).days


def sud_factor(cal: Calendar, increments: tuple[float, ...]) -> np.ndarray:
    """Per daily window, the cost of an instance that runs the whole month, as a share of
    its list price that day: the month's hours are priced by quarter (``increments``),
    so the day's share is the mean price over the part of the month it covers; it falls
    through the month and is 1 again on the 1st."""
    out = np.empty(cal.windows)
    parts = len(increments)
    for i, t in enumerate(cal.times):
        days = _month_days(t)
        lo, hi = (t.day - 1) / days, t.day / days
        edges = np.linspace(0, 1, parts + 1)
        cover = np.clip(np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1]), 0, None)
        out[i] = float(np.dot(cover, increments)) / (hi - lo)
    return out


@dataclass
class ProjectShape(Shape):
    """One project's daily line with the parts a test checks."""

    kind: str = "production"
    sud: np.ndarray = field(default_factory=lambda: np.zeros(0))  # price share of SUD compute
    eligible: float = 0.0  # share of a typical day under sustained-use discounts
    credit: np.ndarray = field(default_factory=lambda: np.zeros(0))  # promotional credit
    cud_at: int = -1  # the day a commitment starts covering usage (-1: none in the span)


def shape_gcp_project(rng: np.random.Generator, cal: Calendar) -> ProjectShape:
    """One project's net daily cost (usage, discounts and credits) in a daily billing
    export by project. Production projects (55 %) run every day (weekends and holidays at
    0.75-1.0), data projects (25 %) run pipelines every day and analysts' queries on
    weekdays (weekends 0.5-0.9), sandboxes (20 %) stop on weekends and holidays (5-20 %
    left; half of them keep nothing, so those days are real zeros). Trend -10 .. +25 %,
    log noise 2-6 % (sandboxes 5-15 %). Instances that run all month (0-50 % of the
    compute, on N1 or N2) earn sustained-use discounts that grow by quarter of the month,
    so their cost falls through the month and is back at list price on the 1st (that
    part costs 1.67-2.5x on the 1st what it cost the day before; a production project's
    whole day stays below 1.8x the day before, even on a Monday the 1st). 40 % pay a
    committed-use discount on part of the compute: a flat daily fee at 37 % off, in 15 %
    bought during the span (the covered usage leaves the metered price: a step of at most
    -22 %). Data projects (10-40 %) and half the production projects (5-25 %) query a
    warehouse on demand per byte scanned, whose first TiB of the month is free: the
    month's first 0.05-1 day of queries costs nothing. Storage grows 0.2-1 % a week
    (5-20 %). 20 % receive a promotional credit of 10-20 % of their usage that expires on
    one day of the span (the net cost rises by at most 25 %). Daily only."""
    n = cal.windows
    kind = str(rng.choice(PROJECT_KINDS, p=[0.55, 0.25, 0.2]))
    level = typical_level(rng, cal)
    off = (cal.weekday >= 5) | cal.on_dates(PROJECT_HOLIDAYS)
    trend = 1 + rng.uniform(-0.1, 0.25) * cal.frac
    if kind == "sandbox":
        busy = np.where(off, 0.0 if rng.random() < 0.5 else rng.uniform(0.05, 0.2), 1.0)
        sigma = rng.uniform(0.05, 0.15)
    else:
        low = (0.75, 1.0) if kind == "production" else (0.5, 0.9)
        busy = np.where(off, rng.uniform(*low), 1.0)
        sigma = rng.uniform(0.02, 0.06)
    pipelines = kind == "data" or (kind == "production" and rng.random() < 0.5)
    query_share = 0.0
    if pipelines:
        query_share = rng.uniform(0.1, 0.4) if kind == "data" else rng.uniform(0.05, 0.25)
    storage_share = rng.uniform(0.05, 0.2) if kind != "sandbox" or busy.min() > 0 else 0.0
    compute_share = 1 - query_share - storage_share
    eligible = rng.uniform(0, 0.5) * compute_share if kind != "sandbox" else 0.0
    sud = sud_factor(cal, SUD_N1 if rng.random() < 0.5 else SUD_N2)
    compute = (compute_share - eligible) * busy * trend
    running = eligible * trend  # the instances that never stop
    cud_at = -1
    fee = np.zeros(n)
    covered = np.zeros(n)
    if kind != "sandbox" and rng.random() < 0.4:
        share = rng.uniform(0.2, 0.6) * (compute_share - eligible)
        cud_at = int(rng.integers(1, n)) if rng.random() < 0.15 / 0.4 else 0
        covered[cud_at:] = share * float(trend[cud_at])
        fee[cud_at:] = covered[cud_at:] * 0.63
    queries = np.zeros(n)
    if query_share:
        quiet = rng.uniform(0.4, 0.9) if kind == "data" else busy
        queries = query_share * np.where(off, quiet, 1.0) * trend
        free = rng.uniform(0.05, 1)
        firsts = np.flatnonzero(cal.day_of_month == 1)
        for begin in [0, *firsts.tolist()]:
            # the 1st before the span was days ago: only months starting inside are free
            if begin == 0 and cal.day_of_month[0] != 1:
                continue
            whole = int(free)
            queries[begin : begin + whole] = 0.0
            if begin + whole < n:
                queries[begin + whole] *= 1 - (free - whole)
    weeks = n / 7
    storage = storage_share * (1 + rng.uniform(0.002, 0.01)) ** (np.arange(n) / 7 - weeks / 2)
    usage = np.maximum(compute - covered, 0) + running * sud
    expected_usage = usage + queries + storage
    credit = np.zeros(n)
    if rng.random() < 0.2:
        credit[: int(rng.integers(n // 4, n))] = rng.uniform(0.1, 0.2)
    normal = (expected_usage * (1 - credit) + fee) * level
    noisy = (
        np.maximum(compute - covered, 0) * log_noise(rng, n, sigma)
        + running * sud * log_noise(rng, n, 0.01)
        + queries * log_noise(rng, n, sigma * 2)
        + storage
    )
    actual = (noisy * (1 - credit) + fee) * level
    mask = (normal > 0).astype(float)
    noise = np.where(normal > 0, actual / np.where(normal > 0, normal, 1.0), 1.0)
    return ProjectShape(
        normal,
        mask,
        noise,
        kind=kind,
        sud=sud,
        eligible=eligible,
        credit=credit,
        cud_at=cud_at,
    )
