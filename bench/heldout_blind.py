"""Blind held-out families of bench/independent.py (``--blind``): written from what cloud
bills look like, without reading the detectors, their rules, the benchmark's figures or
any score, kept out of every other run, and run once, for the final report.

Each family keeps the behaviour of its kind of bill that is normal yet surprising: CI
minutes that follow a team's working hours and its release train, a nightly build at a
UTC cron hour, shard hours that stay flat whatever the traffic, backups through a NAT
gateway, the largest of a load balancer's four capacity dimensions, desktops that bill
each hour they touch, a maintenance run and monthly fees, a support fee and tax posted on
the 1st, a savings plan that keeps a weekend flat. None of it is labelled.

As in the sealed group, ``normal`` is what a good model would expect and ``noise`` the
ratio of the cost to it, so an anomaly scales the cost as it happened, and a spike costs
exactly its labelled size (``inject_sealed``). The daily family, daily_account_services,
is in bench/heldout_blind_daily.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from bench.heldout_fresh import _bounded_walk, _local_clock
from bench.heldout_sealed import _scaled, _trailing_sum
from bench.scenario_kit import HOLIDAYS, Calendar, Shape, typical_level


def _local_days(cal: Calendar, offset: int) -> tuple[np.ndarray, list[date]]:
    """Per window, the index of its local day (0: the first window's local date), and the
    local date of each index."""
    day = (np.arange(cal.windows) * int(cal.step / timedelta(hours=1)) + offset) // 24
    day = day - int(day.min())
    first = (cal.start + timedelta(hours=offset)).date()
    return day, [first + timedelta(days=int(d)) for d in range(int(day.max()) + 1)]


def _ratio(actual: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mask (1 where anything was billed) and the noise (cost over its expectation)."""
    mask = (actual > 0).astype(float)
    safe = np.where(expected > 0, expected, 1.0)
    return mask, np.where((mask > 0) & (expected > 0), actual / safe, 1.0)


def _working_scale(
    rng: np.random.Generator, cal: Calendar, expected: np.ndarray, on: np.ndarray
) -> float:
    """The factor that brings the median expected cost of the ``on`` windows (local
    weekday working hours) to a typical level."""
    return typical_level(rng, cal) / float(np.median(expected[on]))


# ---------------------------------------------------------------------------------------
# ci_runners

RUNNER_PRICES = (0.008, 0.016, 0.032, 0.064, 0.08)
"""List prices per minute of hosted CI runners: Linux with 2, 4, 8 and 16 cores, macOS."""


@dataclass
class CiShape(Shape):
    """CI minutes with the parts a test checks."""

    nightly: np.ndarray = field(default_factory=lambda: np.zeros(0))  # expected scheduled builds
    working: np.ndarray = field(
        default_factory=lambda: np.zeros(0)
    )  # local weekday 09-17 h, not holiday


def run_costs(
    rng: np.random.Generator,
    runs: int,
    jobs: int,
    median: float,
    sigma: float,
    miss: float,
    slower: float,
) -> np.ndarray:
    """The cost in runner minutes of each of ``runs`` workflow runs of ``jobs`` jobs: a job
    runs a lognormal time (``median`` minutes, log ``sigma``), ``slower`` times longer in a
    run whose dependency cache missed (probability ``miss``), and bills whole minutes."""
    minutes = rng.lognormal(np.log(median), sigma, (runs, jobs))
    missed = rng.random(runs) < miss
    minutes = minutes * np.where(missed, slower, 1.0)[:, None]
    return np.asarray(np.ceil(minutes).sum(axis=1), dtype=float)


def shape_ci_runners(rng: np.random.Generator, cal: Calendar) -> CiShape:
    """A repository's hosted CI minutes, billed per started minute of each job at its
    runner's price. Its team (4-60 developers, 0-2 hires in the span, at most a quarter of
    the team) works in one time zone: workflow runs arrive as a Poisson stream that
    follows a morning and an afternoon hump on local weekdays (0.5-1.5 runs per developer
    at the busiest hour), with weekends and, in 70 % of the teams, public holidays at 0-8 %,
    and a floor of 1-6 % from bots and late pushes. A run has 1-12 jobs (lognormal
    minutes, median 2-20), and 5-20 % of the runs miss the dependency cache and take
    1.5-3x longer. A nightly build (full matrix, 0.4-2.5x the busiest expected hour over
    1-2 hours) runs at a fixed UTC cron hour that is local 00-04 h, every day or UTC
    weekdays only (+-15 %, a flaky rerun one night in ten at 1.2-1.6x). Half the teams have
    a release train on a fixed weekday, every week or every other week: a merge-queue storm
    (runs at 1.2-1.6x from local 09 to 16 h) and a release pipeline at local 15-17 h (1-3
    hours at 0.3-1x the busiest hour). Half have a dependency bot on Monday at 05:00 UTC
    (0.3-1.2x the busiest hour of uncached builds in one hour, 0.5-1.5x of it a week, none
    one week in seven). A quarter move to another runner class or to self-hosted runners
    once (price -25 .. +25 %, at least 10 %). Hourly only."""
    n = cal.windows
    local_hour, local_day, offset = _local_clock(rng, cal)
    day_index, dates = _local_days(cal, offset)
    holiday = np.zeros(n, dtype=bool)
    if rng.random() < 0.7:
        holiday = np.isin(day_index, [i for i, d in enumerate(dates) if d in HOLIDAYS])
    workday = (local_day < 5) & ~holiday
    hour = local_hour + 0.5
    morning = np.exp(-0.5 * ((hour - rng.uniform(9.5, 11.5)) / rng.uniform(1, 2)) ** 2)
    afternoon = np.exp(-0.5 * ((hour - rng.uniform(14, 16.5)) / rng.uniform(1.5, 2.5)) ** 2)
    day = morning + rng.uniform(0.8, 1.3) * afternoon
    curve = rng.uniform(0.01, 0.06) + np.where(workday, 1.0, rng.uniform(0, 0.08)) * day / day.max()
    developers = int(rng.integers(4, 61))
    team = np.full(n, float(developers))
    for at in rng.integers(0, n, int(rng.integers(0, min(2, developers // 4) + 1))):
        team[at:] += 1
    runs_expected = team * rng.uniform(0.5, 1.5) * curve
    release = np.ones(n)
    pipeline = np.zeros(n)
    if rng.random() < 0.5:
        every = int(rng.integers(1, 3))
        week = (np.arange(n) + offset) // 168
        on = workday & (local_day == int(rng.integers(1, 5))) & (week % every == 0)
        release = np.where(on & (local_hour >= 9) & (local_hour < 16), rng.uniform(1.2, 1.6), 1.0)
        at, length = int(rng.integers(15, 18)), int(rng.integers(1, 4))
        pipeline = (on & (local_hour >= at) & (local_hour < at + length)).astype(float)
    runs_expected = runs_expected * release
    jobs, median = int(rng.integers(1, 13)), rng.uniform(2, 20)
    sigma, miss, slower = rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.2), rng.uniform(1.5, 3)
    per_run = float(run_costs(rng, 4000, jobs, median, sigma, miss, slower).mean())
    counts = rng.poisson(runs_expected)
    costs = run_costs(rng, int(counts.sum()), jobs, median, sigma, miss, slower)
    runs = np.repeat(np.arange(n), counts)
    actual: np.ndarray = np.bincount(runs, weights=costs, minlength=n).astype(float)
    expected = runs_expected * per_run
    busiest = float(expected.max())
    pipeline_cost = pipeline * rng.uniform(0.3, 1.0) * busiest
    expected = expected + pipeline_cost
    actual = actual + pipeline_cost * rng.uniform(0.85, 1.15, n)
    nightly = np.zeros(n)
    utc_at, length = (int(rng.integers(0, 5)) - offset) % 24, int(rng.integers(1, 3))
    weekdays_only = rng.random() < 0.5
    nightly_cost = rng.uniform(0.4, 2.5) * busiest / length
    for begin in np.flatnonzero(cal.hour == utc_at):
        if weekdays_only and cal.weekday[begin] >= 5:
            continue
        ran = rng.uniform(0.85, 1.15) * (rng.uniform(1.2, 1.6) if rng.random() < 0.1 else 1.0)
        nightly[begin : begin + length] = nightly_cost
        actual[begin : begin + length] += nightly_cost * ran
    expected = expected + nightly
    if rng.random() < 0.5:
        bot = rng.uniform(0.3, 1.2) * busiest
        for begin in np.flatnonzero((cal.weekday == 0) & (cal.hour == 5)):
            expected[begin] += bot
            if rng.random() >= 1 / 7:
                actual[begin] += bot * rng.uniform(0.5, 1.5)
    price = np.full(n, float(rng.choice(RUNNER_PRICES, p=[0.3, 0.3, 0.15, 0.1, 0.15])))
    if rng.random() < 0.25:
        price[int(rng.integers(0, n)) :] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.1, 0.25)
    working = workday & (local_hour >= 9) & (local_hour < 17)
    scale = _working_scale(rng, cal, expected * price, working)
    mask, noise = _ratio(actual, expected)
    return CiShape(
        expected * price * scale, mask, noise, nightly=nightly * price * scale, working=working
    )


# ---------------------------------------------------------------------------------------
# streaming


@dataclass
class StreamShape(Shape):
    """Managed streaming with its provisioned part: shard or broker hours, no noise."""

    provisioned: np.ndarray = field(default_factory=lambda: np.zeros(0))


def billed_count(count: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """Units billed per window when the provisioned ``count`` changes part way through a
    window: the old count until the fraction ``moved`` of it, the new one after."""
    out = count.astype(float).copy()
    out[1:] = count[1:] + (count[:-1] - count[1:]) * moved[1:]
    return out


def shape_streaming(rng: np.random.Generator, cal: Calendar) -> StreamShape:
    """A managed stream (Kinesis or Kafka style). The provisioned part bills every hour
    whatever the traffic: 60 % are shard streams (2-200 shards, 40-85 % of a typical hour;
    a fifth are on-demand streams whose stream-hour is 2-10 %), the rest broker clusters
    (3-12 brokers, 50-90 %). A shard stream is resharded by hand 0-3 times (by one shard
    or up to a fifth of them, never more than a quarter, and staying within +-30 % of the
    start); a quarter of the streams with 4 shards or more are rescaled by a schedule to
    1.5-2x from local 07 to 21 h on weekdays; a change part way through an hour bills part
    of it. The throughput part (per GB in, and out to consumers) follows the product's
    traffic: a daily curve peaking at local 11-21 h over a floor of 20-60 %, weekends at
    0.6-1.1, growth of 0-25 %, an hour-to-hour walk of 2-5 % inside +-12 %. Retention is
    billed per GB stored (the last 3-14 days for a cluster, 30-365 days of long-term
    retention for 30 % of the shard streams): a stream younger than its retention sees its
    storage grow through the span. Consumers re-read a day's data 0-2 times (2-6 hours of
    0.3-0.8 of a typical hour), below a doubling of the hour. Hourly only."""
    n = cal.windows
    local_hour, local_day, _ = _local_clock(rng, cal)
    shards = rng.random() < 0.6
    retention = 0
    if shards:
        on_demand = rng.random() < 0.2
        fixed_share = rng.uniform(0.02, 0.1) if on_demand else rng.uniform(0.4, 0.85)
        if rng.random() < 0.3:
            retention = int(rng.integers(30, 366))
        count = np.full(n, float(0 if on_demand else rng.integers(2, 201)))
        start = float(count[0])
        for at in np.sort(rng.integers(0, n, int(rng.integers(0, 4)))):
            step = max(1, round(start * rng.uniform(0.05, 0.2)))
            new = count[at] + int(rng.choice([-1, 1])) * step
            if step <= 0.25 * count[at] and abs(new - start) <= 0.3 * start:
                count[at:] = new
        if not on_demand and start >= 4 and rng.random() < 0.25:
            on = (local_day < 5) & (local_hour >= 7) & (local_hour < 21)
            count = np.where(on, np.round(count * rng.uniform(1.5, 2.0)), count)
        units = billed_count(count, rng.uniform(0, 1, n)) if not on_demand else np.ones(n)
    else:
        fixed_share = rng.uniform(0.5, 0.9)
        retention = int(rng.integers(3, 15))
        units = np.full(n, float(rng.choice([3, 6, 9, 12])))
    storage_share = rng.uniform(0.05, 0.3) if retention else 0.0
    lead = retention * 24
    long = Calendar(cal.start - timedelta(days=retention), cal.step, lead + n)
    long_hour, long_day, _ = _local_clock(rng, long)
    gap = (long_hour - rng.uniform(11, 21) + 12) % 24 - 12
    floor = rng.uniform(0.2, 0.6)
    traffic = floor + (1 - floor) * np.exp(-0.5 * (gap / rng.uniform(3, 6)) ** 2)
    traffic = traffic * np.where(long_day >= 5, rng.uniform(0.6, 1.1), 1.0)
    traffic = traffic * (1 + rng.uniform(0, 0.25) * long.frac)
    age = int(rng.uniform(10, 400) * 24)  # hours the stream existed before the span
    traffic[: max(0, lead - age)] = 0.0
    sent = traffic * _bounded_walk(rng, lead + n, rng.uniform(0.02, 0.05), 0.8, 0.12)
    typical = float(np.median(traffic[lead:]))
    throughput_share = max(1 - fixed_share - storage_share, 0.05)
    provisioned = fixed_share * units / float(units[0] if units[0] > 0 else 1.0)
    expected = provisioned + throughput_share * traffic[lead:] / typical
    actual = provisioned + throughput_share * sent[lead:] / typical
    if retention:
        kept = _trailing_sum(traffic, lead)[lead:]
        price = storage_share / float(np.median(kept))
        expected = expected + price * kept
        actual = actual + price * _trailing_sum(sent, lead)[lead:]
    typical_hour = float(np.median(expected))
    for begin in rng.integers(0, n - 6, int(rng.integers(0, 3))):
        end = begin + int(rng.integers(2, 7))
        actual[begin:end] += rng.uniform(0.3, 0.8) * typical_hour
    noise = np.minimum(actual / expected, 1.9)
    scale = _scaled(rng, cal, expected)
    return StreamShape(expected * scale, np.ones(n), noise, provisioned=provisioned * scale)


# ---------------------------------------------------------------------------------------
# nat_lb


@dataclass
class GatewayShape(Shape):
    """A NAT gateway or a load balancer with its fixed hourly charge."""

    fixed: float = 0.0
    backups: np.ndarray = field(
        default_factory=lambda: np.zeros(0)
    )  # expected scheduled backup cost


def load_balancer_units(dimensions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Capacity units billed per window: the largest of the weighted dimensions (rows:
    new connections, active connections, processed bytes, rule evaluations)."""
    return np.asarray((dimensions * weights[:, None]).max(axis=0), dtype=float)


def shape_nat_lb(rng: np.random.Generator, cal: Calendar) -> GatewayShape:
    """A NAT gateway (55 %) or an application load balancer: a fixed charge per hour (5-50
    % of a typical hour; 90-98 % for the 15 % that carry almost nothing, staging or a
    gateway few hosts use) plus a charge on what passes through, which follows the
    product's traffic (a daily curve peaking at local 10-21 h over a floor of 15-60 %,
    weekends at 0.5-1.1, growth of 0-20 %, an hour-to-hour walk of 2-6 % inside +-15 %).
    A gateway bills per GB processed; 40 % of them carry backups to object storage:
    incrementals every night (local 00-04 h, 1-2 hours at 0.2-0.6 of a typical hour) and
    in half of them a full backup on local Sunday night (2-4 hours at 1-2.5x), +-20 % each
    time. Deploys pull container images through 60 % of the gateways (1-5 a week in local
    weekday hours 10-17, 0.2-0.7 of a typical hour), and 30 % carry ad hoc batch pulls
    (0.5-2 a week, 1-3 hours at 0.3-0.8). A load balancer bills capacity units: the
    largest of new connections (the traffic), active connections (a websocket floor of
    10-60 % under the traffic of the last three hours), processed bytes (the traffic to
    the power 1.1-1.4: larger responses at peak) and rule evaluations, each weighted
    0.4-1, so the quiet hours may sit on a flat floor. Pulls and bursts stay below a
    doubling of the hour's expected cost. Hourly only."""
    n = cal.windows
    local_hour, local_day, _ = _local_clock(rng, cal)
    gap = (local_hour - rng.uniform(10, 21) + 12) % 24 - 12
    floor = rng.uniform(0.15, 0.6)
    traffic = floor + (1 - floor) * np.exp(-0.5 * (gap / rng.uniform(3, 6)) ** 2)
    traffic = traffic * np.where(local_day >= 5, rng.uniform(0.5, 1.1), 1.0)
    traffic = traffic * (1 + rng.uniform(0, 0.2) * cal.frac)
    walk = _bounded_walk(rng, n, rng.uniform(0.02, 0.06), 0.7, 0.15)
    idle = rng.random() < 0.15
    fixed_share = rng.uniform(0.9, 0.98) if idle else rng.uniform(0.05, 0.5)
    backups = np.zeros(n)
    extra = np.zeros(n)
    if rng.random() < 0.55:
        units, sent = traffic, traffic * walk
        typical = float(np.median(units))
        if rng.random() < 0.4:
            at = int(rng.integers(0, 5))
            nightly = rng.uniform(0.2, 0.6) * typical
            full = rng.uniform(1, 2.5) * typical if rng.random() < 0.5 else 0.0
            hours, full_hours = int(rng.integers(1, 3)), int(rng.integers(2, 5))
            for begin in np.flatnonzero(local_hour == at):
                sunday = full > 0 and local_day[begin] == 6
                rate, length = (full, full_hours) if sunday else (nightly, hours)
                backups[begin : begin + length] += rate
                extra[begin : begin + length] += rate * rng.uniform(0.8, 1.2)
        if rng.random() < 0.6:
            working = np.flatnonzero((local_day < 5) & (local_hour >= 10) & (local_hour < 17))
            pulls = rng.choice(working, int(rng.poisson(rng.uniform(1, 5) * n / 168)))
            np.add.at(extra, pulls, rng.uniform(0.2, 0.7, pulls.size) * typical)
        if rng.random() < 0.3:
            for begin in rng.integers(0, n - 3, int(rng.poisson(rng.uniform(0.5, 2) * n / 168))):
                extra[begin : begin + int(rng.integers(1, 4))] += rng.uniform(0.3, 0.8) * typical
    else:
        websockets = rng.uniform(0.1, 0.6)
        recent = np.convolve(traffic, np.ones(3) / 3)[:n]
        recent[:2] = traffic[:2]
        weights = rng.uniform(0.4, 1.0, 4)
        power = rng.uniform(1.1, 1.4)

        def dimensions(flow: np.ndarray, lagged: np.ndarray) -> np.ndarray:
            return np.array([flow, websockets + (1 - websockets) * lagged, flow**power, 0.8 * flow])

        units = load_balancer_units(dimensions(traffic, recent), weights)
        seen = np.convolve(traffic * walk, np.ones(3) / 3)[:n]
        seen[:2] = (traffic * walk)[:2]
        sent = load_balancer_units(dimensions(traffic * walk, seen), weights)
    typical = float(np.median(units + backups))
    per_unit = (1 - fixed_share) / typical
    expected = fixed_share + per_unit * (units + backups)
    actual = fixed_share + per_unit * (sent + backups + extra)
    noise = np.minimum(actual / expected, 1.9)
    scale = _scaled(rng, cal, expected)
    return GatewayShape(
        expected * scale,
        np.ones(n),
        noise,
        fixed=fixed_share * scale,
        backups=per_unit * backups * scale,
    )


# ---------------------------------------------------------------------------------------
# desktops_vdi


@dataclass
class DesktopShape(Shape):
    """Virtual desktops with the monthly fees and the maintenance nights a test checks."""

    monthly: np.ndarray = field(
        default_factory=lambda: np.zeros(0)
    )  # fees in the month's first window
    maintenance: np.ndarray = field(
        default_factory=lambda: np.zeros(0)
    )  # expected maintenance cost
    working: np.ndarray = field(
        default_factory=lambda: np.zeros(0)
    )  # local weekday 09-17 h, not holiday


def _sessions(
    rng: np.random.Generator, count: int, begin: float, timeout: int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` working days as the first local hour billed and the hour after the last
    (from the day's local midnight; ends may pass midnight): a login around ``begin``
    (sd 0.75 h, 05-12 h), 3-12 hours of work (mean 8.5; one day in twenty 2-5 hours
    longer), then ``timeout`` idle hours before the desktop stops; every hour touched
    bills as a whole hour."""
    login = np.clip(rng.normal(begin, 0.75, count), 5, 12)
    work = np.clip(rng.normal(8.5, 1.0, count), 3, 12)
    work = work + np.where(rng.random(count) < 0.05, rng.uniform(2, 5, count), 0.0)
    return np.floor(login), np.ceil(login + work + timeout)


def _occupancy(first: np.ndarray, last: np.ndarray, hours: int) -> np.ndarray:
    """Per hour from local midnight, how many of the sessions bill it."""
    diff = np.zeros(hours + 1)
    np.add.at(diff, first.astype(int), 1)
    np.add.at(diff, np.minimum(last, hours).astype(int), -1)
    return np.cumsum(diff)[:hours]


def shape_desktops_vdi(rng: np.random.Generator, cal: Calendar) -> DesktopShape:
    """A pool of virtual desktops billed by the hour while running. Users (10-300) sit in
    one or two offices (time zones); 70 % of the offices close on public holidays. On a
    weekday 75-92 % of an office's users log in (Fridays 80-100 % of that), on weekends and
    holidays 0-4 %; a login falls around local 07:30-09:30 and work lasts 3-12 hours.
    60 % of the pools are personal desktops that stop 1 or 2 idle hours after the user
    leaves and bill every hour they touch, whole; 0-40 % of their users have always-on
    desktops instead, billed by the month, and every stopping desktop also pays a monthly
    infrastructure fee: both post in the first window of the month (UTC). Once a month,
    from the third Monday for 14 nights, each stopped desktop is started once between
    local 00 and 05 h for 1-2 hours to install updates. The other 40 % are pooled session
    hosts (4-16 users each) under a scaling plan: from a ramp-up at local 06-08 h to the
    ramp-down at 18-20 h on weekdays at least 10-40 % of the hosts run, otherwise 0-1,
    and enough hosts for the users logged in; they bill by the second (a host started or
    stopped in an hour bills part of it), with licences outside the cloud bill. Hourly
    only."""
    n = cal.windows
    users = int(rng.integers(10, 301))
    offices = 1 if rng.random() < 0.7 else 2
    split = rng.dirichlet(np.ones(offices))
    personal = rng.random() < 0.6
    timeout = int(rng.integers(1, 3))
    always_on = round(users * rng.uniform(0, 0.4)) if personal else 0
    running = np.zeros(n)
    expected = np.zeros(n)
    working = np.zeros(n, dtype=bool)
    maintenance_actual = np.zeros(n)
    maintenance = np.zeros(n)
    plan_clock = (np.zeros(n), np.zeros(n))
    for office, share in enumerate(split):
        members = max(1, round((users - always_on) * float(share)))
        local_hour, local_day, offset = _local_clock(rng, cal)
        if office == 0:  # the scaling plan keeps the first office's time zone
            plan_clock = (local_hour, local_day)
        day_index, dates = _local_days(cal, offset)
        closed = [d.weekday() >= 5 for d in dates]
        if rng.random() < 0.7:
            closed = [c or d in HOLIDAYS for c, d in zip(closed, dates, strict=True)]
        rate = rng.uniform(0.75, 0.92)
        friday = rng.uniform(0.8, 1.0)
        weekend = rng.uniform(0, 0.04)
        present = np.array(
            [
                weekend if c else rate * (friday if d.weekday() == 4 else 1.0)
                for c, d in zip(closed, dates, strict=True)
            ]
        )
        begin = rng.uniform(7.5, 9.5)
        profile = _occupancy(*_sessions(rng, 20_000, begin, timeout), 48) / 20_000
        counts = rng.binomial(members, present)
        local_clock_hour = ((np.arange(n) + offset) % 24).astype(int)
        for d, count in enumerate(counts):
            days_sessions = _occupancy(*_sessions(rng, int(count), begin, timeout), 48)
            idx = np.flatnonzero(day_index == d)
            running[idx] += days_sessions[local_clock_hour[idx]]
            later = np.flatnonzero(day_index == d + 1)
            running[later] += days_sessions[24 + local_clock_hour[later]]
        expected += members * present[day_index] * profile[local_clock_hour]
        previous = np.concatenate([[present[0]], present[:-1]])[day_index]
        expected += members * previous * profile[24 + local_clock_hour]
        open_day = ~np.array(closed)[day_index]
        working |= open_day & (local_hour >= 9) & (local_hour < 17)
        if personal:
            for d, day in enumerate(dates):
                if not (day.weekday() == 0 and 15 <= day.day <= 21):
                    continue
                nights = [k for k in range(d, d + 14) if k < len(dates)]
                hours = int(rng.integers(1, 3))
                per_hour = members * hours / (14 * 5)
                chosen = rng.integers(0, 14, members)
                starts = rng.integers(0, 6 - hours, members)
                for k, night in enumerate(nights):
                    idx = np.flatnonzero(day_index == night)
                    night_hours = local_clock_hour[idx]
                    maintenance[idx[night_hours < 5]] += per_hour
                    for s in starts[chosen == k]:
                        on = idx[(night_hours >= s) & (night_hours < s + hours)]
                        maintenance_actual[on] += 1
    if personal:
        price = rng.uniform(0.17, 0.6)
        first = (cal.day_of_month == 1) & (cal.hour == 0)
        fee = (users - always_on) * rng.uniform(7, 20) + always_on * rng.uniform(25, 80)
        monthly = np.where(first, fee, 0.0)
        expected_cost = price * (expected + maintenance) + monthly
        actual_cost = price * (running + maintenance_actual) + monthly
        maintenance_cost = price * maintenance
    else:
        per_host = int(rng.integers(4, 17))
        hosts = int(np.ceil(users / per_host))
        local_hour, local_day = plan_clock
        ramp_up, ramp_down = int(rng.integers(6, 9)), int(rng.integers(18, 21))
        peak = (local_day < 5) & (local_hour >= ramp_up) & (local_hour < ramp_down)
        low = np.where(peak, np.ceil(hosts * rng.uniform(0.1, 0.4)), float(rng.integers(0, 2)))
        moved = rng.uniform(0, 1, n)
        need = billed_count(np.maximum(np.ceil(running / per_host), low), moved)
        expect = billed_count(np.maximum(np.ceil(expected / per_host), low), np.full(n, 0.5))
        price = rng.uniform(0.4, 2.0)
        monthly = np.zeros(n)
        expected_cost, actual_cost = price * expect, price * need
        maintenance_cost = np.zeros(n)
    on = working & (expected_cost > 0)
    scale = _working_scale(rng, cal, expected_cost, on if on.any() else expected_cost > 0)
    mask, noise = _ratio(actual_cost, expected_cost)
    return DesktopShape(
        expected_cost * scale,
        mask,
        noise,
        monthly=monthly * scale,
        maintenance=maintenance_cost * scale,
        working=working,
    )
