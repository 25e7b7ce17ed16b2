"""The daily family of the blind group of bench/independent.py (``--blind``; see
bench/heldout_blind.py): one service line of a cloud account's daily billing export,
written from billing alone, without reading the detectors, their rules or any score."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from bench.heldout_fresh import _days_in_month
from bench.scenario_kit import (
    HOLIDAYS,
    Calendar,
    Shape,
    log_noise,
    typical_level,
    weekend_factor,
)

# ---------------------------------------------------------------------------------------
# daily_account_services

BUSINESS_SUPPORT = ((10_000, 0.10), (70_000, 0.07), (170_000, 0.05), (None, 0.03))
"""A business support plan's fee as tiers of the month's spend, (width, rate): 10 % of
the first 10,000, 7 % of the next 70,000, 5 % of the next 170,000, 3 % above; at least
100 a month (public list prices)."""


def support_fee(spend: float) -> float:
    """The support fee of a month whose spend was ``spend`` (BUSINESS_SUPPORT)."""
    fee, left = 0.0, spend
    for width, rate in BUSINESS_SUPPORT:
        part = left if width is None else min(left, width)
        fee += part * rate
        left -= part
    return max(100.0, fee)


SERVICE_KINDS = ("compute", "metered", "support", "tax", "commitment")


@dataclass
class ServiceShape(Shape):
    """One service line of an account's daily bill, with its kind."""

    kind: str = "metered"


def shape_account_services(rng: np.random.Generator, cal: Calendar) -> ServiceShape:
    """One service line of a cloud account's daily billing export (net amortised cost).
    The account spends 5,000-400,000 a month (weekends and public holidays at 0.5-0.9, a
    trend of -10 .. +25 %, log noise of 3 %). Lines: compute under a savings plan (30 %):
    the commitment, amortised per day, covers usage worth 50-110 % of a weekday's at a
    20-50 % discount, so the line is flat at the commitment on quiet days and adds the
    usage above it at on-demand prices (usage log noise 2-8 %); 30 % buy another 10-20 %
    of commitment once. Metered services (25 %: storage, requests, transfer; weekends at
    0.8-1.0, log noise 3-10 %), 40 % of them with a monthly charge on the 1st (1-5 days
    of usage). Support (15 %): the business plan's tiered percentage of the previous
    month's account spend, posted on the 1st, nothing on other days. Tax (12 %): 5-25 %
    of the account's spend, posted on the 1st for the previous month, or in 40 % of the
    lines daily with the spend. Commitments (18 %): reservations amortised per day, exactly
    flat (renewed once at +-8-20 % in 30 %), or in 40 % the monthly fee
    of a no-upfront reservation posted on the 1st (its hourly fee times the hours of the
    month: February's is 10 % below March's). A third of the compute and metered lines get
    a refund once (that day at 40-80 %). Daily only."""
    n = cal.windows
    first_of_month = cal.start.replace(day=1)
    previous_month = (first_of_month - timedelta(days=1)).replace(day=1)
    lead = (cal.start - previous_month).days
    long = Calendar(previous_month, cal.step, lead + n)
    account_month = float(np.exp(rng.uniform(np.log(5_000), np.log(400_000))))
    off = weekend_factor(long, rng.uniform(0.5, 0.9), long.on_dates(HOLIDAYS))
    expected = account_month / 30 * off * (1 + rng.uniform(-0.1, 0.25) * long.frac)
    account = expected * log_noise(rng, lead + n, 0.03)
    months = np.array([t.year * 12 + t.month for t in long.times])
    firsts = np.flatnonzero(cal.day_of_month == 1)
    kind = str(rng.choice(SERVICE_KINDS, p=[0.3, 0.25, 0.15, 0.12, 0.18]))
    level = typical_level(rng, cal)
    ones = np.ones(n)
    if kind in ("support", "tax"):
        rate = rng.uniform(0.05, 0.25)
        if kind == "tax" and rng.random() < 0.4:
            spend = expected[lead:]
            return ServiceShape(rate * spend, ones, account[lead:] / spend, kind=kind)
        normal = np.zeros(n)
        for day in firsts:
            spent = float(account[months == months[lead + day] - 1].sum())
            normal[day] = support_fee(spent) if kind == "support" else rate * spent
        return ServiceShape(normal, ones, ones.copy(), kind=kind)
    if kind == "commitment":
        if rng.random() < 0.4:
            normal = np.zeros(n)
            hourly = level / 24
            for day in firsts:
                normal[day] = hourly * 24 * _days_in_month(cal.times[day])
            return ServiceShape(normal, ones, ones.copy(), kind=kind)
        normal = np.full(n, level)
        if rng.random() < 0.3:
            normal[int(rng.integers(0, n)) :] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.08, 0.2)
        return ServiceShape(normal, ones, ones.copy(), kind=kind)
    trend = 1 + rng.uniform(-0.1, 0.25) * cal.frac
    if kind == "compute":
        usage = level * weekend_factor(cal, rng.uniform(0.5, 0.9), cal.on_dates(HOLIDAYS)) * trend
        discount = rng.uniform(0.2, 0.5)
        weekday = float(np.median(usage[cal.weekday < 5]))
        covered = np.full(n, rng.uniform(0.5, 1.1) * weekday)
        if rng.random() < 0.3:
            covered[int(rng.integers(0, n)) :] *= 1 + rng.uniform(0.1, 0.2)
        commitment = covered * (1 - discount)

        def net(spent: np.ndarray) -> np.ndarray:
            return np.asarray(commitment + np.maximum(spent - covered, 0.0), dtype=float)

        normal = net(usage)
        actual = net(usage * log_noise(rng, n, rng.uniform(0.02, 0.08)))
    else:
        usage = level * weekend_factor(cal, rng.uniform(0.8, 1.0), cal.on_dates(HOLIDAYS)) * trend
        normal = usage.copy()
        if rng.random() < 0.4:
            normal[firsts] += rng.uniform(1, 5) * level
        actual = normal - usage + usage * log_noise(rng, n, rng.uniform(0.03, 0.1))
    if rng.random() < 1 / 3:
        actual[int(rng.integers(0, n))] *= rng.uniform(0.4, 0.8)
    return ServiceShape(normal, ones, actual / normal, kind=kind)
