"""Sealed held-out families of bench/independent.py (``--sealed``): written from what cloud
bills look like, without reading the detectors, their rules or any score of theirs, kept
out of the tuning, held-out and fresh runs, and run once, for the final report.

Each family keeps the behaviour of its kind of bill that is normal yet surprising: rate
limits that flatten the busiest hours, a warehouse that bills whole minutes only while it
is awake, log floods during incidents, cold starts that make quiet hours dearer per call,
month-end accruals and credits on random days. None of it is labelled.

Where a series' cost is random around what a good model would expect (a query that
arrives or not, a flood, a credit), ``normal`` is the expectation and ``noise`` the ratio
of the cost to it, so an anomaly scales the cost as it happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from bench.heldout_fresh import _bounded_walk, _local_clock
from bench.heldout_shapes import TIMEZONES
from bench.scenario_kit import (
    HOLIDAYS,
    Calendar,
    Label,
    Shape,
    inject_anomaly,
    log_noise,
    typical_level,
    weekend_factor,
)


def inject_sealed(
    rng: np.random.Generator, shape: Shape, kind: str, name: str, cal: Calendar, warmup: int
) -> Label | None:
    """``inject_anomaly``, but a spike costs exactly its labelled 3-10x of the typical
    window: in these families the ratio of a quiet window's cost to its expectation can
    be large (one query in an hour that expected a tenth of one), and a spike multiplied
    by it would leave the benchmark's range of sizes."""
    label = inject_anomaly(rng, shape, kind, name, cal, warmup)
    if label is not None and kind == "spike":
        shape.noise[label.start : label.end] = 1.0
    return label


def _scaled(rng: np.random.Generator, cal: Calendar, expected: np.ndarray) -> float:
    """The factor that brings the median of the positive ``expected`` to a typical level."""
    return typical_level(rng, cal) / float(np.median(expected[expected > 0]))


# ---------------------------------------------------------------------------------------
# llm_api


@dataclass
class LlmShape(Shape):
    """Token spend with the parts a test checks: the rate limit and the batch jobs."""

    cap: np.ndarray = field(default_factory=lambda: np.zeros(0))  # interactive ceiling; inf
    batch: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Batch API cost


def shape_llm_api(rng: np.random.Generator, cal: Calendar) -> LlmShape:
    """An application's spend on a hosted LLM API, billed per token. Its users sit in 1-3
    time zones: 60 % of the apps are business tools (local office hours, weekends at
    0.15-0.5), the rest consumer apps (a local evening peak, weekends at 1.0-1.3); agents,
    integrations and evaluations keep a floor of 5-25 % all day; usage grows 0-20 %, and
    40 % of the apps launch a feature that adds 10-30 % over 6-24 hours. The busiest hour
    sends 300-30,000 requests whose token counts are heavy tailed (lognormal, log sigma
    0.8-1.5), so quiet hours are far noisier than busy ones. 40 % hit the organisation's
    tokens-per-minute limit at 80-100 % of their 98th-percentile expected hour (flat tops
    on busy days), and half of those move up a usage tier once in the span's second half,
    doubling it. 30 % switch on prompt caching
    once (cost 10-25 % lower from then on). Batch API jobs, 0.5-2 a week at any hour,
    add 0.3-0.8 of a typical hour for 1-3 hours at half price."""
    n = cal.windows
    business = bool(rng.random() < 0.6)
    zones = rng.choice(np.array(TIMEZONES), size=int(rng.integers(1, 4)), replace=False)
    demand = np.zeros(n)
    for offset, weight in zip(zones, rng.dirichlet(np.ones(zones.size)), strict=True):
        clock = (cal.weekday * 24 + cal.hour + int(offset)) % 168
        hour, day = clock % 24, clock // 24
        if business:
            peak, width, weekend = rng.uniform(10, 15), rng.uniform(2.5, 4), rng.uniform(0.15, 0.5)
        else:
            peak, width, weekend = rng.uniform(19, 22), rng.uniform(3, 5), rng.uniform(1.0, 1.3)
        gap = (hour - peak + 12) % 24 - 12
        demand += weight * np.exp(-0.5 * (gap / width) ** 2) * np.where(day >= 5, weekend, 1.0)
    floor = rng.uniform(0.05, 0.25)
    demand = floor + (1 - floor) * demand / demand.max()
    demand = demand * (1 + rng.uniform(0, 0.2) * cal.frac)
    if rng.random() < 0.4:  # a feature launch in the customer's app, not an anomaly
        at, width = rng.uniform(0.1, 0.9) * n, rng.uniform(6, 24)
        lift = rng.uniform(0.1, 0.3) * (0.5 + 0.5 * np.tanh((np.arange(n) - at) * 4 / width))
        demand = demand * (1 + lift)
    busiest = float(np.exp(rng.uniform(np.log(300), np.log(30_000))))
    counts = rng.poisson(busiest * demand)
    cv2 = float(np.exp(rng.uniform(0.8, 1.5) ** 2) - 1)  # of one request's tokens
    tokens = np.where(counts > 0, rng.gamma(np.maximum(counts, 1) / cv2, cv2 / busiest), 0.0)
    cap = np.full(n, np.inf)
    if rng.random() < 0.4:
        cap[:] = rng.uniform(0.8, 1.0) * float(np.percentile(demand, 98))
        if rng.random() < 0.5:
            cap[int(rng.integers(n // 2, n)) :] *= 2
    price = np.ones(n)
    if rng.random() < 0.3:  # cached input tokens bill at a tenth to a half
        price[int(rng.integers(0, n)) :] = 1 - rng.uniform(0.1, 0.25)
    expected = np.minimum(demand, cap) * price
    typical = float(np.median(expected))
    batch = np.zeros(n)
    for begin in rng.integers(0, n - 3, int(rng.poisson(rng.uniform(0.5, 2) * n / 168))):
        batch[begin : begin + int(rng.integers(1, 4))] += rng.uniform(0.3, 0.8) * typical
    actual = np.minimum(tokens, cap) * price + batch
    scale = _scaled(rng, cal, expected)
    return LlmShape(
        expected * scale,
        np.ones(n),
        actual / expected,
        cap=cap * price * scale,
        batch=batch * scale,
    )


# ---------------------------------------------------------------------------------------
# warehouse_credits


@dataclass
class WarehouseShape(Shape):
    """Warehouse credits with the unit a test checks: a running minute at the base size."""

    minute: float = 0.0  # cost of one running minute at the warehouse's own size
    floor: float = 0.0  # serverless background credits per window


def shape_warehouse(rng: np.random.Generator, cal: Calendar) -> WarehouseShape:
    """A cloud data warehouse billed in credits per second while it runs, at least 60
    seconds each time it resumes (counted here in whole minutes), a fixed credit rate for
    its size. Analysts in one time zone send 5-600 queries at the busiest hour (office
    hours; weekends, and in half the series public holidays, at 2-20 %; 0-5 % through the
    night); each keeps the warehouse awake for its run (1-5 min) and the auto-suspend
    delay (1, 5 or 10 min), so quiet hours bill a few minutes or nothing. 80 % refresh
    dashboards every 1, 2, 4, 6 or 12 hours (2-15 min each, day and night). 60 % load
    data nightly (local 01-05 h, 30-180 min, each night +-10 %) on a warehouse resized to
    2x or 4x the credit rate for the load. 30 % are multi-cluster: a second cluster bills
    while the queries of a minute exceed 1.5x the busiest expected rate. Half the series
    also pay a constant background of serverless credits (1-5 % of a typical hour)."""
    n = cal.windows
    m = n * 60
    local_hour, local_day, _ = _local_clock(rng, cal)
    office = np.exp(-0.5 * ((local_hour - rng.uniform(10, 15)) / rng.uniform(2, 4)) ** 2)
    off = local_day >= 5
    if rng.random() < 0.5:
        off = off | cal.on_dates(HOLIDAYS)
    busy = np.where(off, rng.uniform(0.02, 0.2), 1.0) * office + rng.uniform(0, 0.05)
    per_hour = float(np.exp(rng.uniform(np.log(5), np.log(600))))
    lam = np.repeat(per_hour * busy, 60) / 60  # queries per minute
    suspend = int(rng.choice([1, 5, 10]))
    hold = np.ones(int(rng.integers(1, 6)) + suspend)
    arrivals = rng.poisson(lam)
    awake = np.convolve(arrivals > 0, hold)[:m] > 0
    refresh = np.zeros(m, dtype=bool)
    every = int(rng.choice([1, 2, 4, 6, 12]))
    if rng.random() < 0.8:
        length = int(rng.integers(2, 16)) + suspend
        for begin in range(int(rng.integers(0, 60 * every)), m, 60 * every):
            refresh[begin : begin + length] = True
    second = np.zeros(m)
    if rng.random() < 0.3:
        busiest = int(np.ceil(1.5 * float(lam.max()))) + 1
        second = (np.convolve(arrivals >= busiest, hold)[:m] > 0).astype(float)
    loading = np.zeros(m, dtype=bool)
    planned = np.zeros(m, dtype=bool)
    size_up = 1.0
    if rng.random() < 0.6:
        size_up = float(rng.choice([2, 4]))
        at, length = int(rng.integers(1, 6)), int(rng.integers(30, 181))
        minute0 = int(rng.integers(0, 60))
        for hour in np.flatnonzero(local_hour == at):
            begin = int(hour) * 60 + minute0
            planned[begin : begin + length] = True
            ran = max(10, round(length * rng.uniform(0.9, 1.1)))
            loading[begin : begin + ran + suspend] = True
    actual = np.where(loading, size_up, (awake | refresh) + second)
    expected = np.where(planned, size_up, 1 - (1 - refresh) * np.exp(-np.convolve(lam, hold)[:m]))
    actual_h = actual.reshape(n, 60).sum(axis=1)
    expected_h = expected.reshape(n, 60).sum(axis=1)
    scale = _scaled(rng, cal, expected_h)
    typical = scale * float(np.median(expected_h[expected_h > 0]))
    floor = typical * rng.uniform(0.01, 0.05) if rng.random() < 0.5 else 0.0
    normal = expected_h * scale + floor
    cost = actual_h * scale + floor
    mask = (cost > 0).astype(float)
    noise = np.where((mask > 0) & (normal > 0), cost / np.where(normal > 0, normal, 1), 1.0)
    return WarehouseShape(normal, mask, noise, minute=scale, floor=floor)


# ---------------------------------------------------------------------------------------
# log_ingest


def _trailing_sum(values: np.ndarray, width: int) -> np.ndarray:
    """The sum of the last ``width`` values up to and including each one (fewer at the start)."""
    total = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, values.size + 1)
    return np.asarray(total[ends] - total[np.maximum(ends - width, 0)], dtype=float)


def shape_log_ingest(rng: np.random.Generator, cal: Calendar) -> Shape:
    """One service's logs in an observability product: GB ingested at a per-GB price, plus
    retention billed on the GB kept (the last 7, 15 or 30 days' ingestion; 10-40 % of the
    bill), which follows a change of volume over weeks. Volume: a base of infrastructure
    logs, health checks and audit trails (30-70 %) plus request logs that follow local
    traffic (peak 12-16 h, weekends 0.4-0.9), growth of 0-20 %, hour-to-hour persistence
    (AR(1), 2-6 %/h inside +-15 %). Deploys, 1-3 a week in working hours, change the
    verbosity by -12 .. +12 % each (kept inside 0.75-1.35 of the start); 30 % add an
    exclusion filter once (-15 .. -30 % of ingestion). Incidents flood the logs 2-5 times
    in four weeks, 1-3 hours at 1.4-1.9x the ingestion, and a third of the floods are
    followed the next working day by a rehydration of archived logs (0.3-0.9 of a typical
    hour in one hour). Floods and rehydrations stay below a doubling of the hour's
    expected cost. Hourly only."""
    n = cal.windows
    lead = 30 * 24  # the retention of the first window holds 30 days before the span
    total = lead + n
    long = Calendar(cal.start - timedelta(days=30), cal.step, total)
    local_hour, local_day, _ = _local_clock(rng, long)
    gap = (local_hour - rng.uniform(12, 16) + 12) % 24 - 12
    traffic = np.exp(-0.5 * (gap / rng.uniform(3, 6)) ** 2)
    traffic = traffic * np.where(local_day >= 5, rng.uniform(0.4, 0.9), 1.0)
    base = rng.uniform(0.3, 0.7)
    volume = (base + (1 - base) * traffic) * (1 + rng.uniform(0, 0.2) * long.frac)
    working = np.flatnonzero((local_day < 5) & (local_hour >= 10) & (local_hour < 17))
    deploys = rng.choice(working, int(rng.poisson(rng.uniform(1, 3) * total / 168)), replace=False)
    steps = np.ones(total)
    steps[deploys] = rng.uniform(0.88, 1.12, deploys.size)
    verbosity = np.clip(np.cumprod(steps), 0.75, 1.35)
    if rng.random() < 0.3:
        verbosity[int(rng.integers(lead, total)) :] *= 1 - rng.uniform(0.15, 0.3)
    expected_gb = volume * verbosity
    flood = np.ones(total)
    floods = rng.integers(0, total - 3, int(rng.poisson(rng.uniform(2, 5) * total / 672)))
    for begin in floods:
        end = begin + int(rng.integers(1, 4))
        flood[begin:end] = np.maximum(flood[begin:end], rng.uniform(1.4, 1.9))
    walk = _bounded_walk(rng, total, rng.uniform(0.02, 0.06), 0.7, 0.15)
    sent = expected_gb * flood * walk
    days = int(rng.choice([7, 15, 30]))
    kept_expected = _trailing_sum(expected_gb, days * 24)
    share = rng.uniform(0.1, 0.4)
    per_gb_kept = share / (1 - share) * float(np.median(expected_gb) / np.median(kept_expected))
    expected = expected_gb + per_gb_kept * kept_expected
    actual = sent + per_gb_kept * _trailing_sum(sent, days * 24)
    typical = float(np.median(expected[lead:]))
    for begin in floods[rng.random(floods.size) < 1 / 3]:
        later = working[working >= begin + 24]
        if later.size:
            actual[later[0]] += rng.uniform(0.3, 0.9) * typical
    noise = np.minimum(actual / expected, 1.95)[lead:]
    scale = _scaled(rng, cal, expected[lead:])
    return Shape(expected[lead:] * scale, np.ones(n), noise)


# ---------------------------------------------------------------------------------------
# serverless_fn


def cold_start_cost(calls: np.ndarray, cold_at_peak: float, init: float) -> np.ndarray:
    """The cost of each window's ``calls`` in warm calls: a cold start also bills its init
    duration, ``init`` warm calls' worth, and cold starts make up a larger share of the
    calls when traffic is low (instances are reclaimed in quiet spells): ``cold_at_peak``
    at the busiest window, growing as one over the square root of the traffic, at most
    half the calls."""
    cold = np.minimum(cold_at_peak / np.sqrt(calls / calls.max()), 0.5)
    return np.asarray(calls * (1 + cold * init), dtype=float)


def nightly_fanout(calls: np.ndarray, local_hour: np.ndarray, at: int, hours: int) -> np.ndarray:
    """A job that starts every night at local hour ``at`` and processes the records of the
    24 windows before it (the first 24 windows for a night without a full day before it):
    per window, ``hours`` windows long, the sum of those calls divided by ``hours``."""
    out = np.zeros(calls.size)
    for begin in np.flatnonzero(local_hour == at):
        day = calls[begin - 24 : begin] if begin >= 24 else calls[:24]
        out[begin : begin + hours] += float(day.sum()) / hours
    return out


def shape_serverless(rng: np.random.Generator, cal: Calendar) -> Shape:
    """An account's serverless functions, billed per call and per GB-second. 75 % sit
    behind an API: 0.2-50 million calls at the busiest hour (an office-hours product, or
    a consumer one with an evening peak and busier weekends; a floor of 5-30 %; growth of
    0-20 %), so the bill is smooth (AR(1), 1-3 %/h inside +-10 %), yet cold starts make a
    quiet hour's calls dearer (0.2-2 % of the busiest hour's calls start cold, each
    billing 2-10 calls' worth of init). A slow downstream makes calls run to their
    timeouts 1-3 times in four weeks (1-4 hours at 1.3-1.8x); 25 % move to arm64 once
    (18 % cheaper from then on); 30 % keep provisioned concurrency, scheduled up on
    weekdays from local 07 to 20 h (10-40 % of a typical hour, 2-10 % otherwise); 40 %
    fan out a nightly job (local 01-04 h, 1-2 hours at 1-3x a typical hour) over the
    previous day's records, so it follows the day before (small after a quiet Sunday);
    half run a cron every 15 minutes (3-15 % of a typical hour). The other 25 % are cron
    only: every 15 minutes or every hour (each run +-10-30 %), half of them on weekday
    working hours alone (local 08-18 h, nothing otherwise), the rest around the clock,
    half of those with a nightly batch of 1-3 hours at 2-5x."""
    n = cal.windows
    local_hour, local_day, _ = _local_clock(rng, cal)
    mask = np.ones(n)
    if rng.random() < 0.75:
        consumer = rng.random() < 0.4
        peak = rng.uniform(19, 22) if consumer else rng.uniform(10, 15)
        weekend = rng.uniform(1.0, 1.3) if consumer else rng.uniform(0.3, 0.8)
        gap = (local_hour - peak + 12) % 24 - 12
        floor = rng.uniform(0.05, 0.3)
        calls = floor + (1 - floor) * np.exp(-0.5 * (gap / rng.uniform(3, 5)) ** 2)
        calls = (
            calls * np.where(local_day >= 5, weekend, 1.0) * (1 + rng.uniform(0, 0.2) * cal.frac)
        )
        walk = _bounded_walk(rng, n, rng.uniform(0.01, 0.03), 0.7, 0.1)
        expected = cold_start_cost(calls, rng.uniform(0.002, 0.02), rng.uniform(2, 10))
        typical = float(np.median(expected))
        slow = np.ones(n)
        for begin in rng.integers(0, n - 4, int(rng.poisson(rng.uniform(1, 3) * n / 672))):
            end = begin + int(rng.integers(1, 5))
            slow[begin:end] = np.maximum(slow[begin:end], rng.uniform(1.3, 1.8))
        actual = expected * walk * slow
        if rng.random() < 0.25:
            cheaper = int(rng.integers(0, n))
            expected[cheaper:] *= 0.82
            actual[cheaper:] *= 0.82
        if rng.random() < 0.3:
            on = (local_day < 5) & (local_hour >= 7) & (local_hour < 20)
            provisioned = typical * np.where(on, rng.uniform(0.1, 0.4), rng.uniform(0.02, 0.1))
            expected = expected + provisioned
            actual = actual + provisioned
        if rng.random() < 0.4:
            at, hours = int(rng.integers(1, 5)), int(rng.integers(1, 3))
            per_call = rng.uniform(1, 3) * hours * typical / (24 * float(np.mean(calls)))
            expected = expected + per_call * nightly_fanout(calls, local_hour, at, hours)
            actual = actual + per_call * nightly_fanout(calls * walk, local_hour, at, hours)
        if rng.random() < 0.5:
            cron = typical * rng.uniform(0.03, 0.15)
            sigma = rng.uniform(0.1, 0.3)
            expected = expected + cron
            actual = actual + cron * rng.lognormal(-sigma * sigma / 2, sigma, (n, 4)).mean(axis=1)
    else:
        runs = 4 if rng.random() < 0.6 else 1
        sigma = rng.uniform(0.1, 0.3)
        expected = np.ones(n)
        actual = rng.lognormal(-sigma * sigma / 2, sigma, (n, runs)).mean(axis=1)
        if rng.random() < 0.5:
            mask = ((local_day < 5) & (local_hour >= 8) & (local_hour < 18)).astype(float)
        elif rng.random() < 0.5:
            at, length = int(rng.integers(0, 5)), int(rng.integers(1, 4))
            batch = np.where((local_hour - at) % 24 < length, rng.uniform(2, 5), 0.0)
            expected = expected + batch
            actual = actual + batch * rng.uniform(0.9, 1.1, n)
    scale = _scaled(rng, cal, expected * mask)
    return Shape(expected * scale, mask, actual / expected)


# ---------------------------------------------------------------------------------------
# daily_bu_rollup


def month_ends(cal: Calendar) -> np.ndarray:
    """Whether each window falls on the last day of its month."""
    return np.array([(t + timedelta(days=1)).day == 1 for t in cal.times])


def shape_bu_rollup(rng: np.random.Generator, cal: Calendar) -> Shape:
    """One business unit's daily line in a reseller's multi-cloud invoice. Production runs
    every day (40-90 % of the usage); development and test environments are stopped by
    schedule on weekends and public holidays (down to 10-30 %); a trend of -10 .. +25 %,
    log noise of 2-8 %. Reserved instances and savings plans are amortised evenly per
    day (0-50 % of a typical day). 0-50 % of the usage is billed in another currency
    and converted at a daily rate that walks 0.3-0.6 % a day inside +-6 %. Finance
    posts a month-end accrual on the last day of each month (1-4 typical days) and on the
    1st the invoice replaces it: the 1st moves by -10 .. +15 % of the accrual. 20 % of
    the units let a reservation lapse once (+8 .. +25 % of a typical day from then on;
    renewed after 5-20 days in half of them); 50 % receive credits (support, migration
    or SLA credits, 0.5-2 a month) on random days, which take that day to 35-80 %.
    Daily only."""
    n = cal.windows
    level = typical_level(rng, cal)
    prod = rng.uniform(0.4, 0.9)
    stopped = weekend_factor(cal, rng.uniform(0.1, 0.3), cal.on_dates(HOLIDAYS))
    usage = level * (prod + (1 - prod) * stopped) * (1 + rng.uniform(-0.1, 0.25) * cal.frac)
    amortised = level * rng.uniform(0, 0.5)
    accrual = np.where(month_ends(cal), rng.uniform(1, 4) * level, 0.0)
    normal = usage + amortised + accrual
    foreign = rng.uniform(0, 0.5)
    rate = _bounded_walk(rng, n, rng.uniform(0.003, 0.006), 0.98, 0.06)
    actual = usage * log_noise(rng, n, rng.uniform(0.02, 0.08)) * (1 - foreign + foreign * rate)
    actual = actual + amortised + accrual
    firsts = np.flatnonzero(cal.day_of_month == 1)
    actual[firsts] += float(accrual.max()) * rng.uniform(-0.1, 0.15, firsts.size)
    if rng.random() < 0.2:
        at = int(rng.integers(0, n))
        end = at + int(rng.integers(5, 21)) if rng.random() < 0.5 else n
        actual[at:end] += rng.uniform(0.08, 0.25) * level
    if rng.random() < 0.5:
        days = rng.integers(0, n, int(rng.poisson(rng.uniform(0.5, 2) * n / 30)))
        actual[days] *= rng.uniform(0.35, 0.8, days.size)
    return Shape(normal, np.ones(n), np.maximum(actual, 0.0) / normal)
