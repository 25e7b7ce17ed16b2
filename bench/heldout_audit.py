"""Audit families of bench/independent.py (``--audit``): written from how cloud and SaaS
bills behave, without reading the detectors, their rules, the benchmark's figures or any
score, kept out of every other run, and committed before any score of them was seen.

Each family keeps what is normal yet awkward in its kind of bill: local clocks that move
an hour at daylight saving time (on different dates in America and Europe), a half-hour
time zone, per-event fees counted from a Poisson stream (quiet hours far noisier than
busy ones, and real zero hours), paydays and a retail calendar, blue/green deployments
that bill two clusters for a few hours, capacity units that scale in half steps with a
floor, message tiers that get cheaper as the month goes on, staged firmware rollouts,
queues that spread a weekly batch over hours, sustained-use discounts that grow through
the month, credits that expire. None of it is labelled.

As in the sealed and blind groups, ``normal`` is what a good model would expect and
``noise`` the ratio of the cost to it, so an anomaly scales the cost as it happened, and
a spike costs exactly its labelled size (``inject_sealed``). This module holds the shared
clock and the hourly families search_cluster and payments_fees; iot_fleet and
media_transcode are in bench/heldout_audit_fleet.py, daily_gcp_projects in
bench/heldout_audit_daily.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

from bench.heldout_sealed import _scaled
from bench.scenario_kit import Calendar, Shape

# ---------------------------------------------------------------------------------------
# Local clocks with daylight saving time

ZONES: dict[str, tuple[float, str]] = {
    "America/Los_Angeles": (-8.0, "us"),
    "America/Chicago": (-6.0, "us"),
    "America/New_York": (-5.0, "us"),
    "Europe/London": (0.0, "eu"),
    "Europe/Berlin": (1.0, "eu"),
    "Asia/Kolkata": (5.5, ""),
    "Asia/Tokyo": (9.0, ""),
    "Australia/Sydney": (10.0, "au"),
}
"""Standard UTC offset (hours) and daylight-saving rule of each zone the families use:
"us" (second Sunday of March 02:00 to first Sunday of November 02:00 local), "eu" (last
Sunday of March to last Sunday of October, 01:00 UTC), "au" (first Sunday of October
02:00 to first Sunday of April 03:00 local) or none."""
US_EU = tuple(zone for zone, (_, rule) in ZONES.items() if rule in ("us", "eu"))

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _sunday(year: int, month: int, nth: int) -> date:
    """The ``nth`` Sunday of the month (1: first; -1: last)."""
    if nth > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
    last = (date(year, month, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 6) % 7)


def _at(day: date, utc_hour: float) -> float:
    """Hours since the epoch of ``utc_hour`` on ``day`` (UTC; may be negative)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return (midnight - _EPOCH) / timedelta(hours=1) + utc_hour


def dst_periods(year: int, zone: str) -> list[tuple[float, float]]:
    """The spans ``[start, end)`` of ``year``, in UTC hours since the epoch, in which the
    clocks of ``zone`` are one hour ahead of its standard time."""
    std, rule = ZONES[zone]
    if rule == "us":
        return [(_at(_sunday(year, 3, 2), 2 - std), _at(_sunday(year, 11, 1), 1 - std))]
    if rule == "eu":
        return [(_at(_sunday(year, 3, -1), 1.0), _at(_sunday(year, 10, -1), 1.0))]
    if rule == "au":
        return [
            (_at(date(year, 1, 1), -std), _at(_sunday(year, 4, 1), 2 - std)),
            (_at(_sunday(year, 10, 1), 2 - std), _at(date(year + 1, 1, 1), -std)),
        ]
    return []


@dataclass(frozen=True)
class LocalClock:
    """Per window, the local time of a zone: ``hour`` (0-24, fractional for half-hour
    zones), ``weekday`` (0 Monday), ``day`` (days since 1970-01-01, local) and ``offset``
    (hours ahead of UTC)."""

    hour: np.ndarray
    weekday: np.ndarray
    day: np.ndarray
    offset: np.ndarray

    def on_dates(self, dates: list[date]) -> np.ndarray:
        """Whether each window's local date is one of ``dates``."""
        wanted = [(d - _EPOCH.date()).days for d in dates]
        return np.isin(self.day, wanted)

    @property
    def day_of_month(self) -> np.ndarray:
        base = _EPOCH.date()
        return np.array([(base + timedelta(days=int(d))).day for d in self.day])


@lru_cache(maxsize=64)
def local_clock(cal: Calendar, zone: str) -> LocalClock:
    """The local clock of ``zone`` over ``cal``'s windows (each window by its start)."""
    step = cal.step / timedelta(hours=1)
    utc = (cal.start - _EPOCH) / timedelta(hours=1) + np.arange(cal.windows) * step
    offset = np.full(cal.windows, ZONES[zone][0])
    last = cal.start + cal.windows * cal.step
    for year in range(cal.start.year, last.year + 1):
        for begin, end in dst_periods(year, zone):
            offset = offset + ((utc >= begin) & (utc < end))
    local = utc + offset
    day = np.floor(local / 24).astype(int)
    return LocalClock(local - 24 * day, (day + 3) % 7, day, offset)


def _walk(rng: np.random.Generator, n: int, sigma: float, phi: float, bound: float) -> np.ndarray:
    """An AR(1) walk in log space (step ``sigma``, persistence ``phi``), kept inside
    ``1 +- bound``: hour-to-hour drift of real demand around its expected curve."""
    shocks = rng.normal(0, sigma, n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + shocks[i]
        out[i] = acc
    return np.asarray(np.clip(np.exp(out), 1 - bound, 1 + bound), dtype=float)


def _bump(hour: np.ndarray, peak: float | np.ndarray, width: float) -> np.ndarray:
    """A daily Gaussian bump at local ``peak`` (hours, wrapping at midnight)."""
    gap = (hour - peak + 12) % 24 - 12
    return np.asarray(np.exp(-0.5 * (gap / width) ** 2), dtype=float)


def _ratio(actual: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mask (1 where anything was billed) and the noise (cost over its expectation)."""
    mask = (actual > 0).astype(float)
    safe = np.where(expected > 0, expected, 1.0)
    return mask, np.where((mask > 0) & (expected > 0), actual / safe, 1.0)


def compound_poisson(
    rng: np.random.Generator,
    counts: np.ndarray,
    median: float,
    sigma: float,
    cap: float = np.inf,
) -> np.ndarray:
    """The sum of ``counts[i]`` lognormal amounts (``median``, log ``sigma``, at most
    ``cap`` each) per window: drawn one by one where a window has at most 40, else from
    the gamma with the mean and variance of the uncapped amounts (a cap far in the tail
    changes neither much)."""
    counts = np.asarray(counts, dtype=int)
    mean = median * float(np.exp(sigma * sigma / 2))
    cv2 = float(np.exp(sigma * sigma) - 1)
    few = counts <= 40
    out = np.zeros(counts.size)
    small = np.where(few, counts, 0)
    owners = np.repeat(np.arange(counts.size), small)
    amounts = np.minimum(rng.lognormal(np.log(median), sigma, owners.size), cap)
    out += np.bincount(owners, weights=amounts, minlength=counts.size)
    many = ~few
    if many.any():
        out[many] = rng.gamma(counts[many] / cv2, mean * cv2)
    return out


# ---------------------------------------------------------------------------------------
# search_cluster


@dataclass
class SearchShape(Shape):
    """A managed search domain with the parts a test checks."""

    nodes: np.ndarray = field(default_factory=lambda: np.zeros(0))  # data nodes; 0 serverless
    bluegreen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    floor: float = 0.0  # serverless: the cost of the minimum OCUs per window
    zone: str = ""


def ocus(load: np.ndarray, minimum: float, hold: int) -> np.ndarray:
    """Capacity units billed per window for a ``load`` in units: rounded up to half units,
    at least ``minimum``, and scaled down only after ``hold`` windows below (the largest
    need of the window and the ``hold - 1`` before it)."""
    need = np.maximum(np.ceil(load * 2) / 2, minimum)
    held = need.copy()
    for lag in range(1, hold):
        held[lag:] = np.maximum(held[lag:], need[:-lag])
    return np.asarray(held, dtype=float)


def _retained(ingest: np.ndarray, day: np.ndarray, days: int) -> np.ndarray:
    """Data kept per window by daily indices deleted at local midnight once ``days`` old:
    what was ingested since the local midnight ``days - 1`` days before the window's."""
    total = np.concatenate([[0.0], np.cumsum(ingest)])
    first = np.searchsorted(day, day - (days - 1))
    return np.asarray(total[1:] - total[first], dtype=float)


def shape_search(rng: np.random.Generator, cal: Calendar) -> SearchShape:
    """A managed search domain (OpenSearch or Elasticsearch). Applications in one American
    or European time zone index logs and documents along their working day (peak local
    11-16 h over a floor of 25-60 %, weekends at 0.5-0.9, growth of 0-20 %, an
    hour-to-hour walk of 2-5 % inside +-15 %) and query it in office hours. 70 % are
    provisioned domains: 2-30 data nodes plus, in 60 %, three dedicated masters, billed
    per node-hour whatever the load, and EBS volumes billed per provisioned GB: flat.
    They change 0-3 times in the span: a resize by one node or up to a quarter of the
    nodes (never below 2), a volume or software update otherwise; each change is a
    blue/green deployment that bills the old and the new cluster together for 1-4 hours
    (the instances are 45-75 % of the bill, so those hours stay below 1.95x). Half keep
    older indices on a warm tier billed per GB of the last 30-90 days (5-25 % of the
    bill; a young domain's warm tier grows through the span). 30 % are serverless:
    indexing and search capacity units scale with the load in half units over a minimum
    of 0.5, 1 or 2 each and scale down only after 1-3 hours, plus storage billed per GB
    of the last 7-30 days (3-15 %), deleted at local midnight. Hourly only."""
    n = cal.windows
    zone = str(rng.choice(US_EU))
    keep = int(rng.integers(30, 91)) if rng.random() < 0.5 else int(rng.integers(7, 31))
    lead = (keep + 1) * 24
    long = Calendar(cal.start - timedelta(hours=lead), cal.step, lead + n)
    clock = local_clock(long, zone)
    floor = rng.uniform(0.25, 0.6)
    ingest = floor + (1 - floor) * _bump(clock.hour, rng.uniform(11, 16), rng.uniform(3, 6))
    ingest = ingest * np.where(clock.weekday >= 5, rng.uniform(0.5, 0.9), 1.0)
    ingest = ingest * (1 + rng.uniform(0, 0.2) * long.frac)
    walk = _walk(rng, lead + n, rng.uniform(0.02, 0.05), 0.8, 0.15)
    office = _bump(clock.hour, rng.uniform(10, 15), rng.uniform(2, 4))
    queries = 0.1 + office * np.where(clock.weekday >= 5, rng.uniform(0.2, 0.5), 1.0)
    busy = float(np.exp(rng.normal(0, 0.05)))
    nodes = np.zeros(n)
    bluegreen = np.zeros(n, dtype=bool)
    if rng.random() < 0.7:
        count = np.full(n, float(rng.integers(2, 31)))
        masters = 3 * rng.uniform(0.15, 0.4) if rng.random() < 0.6 else 0.0
        extra = np.zeros(n)
        for at in np.sort(rng.integers(24, n - 6, int(rng.integers(0, 4)))):
            old = float(count[at])
            new = old
            if rng.random() < 0.6:
                step = max(1, round(old * rng.uniform(0.05, 0.25)))
                new = old + int(rng.choice([-1, 1])) * step
                if step > 0.25 * old or new < 2:
                    new = old
            count[at:] = new
            hours = int(rng.integers(1, 5))
            extra[at : at + hours] = old + masters
            bluegreen[at : at + hours] = True
        instances = rng.uniform(0.45, 0.75)
        age = int(rng.uniform(5, 400) * 24)
        warm_share = rng.uniform(0.05, 0.25) if rng.random() < 0.5 and keep >= 30 else 0.0
        per_node = instances / (float(count[0]) + masters)
        volumes = 1 - instances - warm_share
        seen = ingest.copy()
        seen[: max(0, lead - age)] = 0.0
        expected = per_node * (count + masters) + volumes
        actual = expected + per_node * extra
        if warm_share:
            warm = _retained(seen, clock.day, keep)[lead:]
            warm_actual = _retained(seen * walk, clock.day, keep)[lead:]
            per_gb = warm_share / float(np.median(warm[warm > 0]))
            expected = expected + per_gb * warm
            actual = actual + per_gb * warm_actual
        nodes = count
        floor_cost = 0.0
    else:
        minimum = float(rng.choice([0.5, 1.0, 2.0]))
        hold = int(rng.integers(1, 4))
        peak_index, peak_search = rng.uniform(2, 20), rng.uniform(1, 10)
        per_query = peak_search / float(queries.max())
        per_doc = peak_index / float(ingest.max())
        q_walk = np.exp(rng.normal(0, rng.uniform(0.05, 0.15), lead + n))

        def units(docs: np.ndarray, asked: np.ndarray) -> np.ndarray:
            need = ocus(docs * per_doc, minimum, hold) + ocus(asked * per_query, minimum, hold)
            return np.asarray(need, dtype=float)

        expected = units(ingest, queries * busy)[lead:]
        actual = units(ingest * walk, queries * busy * q_walk)[lead:]
        storage = _retained(ingest, clock.day, keep)[lead:]
        stored = _retained(ingest * walk, clock.day, keep)[lead:]
        per_gb = rng.uniform(0.03, 0.15) * float(np.median(expected)) / float(np.median(storage))
        expected = expected + per_gb * storage
        actual = actual + per_gb * stored
        floor_cost = 2 * minimum
    scale = _scaled(rng, cal, expected)
    noise = np.minimum(actual / expected, 1.95)
    return SearchShape(
        expected * scale,
        np.ones(n),
        noise,
        nodes=nodes,
        bluegreen=bluegreen,
        floor=floor_cost * scale,
        zone=zone,
    )


# ---------------------------------------------------------------------------------------
# payments_fees

BLACK_FRIDAY = date(2026, 11, 27)
RETAIL_DAYS: dict[date, tuple[float, float]] = {
    date(2026, 11, 26): (0.9, 1.3),  # Thanksgiving (deals open online)
    BLACK_FRIDAY: (1.5, 1.9),
    date(2026, 11, 28): (1.2, 1.5),
    date(2026, 11, 29): (1.2, 1.5),
    date(2026, 11, 30): (1.4, 1.8),  # Cyber Monday
}
"""Retail days of the span, as the range of the day's factor on its local date."""

PAYMENT_KINDS = ("retail", "delivery", "subscriptions")


@dataclass
class PaymentsShape(Shape):
    """A merchant's payment fees with the clock a test checks (of its first zone)."""

    kind: str = "retail"
    zones: tuple[str, ...] = ()
    local_hour: np.ndarray = field(default_factory=lambda: np.zeros(0))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    day_factor: np.ndarray = field(default_factory=lambda: np.zeros(0))  # calendar, first zone


def payday_factor(clock: LocalClock, lift: float, late: float) -> np.ndarray:
    """Paydays lift spending on the local 1st and 15th (the Friday before when they fall
    on a weekend) and the day after, by ``lift``; days 25 and later sit at ``late``."""
    base = _EPOCH.date()
    dates = [base + timedelta(days=int(d)) for d in np.unique(clock.day)]
    paid: list[date] = []
    for d in dates:
        if d.day in (1, 15):
            pay = d - timedelta(days=max(0, d.weekday() - 4))
            paid += [pay, pay + timedelta(days=1)]
    factor = np.where(clock.on_dates(paid), lift, 1.0)
    return np.asarray(np.where(clock.day_of_month >= 25, factor * late, factor), dtype=float)


def shape_payments(rng: np.random.Generator, cal: Calendar) -> PaymentsShape:
    """A merchant's card-processing fees: per transaction 1.4-3.5 % of the amount plus a
    fixed 0.05-0.30, +1.5 % on the 5-30 % of cards issued abroad, and in 60 % a fraud
    screening fee of 0.02-0.07. Transactions arrive as a Poisson stream; amounts are
    lognormal, so an hour's fees are a compound Poisson: a small merchant's night has a
    few sales or none (a real zero), a large one's is smooth. Retail shops (55 %, 1-2 time
    zones): a lunch bump and an evening peak, weekends at 1.0-1.3, paydays (the 1st and
    the 15th, the Friday before on a weekend, and the next day) at 1.1-1.3, days 25 and
    later at 0.9-0.97, early deals the week before Black Friday (1.05-1.2), Thanksgiving,
    Black Friday (1.5-1.9), its weekend (1.2-1.5) and Cyber Monday (1.4-1.8), then
    Christmas shopping (1.05-1.15). Food delivery (25 %, 1-3 cities' zones): lunch and
    dinner peaks, weekend dinners at 1.1-1.4, wet days at 1.1-1.3 now and then.
    Subscriptions (20 %): renewals charged by a billing run at a fixed UTC hour (1-2
    hours), the month's anniversaries spread over its days with 1.3-1.8x on the 1st,
    failed charges retried three days later; signups and upgrades (2-5 % of a day's
    renewals an hour) around the clock, most in local office hours. Local curves
    follow daylight saving time (Europe on 25 October, America on 1 November 2026).
    Growth of 0-15 %; 20 % negotiate a rate once (-8 .. -20 %); disputes (0.3-2 a week,
    a flat fee of 0.2-0.6 of a typical hour) on weekday UTC office hours. Hourly only."""
    n = cal.windows
    kind = str(rng.choice(PAYMENT_KINDS, p=[0.55, 0.25, 0.2]))
    zones_n = {"retail": int(rng.integers(1, 3)), "delivery": int(rng.integers(1, 4))}
    zones = tuple(str(z) for z in rng.choice(US_EU, zones_n.get(kind, 1), replace=False))
    busiest = float(np.exp(rng.uniform(np.log(40), np.log(5000))))
    demand = np.zeros(n)
    first_factor = np.ones(n)
    if kind == "subscriptions":
        clock = local_clock(cal, zones[0])
        daily = busiest * rng.uniform(3, 8)
        per_day = np.where(cal.day_of_month == 1, rng.uniform(1.3, 1.8), 1.0) * daily
        retry = np.roll(per_day * rng.uniform(0.05, 0.1), 72)
        run_at, hours = int(rng.integers(0, 24)), int(rng.integers(1, 3))
        runs = (cal.hour - run_at) % 24 < hours
        demand = np.where(runs, (per_day + retry) / hours, 0.0)
        office = np.where(clock.weekday < 5, 0.3 + 0.7 * _bump(clock.hour, 13, 3), 0.4)
        demand = demand + rng.uniform(0.02, 0.05) * daily * office
        median, sigma = float(rng.choice([9.0, 19.0, 49.0, 99.0])), rng.uniform(0.2, 0.6)
    for i, (zone, weight) in enumerate(zip(zones, rng.dirichlet(np.ones(len(zones))), strict=True)):
        if kind == "subscriptions":
            break
        clock = local_clock(cal, zone)
        weekend = clock.weekday >= 5
        if kind == "retail":
            floor = rng.uniform(0.05, 0.15)
            curve = floor + rng.uniform(0.3, 0.6) * _bump(clock.hour, 12.5, 1.2)
            curve = curve + _bump(clock.hour, rng.uniform(19, 21.5), rng.uniform(2, 3))
            factor = np.where(weekend, rng.uniform(1.0, 1.3), 1.0)
            factor = factor * payday_factor(clock, rng.uniform(1.1, 1.3), rng.uniform(0.9, 0.97))
            for day, (low, high) in RETAIL_DAYS.items():
                factor = np.where(clock.on_dates([day]), rng.uniform(low, high), factor)
            early = [BLACK_FRIDAY - timedelta(days=k) for k in range(2, 8)]
            factor = factor * np.where(clock.on_dates(early), rng.uniform(1.05, 1.2), 1.0)
            xmas = [date(2026, 12, 1) + timedelta(days=k) for k in range(31)]
            factor = factor * np.where(clock.on_dates(xmas), rng.uniform(1.05, 1.15), 1.0)
            median, sigma = rng.uniform(30, 120), rng.uniform(0.5, 1.0)
        else:
            floor = rng.uniform(0.02, 0.08)
            lunch = _bump(clock.hour, rng.uniform(11.5, 13), rng.uniform(0.8, 1.3))
            dinner = _bump(clock.hour, rng.uniform(18, 20.5), rng.uniform(1, 1.8))
            curve = floor + rng.uniform(0.4, 0.8) * np.where(weekend, 0.8, 1.0) * lunch
            curve = curve + dinner * np.where(weekend, rng.uniform(1.1, 1.4), 1.0)
            wet = rng.random(int(clock.day.max() - clock.day.min()) + 1) < rng.uniform(0.05, 0.2)
            factor = np.where(wet[clock.day - clock.day.min()], rng.uniform(1.1, 1.3), 1.0)
            median, sigma = rng.uniform(20, 45), rng.uniform(0.3, 0.6)
        if i == 0:
            first_factor = factor
        demand = demand + weight * curve * factor / float(curve.max())
    if kind != "subscriptions":  # the busiest hour's sales; renewals are counted as they fall due
        demand = busiest * demand / float(demand.max())
    demand = demand * (1 + rng.uniform(0, 0.15) * cal.frac)
    rate, fixed = rng.uniform(0.014, 0.035), rng.uniform(0.05, 0.30)
    abroad = rng.uniform(0.05, 0.3)
    screen = rng.uniform(0.02, 0.07) if rng.random() < 0.6 else 0.0
    price = np.ones(n)
    if rng.random() < 0.2:
        price[int(rng.integers(0, n)) :] = 1 - rng.uniform(0.08, 0.2)
    mean_amount = median * float(np.exp(sigma * sigma / 2))
    percent = rate + 0.015 * abroad
    per_sale = percent * mean_amount
    expected = demand * (per_sale + fixed + screen) * price
    counts = rng.poisson(demand)
    amounts = compound_poisson(rng, counts, median, sigma, 15 * median)
    actual = (percent * amounts + (fixed + screen) * counts) * price
    typical = float(np.median(expected[expected > 0]))
    office = (cal.weekday < 5) & (cal.hour >= 8) & (cal.hour < 18)
    weeks = n / 168
    disputes = rng.choice(np.flatnonzero(office), int(rng.poisson(rng.uniform(0.3, 2) * weeks)))
    np.add.at(actual, disputes, rng.uniform(0.2, 0.6, disputes.size) * typical)
    scale = _scaled(rng, cal, expected)
    mask, noise = _ratio(actual, expected)
    first = local_clock(cal, zones[0])
    return PaymentsShape(
        expected * scale,
        mask,
        noise,
        kind=kind,
        zones=zones,
        local_hour=first.hour,
        offset=first.offset,
        day_factor=first_factor,
    )
