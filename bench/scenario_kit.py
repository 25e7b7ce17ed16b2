"""Scenario kit of bench/independent.py: labels, the calendar, the shape primitives, the
anomaly injector and the generator shared by its tuning and held-out families."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np

KINDS = ("spike", "level_up", "level_down", "ramp", "new_spend", "drop")
KIND_WEIGHTS = np.array([0.22, 0.13, 0.13, 0.16, 0.14, 0.22])
ANOMALY_SHARE = 0.5  # of the series in a family carry one labelled anomaly
ACTIVE_SHARE = 0.3  # a window is "active" when its normal cost is >= this x typical


@dataclass(frozen=True)
class Label:
    """One anomaly: window indices ``[start, end)``, caught within ``start + tolerance``."""

    series: str
    kind: str
    start: int
    end: int
    tolerance: int


@dataclass(frozen=True)
class Dataset:
    family: str
    start: datetime
    step: timedelta
    warmup: int  # windows without labels at the start
    names: list[str]
    values: np.ndarray  # series x windows, money; NaN: no row for that window
    labels: list[Label]

    @property
    def windows(self) -> int:
        return int(self.values.shape[1])


# ---------------------------------------------------------------------------------------
# Generation. A series is built as its normal cost (level, trend, seasonality, calendar
# effects), a mask of windows that cost nothing, and multiplicative noise; a labelled
# anomaly changes the normal cost (and the mask) before the noise is applied.


@dataclass
class Shape:
    normal: np.ndarray  # noise-free cost per window
    mask: np.ndarray  # 0/1: windows that cost nothing are 0
    noise: np.ndarray  # multiplicative noise per window


@dataclass(frozen=True)
class Calendar:
    start: datetime
    step: timedelta
    windows: int

    @property
    def hourly(self) -> bool:
        return self.step == timedelta(hours=1)

    @property
    def per_day(self) -> int:
        return int(timedelta(days=1) / self.step)

    @cached_property
    def times(self) -> list[datetime]:
        return [self.start + i * self.step for i in range(self.windows)]

    @cached_property
    def hour(self) -> np.ndarray:
        return np.array([t.hour for t in self.times])

    @cached_property
    def weekday(self) -> np.ndarray:
        return np.array([t.weekday() for t in self.times])

    @cached_property
    def day_of_month(self) -> np.ndarray:
        return np.array([t.day for t in self.times])

    def on_dates(self, dates: Iterable[date]) -> np.ndarray:
        wanted = set(dates)
        return np.array([t.date() in wanted for t in self.times])

    @cached_property
    def frac(self) -> np.ndarray:
        """Position in the span, 0 .. 1."""
        return np.arange(self.windows) / max(self.windows - 1, 1)


def typical_level(rng: np.random.Generator, cal: Calendar) -> float:
    """Typical cost per window: lognormal around 30/h, at least 5/h (so that a 40 % change
    is above the rules' min_delta of 1)."""
    hourly = float(np.clip(rng.lognormal(np.log(30), 1.0), 5, 3000))
    return hourly * (1 if cal.hourly else 24)


def diurnal_curve(rng: np.random.Generator, cal: Calendar, amp_max: float) -> np.ndarray:
    if not cal.hourly:
        return np.ones(cal.windows)
    amp, peak = rng.uniform(0, amp_max), rng.uniform(0, 24)
    return 1 + amp * np.cos(2 * np.pi * (cal.hour - peak) / 24)


def weekend_factor(
    cal: Calendar, factor: float, extra_days: np.ndarray | None = None
) -> np.ndarray:
    off = cal.weekday >= 5
    if extra_days is not None:
        off = off | extra_days
    return np.where(off, factor, 1.0)


def log_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    return np.exp(rng.normal(-sigma * sigma / 2, sigma, n))


def t_noise(rng: np.random.Generator, n: int, df: float, scale: float, phi: float) -> np.ndarray:
    """Student-t in log space with AR(1) persistence, truncated to (0.53x, 1.9x): heavy
    tailed, yet never an unlabelled doubling."""
    shocks = rng.standard_t(df, n) * scale
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + shocks[i]
        out[i] = acc
    return np.exp(np.clip(out, -np.log(1.9), np.log(1.9)))


def zero_inflation(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    return (rng.random(n) >= rng.uniform(low, high)).astype(float)


def intermittent_mask(
    rng: np.random.Generator, n: int, on_mean: float, off_mean: float
) -> np.ndarray:
    """On/off runs with geometric lengths (means in windows)."""
    mask = np.zeros(n)
    i, on = 0, bool(rng.random() < on_mean / (on_mean + off_mean))
    while i < n:
        length = int(rng.geometric(1 / (on_mean if on else off_mean)))
        if on:
            mask[i : i + length] = 1
        i += length
        on = not on
    return mask


# Holidays (a weekday that looks like a Sunday) and month starts in the families' spans.
HOLIDAYS = [
    date(2026, 1, 1),
    date(2026, 1, 19),
    date(2026, 2, 16),
    date(2026, 4, 3),
    date(2026, 4, 6),
    date(2026, 5, 1),
    date(2026, 5, 25),
    date(2026, 7, 3),
]


def export_outages(
    rng: np.random.Generator, values: np.ndarray, labels: list[Label], count: int, longest: int
) -> tuple[np.ndarray, list[Label]]:
    """Hours the export never delivered: ``count`` runs of 1..``longest`` windows in which
    no series has a row (NaN here; the CSV is split around them, so the source does not
    cover them and they are unknown, not zero). A label's tolerance grows by the hidden
    windows in it; a label whose anomalous windows are all hidden is dropped.

    Only whole-export outages are missing data: inside a window the export covers, a
    series without a row spent zero (the product's contract, as in real billing exports
    that omit zero rows), so a gap in one series alone would be a drop to zero."""
    n = values.shape[1]
    hidden = np.zeros(n, dtype=bool)
    for _ in range(count):
        begin = int(rng.integers(1, n - longest - 1))
        hidden[begin : begin + int(rng.integers(1, longest + 1))] = True
    out = values.copy()
    out[:, hidden] = np.nan
    kept = []
    for label in labels:
        if hidden[label.start : label.end].all():
            continue
        tol = label.tolerance
        while tol < label.tolerance + int(hidden[label.start : label.start + tol].sum()):
            tol += 1
        kept.append(Label(label.series, label.kind, label.start, label.end, tol))
    return out, kept


Injector = Callable[[np.random.Generator, Shape, str, str, Calendar, int], Label | None]


@dataclass(frozen=True)
class Family:
    name: str
    about: str
    shape: Callable[[np.random.Generator, Calendar], Shape]
    start: datetime
    step: timedelta
    weeks: int
    held_out: bool = False  # kept out of the default run: report on it, never tune on it
    kinds: tuple[float, ...] | None = None  # weights over KINDS; None: KIND_WEIGHTS
    inject: Injector | None = None  # None: inject_anomaly
    outages: tuple[int, int] | None = None  # export outages: how many, longest (windows)

    @property
    def hourly(self) -> bool:
        return self.step == timedelta(hours=1)


TOLERANCE_HOURS = {
    "spike": 12,
    "level_up": 12,
    "level_down": 12,
    "ramp": 24,
    "new_spend": 12,
    "drop": 12,
}
TOLERANCE_DAYS = {"spike": 2, "level_up": 4, "level_down": 4, "ramp": 7, "new_spend": 4, "drop": 4}
"""Base tolerance per kind, in windows (hourly / daily data)."""


def inject_anomaly(
    rng: np.random.Generator, shape: Shape, kind: str, name: str, cal: Calendar, warmup: int
) -> Label | None:
    """Change ``shape`` in place to carry one ``kind`` anomaly; its label (None when the
    series has no room for it, e.g. no active window after the chosen start)."""
    n = cal.windows
    hourly = cal.hourly
    typical_pool = shape.normal[(shape.mask > 0) & (shape.normal > 0)]
    typical = float(np.median(typical_pool)) if typical_pool.size else 0.0
    active = (shape.normal * shape.mask) >= ACTIVE_SHARE * typical
    tail = 4 * cal.per_day if hourly else 21
    start = int(rng.integers(warmup, n - tail))
    tol = (TOLERANCE_HOURS if hourly else TOLERANCE_DAYS)[kind]
    end = n
    if kind == "new_spend":
        later = np.flatnonzero(active[start:])
        if later.size == 0:
            return None
        start += int(later[0])
        shape.normal[:start] = 0.0
    elif kind == "spike":
        length = int(rng.integers(1, 7)) if hourly else int(rng.integers(1, 3))
        end = start + length
        factor = rng.uniform(3, 10)
        ref = np.maximum(shape.normal[start:end], typical)
        shape.normal[start:end] = factor * ref
        shape.mask[start:end] = 1.0
    else:
        third = np.flatnonzero(active[start:])
        if third.size < 3:
            return None
        tol = max(tol, int(third[2]) + 1)
        if kind in ("level_up", "level_down"):
            change = rng.uniform(0.4, 0.8)
            shape.normal[start:] *= 1 + change if kind == "level_up" else 1 - change
        elif kind == "ramp":
            length = int(rng.integers(24, 73)) if hourly else int(rng.integers(3, 11))
            top = rng.uniform(2, 4)
            steps = np.clip((np.arange(n - start) + 1) / length, 0, 1)
            shape.normal[start:] *= 1 + (top - 1) * steps
        else:  # drop: to 0-30 % for >= 6 h (2 days daily), over >= 6 active windows
            length = int(rng.integers(6, 49)) if hourly else int(rng.integers(2, 8))
            need = 6 if hourly else 2
            covered = np.flatnonzero(active[start:])
            if covered.size < need:
                return None
            end = min(n, start + max(length, int(covered[need - 1]) + 1))
            shape.normal[start:end] *= rng.uniform(0, 0.3)
    return Label(name, kind, start, end, tol)


def generate(family: Family, seed: int, n_series: int) -> Dataset:
    """The family's data and labels; the same (family, seed, n_series) gives the same set."""
    # one stream per family, independent of which other families run
    rng = np.random.default_rng([seed, *family.name.encode()])
    windows = int(timedelta(weeks=family.weeks) / family.step)
    cal = Calendar(family.start, family.step, windows)
    warmup = int(timedelta(weeks=3 if family.hourly else 8) / family.step)
    weights = KIND_WEIGHTS if family.kinds is None else np.array(family.kinds)
    names, rows, labels = [], [], []
    for i in range(n_series):
        name = f"{family.name}-{i:04d}"
        shape = family.shape(rng, cal)
        label = None
        if rng.random() < ANOMALY_SHARE:
            kind = str(rng.choice(KINDS, p=weights / weights.sum()))
            label = (family.inject or inject_anomaly)(rng, shape, kind, name, cal, warmup)
        if label is not None:
            labels.append(label)
        names.append(name)
        rows.append(np.round(shape.normal * shape.mask * shape.noise, 4))
    values = np.array(rows)
    if family.outages:  # a stream of its own: the series do not move with the outages
        count, longest = family.outages
        outage_rng = np.random.default_rng([seed, *family.name.encode(), 0])
        values, labels = export_outages(outage_rng, values, labels, count, longest)
    return Dataset(family.name, family.start, family.step, warmup, names, values, labels)


# ---------------------------------------------------------------------------------------
# Through the product: CSV + config -> `alerter backtest --json` -> incidents.
