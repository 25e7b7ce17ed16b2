"""Fresh held-out families of bench/independent.py (``--fresh``): written from what cloud
cost exports look like, without reading the detectors, their rules or their scores, and
kept out of both the tuning and the held-out runs, so that nothing was ever chosen on them.

Each family keeps the behaviour of its kind of bill that is normal yet surprising: whole
node steps, tier prices that fall through the month and jump back on the 1st, spot
capacity reclaimed for a few hours, month-start reports. None of it is labelled."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from bench.heldout_shapes import TIMEZONES
from bench.scenario_kit import (
    HOLIDAYS,
    Calendar,
    Label,
    Shape,
    inject_anomaly,
    log_noise,
    t_noise,
    typical_level,
    weekend_factor,
)


def _bounded_walk(
    rng: np.random.Generator, n: int, sigma: float, phi: float, bound: float
) -> np.ndarray:
    """A mean-reverting log random walk (AR(1), ``sigma`` per step), squashed into
    ``exp(+-bound)`` by tanh so it never leaves a band of that width."""
    shocks = rng.normal(0, sigma, n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + shocks[i]
        out[i] = acc
    return np.exp(bound * np.tanh(out / bound))


def _local_clock(rng: np.random.Generator, cal: Calendar) -> tuple[np.ndarray, np.ndarray, int]:
    """Local hour, local weekday (0 = Monday) and the UTC offset in hours of a time zone
    drawn from TIMEZONES."""
    offset = int(rng.choice(TIMEZONES))
    clock = (cal.weekday * 24 + cal.hour + offset) % 168
    return clock % 24, clock // 24, offset


# ---------------------------------------------------------------------------------------
# k8s_namespaces


def shape_k8s(rng: np.random.Generator, cal: Calendar) -> Shape:
    """A namespace's allocated share of a shared Kubernetes cluster. The cluster runs whole
    nodes (4-40 at peak, never under 2) that the autoscaler adds as soon as the day's load
    asks and removes an hour after it stops asking; a node added or removed mid-hour bills
    part of that hour. 0-80 % of the nodes are spot, whose price walks 1-3 %/h inside
    +-20 %. Other tenants' batch work scales the cluster out by 20-60 % (at least one node)
    for 1-3 hours, 1-4 times a week. The namespace's share (of requests, idle included)
    drifts 1-4 % a day inside +-30 %."""
    n = cal.windows
    peak = int(rng.integers(4, 41))
    floor = max(2, round(peak * rng.uniform(0.2, 0.6)))
    local_hour, local_day, _ = _local_clock(rng, cal)
    centre, width = rng.uniform(11, 16), rng.uniform(3, 6)
    base = rng.uniform(0.3, 0.7)
    load = base + (1 - base) * np.exp(-0.5 * ((local_hour - centre) / width) ** 2)
    load = load * np.where(local_day >= 5, rng.uniform(0.5, 1.0), 1.0)
    demand = peak * load * log_noise(rng, n, rng.uniform(0.03, 0.08))
    desired = np.maximum(np.ceil(demand), floor)
    extra = np.zeros(n)  # scale-outs overlap, they do not stack
    for begin in rng.integers(0, n, int(rng.poisson(rng.uniform(1, 4) * n / 168))):
        end = begin + int(rng.integers(1, 4))
        more = max(1, round(float(desired[begin]) * rng.uniform(0.2, 0.6)))
        extra[begin:end] = np.maximum(extra[begin:end], more)
    desired = desired + extra
    nodes = desired.copy()
    nodes[1:] = np.maximum(desired[1:], desired[:-1])  # scale-down waits an hour
    moved = rng.uniform(0, 1, n)  # when in the hour the node count changed
    billed = nodes.copy()
    billed[1:] = nodes[1:] + (nodes[:-1] - nodes[1:]) * moved[1:]
    spot_share = rng.uniform(0, 0.8)
    spot = rng.uniform(0.3, 0.5) * _bounded_walk(
        rng, n, rng.uniform(0.01, 0.03), rng.uniform(0.9, 0.99), 0.2
    )
    node_price = (1 - spot_share) + spot_share * spot
    daily = _bounded_walk(rng, n // 24 + 2, rng.uniform(0.01, 0.04), 0.95, 0.3)
    share = np.interp(np.arange(n) / 24, np.arange(daily.size), daily)
    cost = billed * node_price * share
    # normal is the cost the nodes the load asked for would bill, without scale-outs
    expected = np.maximum(np.ceil(peak * load), floor) * node_price * share
    scale = typical_level(rng, cal) / float(np.median(expected))
    return Shape(expected * scale, np.ones(n), cost / expected)


# ---------------------------------------------------------------------------------------
# egress_cdn

GB_PER_TB = 1024
AWS_EGRESS = ((10, 0.09), (40, 0.085), (100, 0.07), (None, 0.05))
CLOUDFRONT = (
    (10, 0.085),
    (40, 0.080),
    (100, 0.060),
    (350, 0.040),
    (524, 0.030),
    (4096, 0.025),
    (None, 0.020),
)
"""Per-GB tiers as (width in TB, price): the first 10 TB of the month at 0.09, the next
40 TB at 0.085, ... (public list prices, internet egress and a CDN in North America)."""


def tier_cost(tiers: tuple[tuple[int | None, float], ...], volume: np.ndarray) -> np.ndarray:
    """What the first ``volume`` GB of a month cost under ``tiers`` (piecewise linear)."""
    bounds, costs = [0.0], [0.0]
    for width, price in tiers:
        gb = 1e12 if width is None else width * GB_PER_TB
        bounds.append(bounds[-1] + gb)
        costs.append(costs[-1] + gb * price)
    return np.asarray(np.interp(volume, bounds, costs), dtype=float)


@dataclass
class EgressShape(Shape):
    """Transfer cost with its traffic, so an anomaly changes the GB and the tiers price them."""

    gb: np.ndarray = field(default_factory=lambda: np.zeros(0))  # expected GB per hour
    gb_noise: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lead: float = 0.0  # GB already sent this month before the first window
    month: np.ndarray = field(default_factory=lambda: np.zeros(0))  # month key per window
    tiers: tuple[tuple[int | None, float], ...] = AWS_EGRESS


def bill_egress(shape: EgressShape) -> np.ndarray:
    """Cost per window: each window's GB priced at the tiers the month's running total
    has reached (UTC months; the total starts again at 00:00 on the 1st)."""
    sent = shape.gb * shape.gb_noise
    cost = np.zeros(len(shape.gb))
    first = True
    for key in np.unique(shape.month):
        idx = np.flatnonzero(shape.month == key)
        before = shape.lead if first else 0.0
        first = False
        total = before + np.cumsum(sent[idx])
        cost[idx] = np.diff(tier_cost(shape.tiers, np.concatenate([[before], total])))
    return cost


def shape_egress(rng: np.random.Generator, cal: Calendar) -> EgressShape:
    """Internet egress or CDN transfer of one distribution: 40-600 TB a month (above that
    a customer has private flat rates), priced by per-GB list tiers of the month's running
    total, so the same traffic costs less as the month goes on and jumps back up at 00:00
    on the 1st (1.06x at 40 TB, up to 1.8x for egress and 2.8x for the CDN at 600 TB; not
    an anomaly). Viewers in one
    region: an evening peak (local 19-22 h, the early morning at 15-50 % of it), weekends
    at 0.8-1.4, growth of -5 .. +20 %, heavy-tailed hourly bursts (Student-t in log,
    AR(1), below 1.9x). Hourly only."""
    month_start = cal.start.replace(day=1, hour=0)
    lead = int((cal.start - month_start) / cal.step)
    long = Calendar(month_start, cal.step, lead + cal.windows)
    local_hour, local_day, _ = _local_clock(rng, long)
    trough = rng.uniform(0.15, 0.5)
    peak, width = rng.uniform(19, 22), rng.uniform(3, 5)
    gap = (local_hour - peak + 12) % 24 - 12
    curve = trough + (1 - trough) * np.exp(-0.5 * (gap / width) ** 2)
    curve = curve * np.where(local_day >= 5, rng.uniform(0.8, 1.4), 1.0)
    frac = np.arange(long.windows) / max(long.windows - 1, 1)
    curve = curve * (1 + rng.uniform(-0.05, 0.2) * frac)
    monthly_gb = float(np.exp(rng.uniform(np.log(40), np.log(600)))) * GB_PER_TB
    gb = monthly_gb / (30 * 24) * curve / float(curve.mean())
    noise = t_noise(rng, long.windows, rng.uniform(2.5, 5), rng.uniform(0.06, 0.18), 0.5)
    tiers = CLOUDFRONT if rng.random() < 0.5 else AWS_EGRESS
    month = np.array([t.year * 12 + t.month for t in cal.times])
    n = cal.windows
    shape = EgressShape(
        np.zeros(n),
        np.ones(n),
        np.ones(n),
        gb=gb[lead:],
        gb_noise=noise[lead:],
        lead=float(np.sum(gb[:lead] * noise[:lead])),
        month=month,
        tiers=tiers,
    )
    shape.normal = bill_egress(shape)
    return shape


def inject_egress(
    rng: np.random.Generator, shape: Shape, kind: str, name: str, cal: Calendar, warmup: int
) -> Label | None:
    """Anomalies in traffic (a hot-linked file, a crawler, a lost origin, a new
    distribution), as ``inject_anomaly`` draws them, billed at the tiers they reach."""
    if not isinstance(shape, EgressShape):
        return inject_anomaly(rng, shape, kind, name, cal, warmup)
    traffic = Shape(shape.gb.copy(), np.ones(cal.windows), np.ones(cal.windows))
    label = inject_anomaly(rng, traffic, kind, name, cal, warmup)
    if label is not None:
        shape.gb = traffic.normal * traffic.mask
        if kind == "new_spend":
            shape.lead = 0.0
        shape.normal = bill_egress(shape)
    return label


# ---------------------------------------------------------------------------------------
# spot_gpu

GPU_ON_DEMAND = (1.006, 5.672, 12.24, 32.77, 55.04)
"""On-demand prices per instance-hour of GPU instance types (1 to 8 GPUs)."""


def shape_spot_gpu(rng: np.random.Generator, cal: Calendar) -> Shape:
    """A spot GPU fleet: 3-16 instances of one type (enough for 5/h) at 30-70 % of the
    on-demand price, the spot price walking 1-4 %/h inside +-25 %. 70 % train around the
    clock; 30 % serve inference and follow the day in whole instances. The fleet is resized
    by one instance or up to 30 % 2-4 times, unlabelled. Capacity reclaims, 0.5-2 a week,
    stop the whole fleet for 1-4 hours (zero cost; the hour of the reclaim and the hour of
    the return bill part of the hour), and 1-3 single-instance reclaims a week last 1-4
    hours."""
    n = cal.windows
    on_demand = float(rng.choice(GPU_ON_DEMAND))
    price = on_demand * rng.uniform(0.3, 0.7)
    size = max(int(rng.integers(3, 17)), int(np.ceil(5 / price)))
    fleet = np.full(n, float(size))
    for at in np.sort(rng.integers(0, n, int(rng.integers(2, 5)))):
        step = max(1, round(size * rng.uniform(0.1, 0.3)))
        fleet[at:] = max(2, size + int(rng.choice([-1, 1])) * step)
    if rng.random() < 0.3:
        local_hour, _, _ = _local_clock(rng, cal)
        low = rng.uniform(0.4, 0.8)
        day = low + (1 - low) * (0.5 + 0.5 * np.cos(2 * np.pi * (local_hour - 15) / 24))
        fleet = np.maximum(np.round(fleet * day), 2)
    walk = _bounded_walk(rng, n, rng.uniform(0.01, 0.04), rng.uniform(0.9, 0.99), 0.25)
    normal = fleet * price * walk
    mask = np.ones(n)
    noise = np.ones(n)
    for begin in rng.integers(1, n - 6, int(rng.poisson(rng.uniform(0.5, 2) * n / 168))):
        end = begin + int(rng.integers(1, 5))
        mask[begin:end] = 0.0
        noise[begin - 1] *= rng.uniform(0.05, 0.95)  # ran part of the hour it was reclaimed
        noise[end] *= rng.uniform(0.05, 0.95)  # came back part way through the hour
    for begin in rng.integers(0, n - 4, int(rng.poisson(rng.uniform(1, 3) * n / 168))):
        end = begin + int(rng.integers(1, 5))
        noise[begin:end] *= 1 - 1 / fleet[begin:end]
    return Shape(normal, mask, noise)


# ---------------------------------------------------------------------------------------
# db_serverless


def shape_db_serverless(rng: np.random.Generator, cal: Calendar) -> Shape:
    """A serverless query engine billed per query (bytes scanned). Interactive queries
    from analysts in one time zone (30-3,000 at the busiest hour, a floor of dashboards
    and automations at 10-30 % all day, weekends 15-50 % of the office part), each costing
    a lognormal amount (log sigma 0.8-1.5), plus 0.5-2 large ad hoc queries a weekday
    (0.3-1.0 of an hour's typical cost). A nightly ETL window of 1-4 hours from local
    00-04 h (1-4x the typical hour, growing with the data by 0-20 %, one night in five an
    hour longer), weekly reports on Monday morning (local 06-09 h, 1-3 hours at 1-3x) and
    monthly reports on the first weekday of the month (2-6 hours at 1-3x), both on top of
    that morning's queries."""
    n = cal.windows
    level = typical_level(rng, cal)
    local_hour, local_day, offset = _local_clock(rng, cal)
    workday = local_day < 5
    office = np.exp(-0.5 * ((local_hour - rng.uniform(11, 15)) / rng.uniform(2.5, 4)) ** 2)
    floor = rng.uniform(0.1, 0.3)
    curve = floor + (1 - floor) * office * np.where(workday, 1.0, rng.uniform(0.15, 0.5))
    busiest = float(np.exp(rng.uniform(np.log(30), np.log(3000))))
    per_query = level / busiest
    expected = level * curve
    counts = rng.poisson(busiest * curve)
    cv2 = float(np.exp(rng.uniform(0.8, 1.5) ** 2) - 1)
    paid = np.where(counts > 0, rng.gamma(np.maximum(counts, 1) / cv2, per_query * cv2), 0.0)
    big = rng.random(n) < rng.uniform(0.5, 2) / 10 * (workday & (office > 0.3))
    paid = paid + big * rng.uniform(0.3, 1.0, n) * level
    growth = 1 + rng.uniform(0, 0.2) * cal.frac
    etl_at, etl_len = int(rng.integers(0, 5)), int(rng.integers(1, 5))  # local night
    etl_rate = level * rng.uniform(1, 4) * growth
    scheduled = np.zeros(n)
    ran = np.zeros(n)
    for begin in np.flatnonzero(local_hour == etl_at):
        length = etl_len + int(rng.random() < 0.2)
        scheduled[begin : begin + etl_len] += etl_rate[begin : begin + etl_len]
        ran[begin : begin + length] += etl_rate[begin : begin + length] * rng.uniform(0.9, 1.1)
    weekly_len, weekly_rate = int(rng.integers(1, 4)), level * rng.uniform(1, 3)
    monthly_len, monthly_rate = int(rng.integers(2, 7)), level * rng.uniform(1, 3)
    at = int(rng.integers(6, 10))  # local hour the reports start
    for begin in np.flatnonzero(local_hour == at):
        if local_day[begin] == 0:
            scheduled[begin : begin + weekly_len] += weekly_rate
            ran[begin : begin + weekly_len] += weekly_rate * rng.uniform(0.8, 1.2)
        if _first_weekday(cal.times[begin] + timedelta(hours=int(offset))):
            scheduled[begin : begin + monthly_len] += monthly_rate
            ran[begin : begin + monthly_len] += monthly_rate * rng.uniform(0.8, 1.2)
    normal = expected + scheduled
    return Shape(normal, np.ones(n), (paid + ran) / normal)


def _first_weekday(t: datetime) -> bool:
    """Whether ``t`` falls on the first Monday-Friday of its month."""
    return t.weekday() < 5 and all((t - timedelta(days=d)).weekday() >= 5 for d in range(1, t.day))


# ---------------------------------------------------------------------------------------
# daily_marketplace


def _days_in_month(t: datetime) -> int:
    following = (t.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (following - timedelta(days=1)).day


def shape_marketplace(rng: np.random.Generator, cal: Calendar) -> Shape:
    """Daily spend of an account with amortised commitments and marketplace subscriptions:
    usage (weekends and public holidays at 0.4-1.0, a trend of -10 .. +25 %, log noise
    3-12 %), reservations and savings plans bought up front and amortised evenly per day
    (0-60 % of the spend), a monthly subscription amortised over the days of its month (a
    31-day month's days cost 10 % less than February's), in 40 % of the series a metered
    marketplace line on a fixed day (1st-5th) worth 1-6 days of usage, and in 10 % a
    yearly true-up on the contract's anniversary inside the span (2-6 days of usage)."""
    n = cal.windows
    level = typical_level(rng, cal)
    off = weekend_factor(cal, rng.uniform(0.4, 1.0), cal.on_dates(HOLIDAYS))
    expected = level * off * (1 + rng.uniform(-0.1, 0.25) * cal.frac)
    usage = expected * log_noise(rng, n, rng.uniform(0.03, 0.12))
    amortised = level * rng.uniform(0, 0.6) * np.ones(n)
    month_days = np.array([_days_in_month(t) for t in cal.times])
    subscription = level * rng.uniform(0, 0.3) * 30 / month_days
    lines = np.zeros(n)
    if rng.random() < 0.4:
        lines[cal.day_of_month == int(rng.integers(1, 6))] = rng.uniform(1, 6) * level
    if rng.random() < 0.1:
        lines[int(rng.integers(0, n))] += rng.uniform(2, 6) * level
    normal = amortised + subscription + expected
    return Shape(normal, np.ones(n), (amortised + subscription + usage + lines) / normal)
