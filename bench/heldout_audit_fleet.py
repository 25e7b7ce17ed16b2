"""Hourly audit families of bench/independent.py (``--audit``; see bench/heldout_audit.py):
an IoT fleet's messaging and a media transcoding pipeline, written from how those bills
behave, without reading the detectors, their rules or any score."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from bench.heldout_audit import US_EU, _bump, _ratio, _walk, compound_poisson, local_clock
from bench.heldout_sealed import _scaled
from bench.scenario_kit import Calendar, Shape

# ---------------------------------------------------------------------------------------
# iot_fleet

IOT_TIERS = ((1e9, 1.0), (4e9, 0.8), (None, 0.7))
"""Messaging price per million messages (each counted in 5 KB blocks) by the month's
running count, (width, price): the first billion at 1.00, the next four at 0.80, then
0.70 (public list prices)."""
MONTHLY_CAP = 4.5e9
"""The busiest fleet's expected blocks in a month: it reaches the second tier (the 1st
costs at most 1.25x the day before) but never the third."""


def tier_total(count: np.ndarray) -> np.ndarray:
    """The cost of the first ``count`` message blocks of a month (IOT_TIERS)."""
    out = np.zeros_like(count, dtype=float)
    below = 0.0
    for width, price in IOT_TIERS:
        top = np.inf if width is None else below + width
        out += (np.clip(count, below, top) - below) * price / 1e6
        below = top
    return out


def bill_tiered(blocks: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Each window's messaging cost: its ``blocks`` priced at the tiers of the running
    count of its month (``month``: any label that changes at the month's first window)."""
    running = np.zeros(blocks.size)
    for m in np.unique(month):
        on = month == m
        running[on] = np.cumsum(blocks[on])
    return np.asarray(tier_total(running) - tier_total(running - blocks), dtype=float)


@dataclass
class IotShape(Shape):
    """An IoT fleet's messaging with the parts a test checks."""

    kind: str = "telemetry"
    price: np.ndarray = field(default_factory=lambda: np.zeros(0))  # expected price per block
    firmware: np.ndarray = field(default_factory=lambda: np.zeros(0))  # rollout factor
    devices: np.ndarray = field(default_factory=lambda: np.zeros(0))  # registered devices


def rollout(n: int, at: int, effect: float, waves: list[int], back: int | None) -> np.ndarray:
    """The factor on messages of a staged firmware rollout from window ``at``: 1 %, 10 %,
    50 %, then all devices at the windows in ``waves`` (hours after ``at``) carry
    ``effect``; rolled back to none over 24 hours from ``back`` (hours after ``at``)."""
    share = np.zeros(n)
    for part, wave in zip((0.01, 0.1, 0.5, 1.0), [0, *waves], strict=True):
        share[min(n, at + wave) :] = part
    if back is not None and at + back < n:
        begin = at + back
        share[begin:] = share[begin] * np.clip(1 - (np.arange(n - begin) + 1) / 24, 0, 1)
    return 1 + (effect - 1) * share


def shape_iot(rng: np.random.Generator, cal: Calendar) -> IotShape:
    """An IoT fleet's messaging bill: messages per million, each counted in 5 KB blocks
    (payloads of 0.3-12 KB: 1-3 blocks), at IOT_TIERS of the month's running count (so
    the same traffic costs less from the day a large fleet passes a billion blocks, and
    up to 1.25x again from 00:00 UTC on the 1st), connection minutes (0.08 per million)
    and, in half, rule actions on 20-100 % of the messages. Fleets of 200-150,000
    devices. Telemetry (45 %): meters and sensors report every 1, 5, 10, 15 or 60
    minutes (0.5-3 % offline at random), half also upload diagnostics at one local hour
    (spread over 1-2 hours, +20-80 % of an hour). Smart-home devices (35 %): a heartbeat
    every 15-60 minutes plus events from a Poisson stream that follows the household's
    local day (morning and evening peaks, weekends later). Vehicle trackers (20 %): report
    every 1-5 minutes only while the ignition is on, local weekday working hours (Saturday
    at 20-50 %, Sunday 0-10 %, nights 0-0.2 %), connected only then, so a small fleet's
    night is often a real zero. New devices are activated in 1-3 shipments a month (+1-6
    % each, over 1-3 days); 0-3 % are decommissioned over the span. 60 % roll out a
    firmware once that changes messages by -20 .. +20 % in stages (1 %, 10 %, 50 %, all
    over 2-10 days), rolled back over a day after the 50 % stage one time in five. Regional
    network outages (0-3) take 5-25 % of the devices offline for 1-6 hours; telemetry
    devices then flush what they buffered over the next 1-2 hours (below 1.8x). Hourly
    only."""
    n = cal.windows
    kind = str(rng.choice(["telemetry", "home", "trackers"], p=[0.45, 0.35, 0.2]))
    zone = str(rng.choice(US_EU))
    clock = local_clock(cal, zone)
    devices = np.full(n, float(np.exp(rng.uniform(np.log(200), np.log(150_000)))))
    months = np.array([t.month for t in cal.times])
    for month in np.unique(months):
        days = np.flatnonzero(months == month)
        for at in rng.choice(days, int(rng.integers(1, 4)), replace=False):
            length = int(rng.integers(24, 73))
            ramp = np.clip((np.arange(n) - at + 1) / length, 0, 1)
            devices = devices * (1 + rng.uniform(0.01, 0.06) * ramp)
    devices = devices * (1 - rng.uniform(0, 0.03) * cal.frac)
    blocks = float(rng.choice([1, 1, 1, 2, 3]))
    online = np.full(n, 1 - rng.uniform(0.005, 0.03) if kind == "telemetry" else 1.0)
    if kind == "telemetry":
        rate = np.full(n, 60 / float(rng.choice([1, 5, 10, 15, 60])))
        if rng.random() < 0.5:
            hours = int(rng.integers(1, 3))
            upload = (clock.hour - int(rng.integers(0, 24))) % 24 < hours
            rate = rate + upload * rng.uniform(0.2, 0.8) * rate / hours
    elif kind == "home":
        heartbeat = 60 / float(rng.choice([15, 30, 60]))
        weekend = clock.weekday >= 5
        morning = _bump(clock.hour, np.where(weekend, 9.0, 7.0), 1.2)
        evening = _bump(clock.hour, rng.uniform(19, 21), rng.uniform(1.5, 2.5))
        rate = heartbeat + rng.uniform(2, 30) * (0.05 + 0.5 * morning + evening)
    else:
        rate = np.full(n, 60 / float(rng.choice([1, 2, 5])))
        day = np.select(
            [clock.weekday < 5, clock.weekday == 5],
            [1.0, rng.uniform(0.2, 0.5)],
            rng.uniform(0, 0.1),
        )
        working = (clock.hour >= 6) & (clock.hour < 18)
        online = np.where(working, day * rng.uniform(0.6, 0.9), rng.uniform(0, 0.002))
    firmware = np.ones(n)
    if rng.random() < 0.6:
        at = int(rng.integers(0, n - 48))
        waves = sorted(int(w) for w in rng.integers(24, int(rng.integers(48, 241)), 3))
        back = None
        if rng.random() < 0.2:
            back = waves[1] + int(rng.integers(1, max(2, waves[2] - waves[1])))
        effect = 1 + float(rng.choice([-1, 1])) * rng.uniform(0.05, 0.2)
        firmware = rollout(n, at, effect, waves, back)
    need = float((devices * online * rate * firmware * blocks).sum()) * 730 / n
    if need > MONTHLY_CAP:  # the busiest fleets stay inside the second tier
        devices = devices * MONTHLY_CAP / need
    expected_msgs = devices * online * rate * firmware
    active = rng.binomial(np.round(devices).astype(int), online).astype(float)
    if kind == "home":  # a device's events are a Poisson stream of their own
        sent = rng.poisson(active * rate * firmware).astype(float)
    else:
        sent = active * rate * firmware
    connected = devices * online * 60
    connected_actual = active * 60
    for begin in rng.integers(0, n - 8, int(rng.integers(0, 4))):
        hours, share = int(rng.integers(1, 7)), rng.uniform(0.05, 0.25)
        out = slice(begin, begin + hours)
        missed = float(sent[out].sum()) * share
        sent[out] *= 1 - share
        connected_actual[out] *= 1 - share
        if kind == "telemetry":
            spread = int(rng.integers(1, 3))
            after = slice(begin + hours, begin + hours + spread)
            sent[after] += np.minimum(missed / spread, 0.8 * expected_msgs[after])
    rules = rng.uniform(0.2, 1.0) * 0.3 if rng.random() < 0.5 else 0.0
    month_id = np.array([t.year * 12 + t.month for t in cal.times])
    expected_blocks = expected_msgs * blocks
    extras = connected * 0.08 + expected_msgs * rules
    expected = bill_tiered(expected_blocks, month_id) + extras / 1e6
    actual = bill_tiered(sent * blocks, month_id) + (connected_actual * 0.08 + sent * rules) / 1e6
    price = (bill_tiered(expected_blocks, month_id) / np.maximum(expected_blocks, 1e-12)) * 1e6
    scale = _scaled(rng, cal, expected)
    mask, noise = _ratio(actual, expected)
    return IotShape(
        expected * scale,
        mask,
        noise,
        kind=kind,
        price=price,
        firmware=firmware,
        devices=devices,
    )


# ---------------------------------------------------------------------------------------
# media_transcode

RENDITION_PRICES = {"sd": 0.0075, "hd": 0.015, "uhd": 0.03}
"""On-demand transcoding price per output minute by resolution (public list prices)."""
YEAR_END = [date(2026, 12, 24) + timedelta(days=k) for k in range(9)]  # 24 Dec - 1 Jan
HIATUS = [date(2026, 12, 21) + timedelta(days=k) for k in range(14)]  # shows off air


def drain(work: np.ndarray, capacity: float) -> np.ndarray:
    """Work processed per window by a queue that takes up to ``capacity`` a window, first
    in first out: what arrives beyond it waits for the next windows."""
    out = np.zeros(work.size)
    backlog = 0.0
    for i, arrived in enumerate(work):
        backlog += arrived
        out[i] = min(backlog, capacity)
        backlog -= out[i]
    return out


@dataclass
class MediaShape(Shape):
    """A transcoding bill with the parts a test checks."""

    kind: str = "ugc"
    capacity: float = 0.0  # input minutes the queue processes per window
    reserved: float = 0.0  # flat reserved-slot cost per window (0: on demand only)
    shows: np.ndarray = field(default_factory=lambda: np.zeros(0))  # expected show minutes


def shape_media(rng: np.random.Generator, cal: Calendar) -> MediaShape:
    """A video platform's transcoding, billed per output minute: each input minute makes
    an adaptive-bitrate ladder of 3-6 renditions priced by resolution (RENDITION_PRICES),
    at the hour the job finishes. Jobs go through a queue that processes 1.5-4x the
    busiest expected hour (user uploads) or 0.3-1x a show's delivery, so a batch
    spreads over the next hours. User uploads (50 %): 20-3,000 uploads at the busiest
    hour of a consumer day in the audience's time zone (evening peak, weekends at
    1.1-1.4), lognormal lengths (median 0.5-8 minutes, log sigma 0.8-1.5, at most 30-120
    minutes): a heavy-tailed compound Poisson; 24 Dec - 1 Jan at 1.1-1.4. Studios (30 %):
    1-6 shows, each an episode of 22-60 minutes (1.5-3 input versions) delivered at a
    fixed local weekday and hour, weekly or (30 %) every other week, 5 % of them 1-2
    hours late, most off air from 21 Dec to 3 Jan; in 60 % a news feed of short clips on
    weekdays 08-20 h. E-learning (20 %): lectures of 5-60 minutes uploaded on local
    weekdays 09-17 h (weekends 0-5 %, 24 Dec - 1 Jan at 10-30 %), so nights are mostly
    real zeros. 20 % of the uploaders and studios buy reserved transcoding slots (a flat
    hourly cost for 30-80 % of the queue, on-demand overflow above it). 20 % of the
    studios migrate their back catalogue for 1-3 weeks (+10-20 % of a typical hour
    through the queue). Hourly only."""
    n = cal.windows
    kind = str(rng.choice(["ugc", "studio", "elearning"], p=[0.5, 0.3, 0.2]))
    zone = str(rng.choice(US_EU))
    clock = local_clock(cal, zone)
    ladder = rng.choice(["sd", "hd", "hd", "uhd"], int(rng.integers(3, 7)))
    per_minute = sum(RENDITION_PRICES[str(r)] for r in ladder)
    shows = np.zeros(n)
    if kind == "ugc":
        weekend = clock.weekday >= 5
        floor = rng.uniform(0.1, 0.25)
        curve = floor + _bump(clock.hour, rng.uniform(19, 22), rng.uniform(3, 5))
        curve = curve * np.where(weekend, rng.uniform(1.1, 1.4), 1.0)
        curve = curve * np.where(clock.on_dates(YEAR_END), rng.uniform(1.1, 1.4), 1.0)
        uploads = float(np.exp(rng.uniform(np.log(60), np.log(3000)))) * curve / curve.max()
        median, sigma = rng.uniform(0.5, 8), rng.uniform(0.8, 1.2)
        longest = rng.uniform(20, 60)
        sample = np.minimum(rng.lognormal(np.log(median), sigma, 20_000), longest)
        expected_in = uploads * float(sample.mean())
        counts = rng.poisson(uploads)
        arrived = compound_poisson(rng, counts, median, sigma, longest)
        capacity = rng.uniform(1.5, 4) * float(expected_in.max())
    elif kind == "elearning":
        open_day = (clock.weekday < 5) & ~clock.on_dates(YEAR_END)
        hours = (clock.hour >= 9) & (clock.hour < 17)
        day = np.where(open_day, 1.0, rng.uniform(0, 0.05))
        day = np.where(clock.on_dates(YEAR_END), rng.uniform(0.1, 0.3), day)
        uploads = rng.uniform(3, 30) * hours * day
        median = rng.uniform(5, 30)
        sample = np.minimum(rng.lognormal(np.log(median), 0.5, 20_000), 60)
        expected_in = uploads * float(sample.mean())
        counts = rng.poisson(uploads)
        arrived = compound_poisson(rng, counts, median, 0.5, 60)
        capacity = rng.uniform(1.5, 4) * float(expected_in.max())
    else:
        expected_in = np.zeros(n)
        arrived = np.zeros(n)
        if rng.random() < 0.6:
            day_hours = (clock.weekday < 5) & (clock.hour >= 8) & (clock.hour < 20)
            clips = rng.uniform(2, 10) * day_hours.astype(float)
            expected_in = clips * 3.0
            arrived = compound_poisson(rng, rng.poisson(clips), 2.6, 0.5)
        biggest = 0.0
        off_air = clock.on_dates(HIATUS)
        for _ in range(int(rng.integers(1, 7))):
            weekday, hour = int(rng.integers(0, 5)), int(rng.integers(9, 19))
            every = 2 if rng.random() < 0.3 else 1
            rests = rng.random() < 0.8
            minutes = rng.uniform(22, 60) * rng.uniform(1.5, 3)
            biggest = max(biggest, minutes)
            slots = np.flatnonzero((clock.weekday == weekday) & (np.floor(clock.hour) == hour))
            for k, slot in enumerate(slots.tolist()):
                if k % every or (rests and off_air[slot]):
                    continue
                shows[slot] += minutes
                late = int(rng.integers(1, 3)) if rng.random() < 0.05 else 0
                arrived[min(n - 1, slot + late)] += minutes * rng.uniform(0.9, 1.1)
        expected_in = expected_in + shows
        capacity = rng.uniform(0.3, 1.0) * biggest
        if rng.random() < 0.2:
            typical = float(np.mean(expected_in))
            begin = int(rng.integers(0, n - 168))
            end = begin + int(rng.integers(7, 22)) * 24
            migration = np.zeros(n)
            migration[begin:end] = rng.uniform(0.1, 0.2) * typical
            expected_in = expected_in + migration
            arrived = arrived + migration * rng.uniform(0.95, 1.05, n)
        capacity = max(capacity, 1.2 * float(expected_in[shows == 0].max(initial=0.0)))
    processed_expected = drain(expected_in, capacity)
    processed = drain(arrived, capacity)
    reserved = 0.0
    expected = processed_expected * per_minute
    actual = processed * per_minute
    if kind != "elearning" and rng.random() < 0.2:
        covered = rng.uniform(0.3, 0.8) * capacity
        reserved = covered * per_minute * rng.uniform(0.4, 0.7)
        expected = reserved + np.maximum(processed_expected - covered, 0) * per_minute
        actual = reserved + np.maximum(processed - covered, 0) * per_minute
    # encoder speed and the upload mix drift a little from hour to hour
    actual = reserved + (actual - reserved) * _walk(rng, n, 0.01, 0.5, 0.05)
    scale = _scaled(rng, cal, expected)
    mask, noise = _ratio(actual, expected)
    return MediaShape(
        expected * scale,
        mask,
        noise,
        kind=kind,
        capacity=capacity,
        reserved=reserved * scale,
        shows=shows * per_minute * scale,
    )
