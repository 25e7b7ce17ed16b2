"""The blind group of bench/independent.py (bench/heldout_blind.py and
bench/heldout_blind_daily.py): its registry, its generated data and its labels. No test
runs the benchmark on it or reads a score."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest

from bench.heldout_blind import (
    CiShape,
    DesktopShape,
    GatewayShape,
    StreamShape,
    _occupancy,
    _sessions,
    billed_count,
    load_balancer_units,
    run_costs,
    shape_ci_runners,
    shape_desktops_vdi,
    shape_nat_lb,
    shape_streaming,
)
from bench.heldout_blind_daily import ServiceShape, shape_account_services, support_fee
from bench.heldout_sealed import inject_sealed
from bench.independent import (
    AUDIT,
    BLIND,
    FAMILIES,
    FRESH,
    HELD_OUT,
    SEALED,
    TUNING,
    choose_families,
    main,
)
from bench.scenario_kit import (
    KINDS,
    TOLERANCE_DAYS,
    TOLERANCE_HOURS,
    Calendar,
    Shape,
    generate,
)

SHAPES: dict[str, Callable[[np.random.Generator, Calendar], Shape]] = {
    "ci_runners": shape_ci_runners,
    "streaming": shape_streaming,
    "nat_lb": shape_nat_lb,
    "desktops_vdi": shape_desktops_vdi,
    "daily_account_services": shape_account_services,
}


def _cal(name: str) -> Calendar:
    family = FAMILIES[name]
    return Calendar(family.start, family.step, int(timedelta(weeks=family.weeks) / family.step))


def _cost(shape: Shape) -> np.ndarray:
    return np.asarray(shape.normal * shape.mask * shape.noise, dtype=float)


# --- the group ----------------------------------------------------------------------


def test_blind_families_are_a_group_of_their_own() -> None:
    assert list(SHAPES) == BLIND
    assert not set(BLIND) & (set(HELD_OUT) | set(TUNING) | set(FRESH) | set(SEALED))
    groups = set(HELD_OUT) | set(TUNING) | set(FRESH) | set(SEALED) | set(BLIND) | set(AUDIT)
    assert groups == set(FAMILIES)
    assert choose_families(None, blind=True) == BLIND
    assert choose_families("", blind=True) == BLIND
    assert choose_families("nat_lb", blind=True) == ["nat_lb"]
    assert choose_families(None) == TUNING
    assert choose_families(None, sealed=True) == SEALED
    assert [FAMILIES[name].hourly for name in BLIND].count(False) == 1
    starts = [FAMILIES[name].start for name in FAMILIES]
    for name in BLIND:
        family = FAMILIES[name]
        assert family.shape is SHAPES[name]
        assert family.held_out  # never in the default run
        assert family.inject is inject_sealed
        assert (family.kinds, family.outages) == (None, None)
        assert family.start.weekday() == 0
        assert family.start.year == 2026
        assert starts.count(family.start) == 1
        assert family.weeks == (8 if family.hourly else 30)


@pytest.mark.parametrize(
    "other", [["--held-out"], ["--fresh"], ["--sealed"], ["--families", "nat_lb"]]
)
def test_blind_flag_excludes_the_other_choices(other: list[str]) -> None:
    # argparse refuses before anything is generated or run
    with pytest.raises(SystemExit) as exit_info:
        main(["--blind", *other])
    assert exit_info.value.code == 2


def test_the_blind_flag_is_documented_as_a_run_for_the_final_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--blind run the blind families: once, for the final report" in text
    assert "never tune on them" in text


@pytest.mark.parametrize("name", list(SHAPES))
def test_blind_family_is_seeded_and_labels_several_kinds_after_the_warmup(name: str) -> None:
    family = FAMILIES[name]
    one = generate(family, 5, 80)
    again = generate(family, 5, 80)
    other = generate(family, 6, 80)
    assert np.array_equal(one.values, again.values)
    assert one.labels == again.labels
    assert not np.array_equal(one.values, other.values)
    assert not np.isnan(one.values).any()  # no export outages in this group
    assert np.all(one.values >= 0)
    kinds = {label.kind for label in one.labels}
    assert kinds <= set(KINDS)
    assert len(kinds) >= 4
    assert len(one.labels) >= 25  # about half of 80 series carry one
    assert len({label.series for label in one.labels}) == len(one.labels)
    base = TOLERANCE_HOURS if family.hourly else TOLERANCE_DAYS
    rows = dict(zip(one.names, one.values, strict=True))
    for label in one.labels:
        assert one.warmup <= label.start < label.end <= one.windows
        assert label.tolerance >= base[label.kind]
        row = rows[label.series]
        if label.kind == "new_spend":
            assert np.sum(row[: label.start]) == 0
            assert np.max(row[label.start : label.start + label.tolerance]) > 0


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("seed", range(3))
def test_blind_anomalies_keep_the_groups_magnitudes(name: str, seed: int) -> None:
    cal = _cal(name)
    warmup = int(timedelta(weeks=3 if cal.hourly else 8) / cal.step)
    rng = np.random.default_rng(seed)
    for kind in KINDS:
        for _ in range(4):
            shape = SHAPES[name](rng, cal)
            on = (shape.mask > 0) & (shape.normal > 0)
            typical = float(np.median(shape.normal[on]))
            before = shape.normal.copy()
            label = inject_sealed(rng, shape, kind, "s", cal, warmup)
            if label is None:
                continue
            assert warmup <= label.start < label.end <= cal.windows
            inside = slice(label.start, label.end)
            ratio = shape.normal[inside] / np.where(before[inside] > 0, before[inside], 1)
            if kind == "spike":
                reference = np.maximum(before[inside], typical)
                cost = _cost(shape)[inside]
                assert np.all(cost >= 3 * reference * (1 - 1e-9))
                assert np.all(cost <= 10 * reference * (1 + 1e-9))
                assert 1 <= label.end - label.start <= (6 if cal.hourly else 2)
            elif kind in ("level_up", "level_down"):
                low, high = (1.4, 1.8) if kind == "level_up" else (0.2, 0.6)
                moved = ratio[before[inside] > 0]
                assert np.allclose(moved, moved[0])
                assert low - 1e-9 <= moved[0] <= high + 1e-9
            elif kind == "ramp":
                moved = ratio[before[inside] > 0]
                assert np.all(np.diff(moved) >= -1e-9)
                assert 2 - 1e-9 <= moved[-1] <= 4 + 1e-9
            elif kind == "drop":
                assert np.all(ratio <= 0.3 + 1e-9)
            else:
                assert np.all(shape.normal[: label.start] == 0)
                assert shape.normal[label.start] > 0
            untouched = np.ones(cal.windows, dtype=bool)
            if kind == "new_spend":
                untouched[: label.start] = False
            elif kind in ("spike", "drop"):
                untouched[label.start : label.end] = False
            else:
                untouched[label.start :] = False
            assert np.array_equal(shape.normal[untouched], before[untouched])


# --- ci_runners ---------------------------------------------------------------------


def test_run_costs_bill_whole_minutes_and_cache_misses_take_longer() -> None:
    rng = np.random.default_rng(1)
    cached = run_costs(rng, 2000, 3, 4.0, 0.4, 0.0, 2.0)
    assert np.array_equal(cached, np.round(cached))
    assert cached.min() >= 3  # three jobs of at least one started minute
    missed = run_costs(rng, 2000, 3, 4.0, 0.4, 1.0, 2.0)
    assert 1.7 < missed.mean() / cached.mean() < 2.1


@pytest.mark.parametrize("seed", range(3))
def test_ci_nightly_builds_run_at_one_utc_hour_and_workdays_cost_most(seed: int) -> None:
    cal = _cal("ci_runners")
    rng = np.random.default_rng(seed)
    weekdays_only = 0
    for _ in range(12):
        shape = shape_ci_runners(rng, cal)
        assert isinstance(shape, CiShape)
        cost = _cost(shape)
        assert np.all(shape.nightly >= 0)
        hours = set(cal.hour[shape.nightly > 0].tolist())
        assert 1 <= len(hours) <= 2  # one cron hour, a build of 1-2 hours
        assert np.all(cost[shape.nightly > 0] >= 0.85 * shape.nightly[shape.nightly > 0] - 1e-9)
        nights = np.flatnonzero((shape.nightly > 0) & (np.roll(shape.nightly, 1) == 0))
        per_week = nights.size / (cal.windows / 168)
        assert min(abs(per_week - 5), abs(per_week - 7)) < 0.2  # UTC weekdays or daily
        weekdays_only += int(not (shape.nightly[cal.weekday >= 5] > 0).any())
        plain = (shape.nightly == 0) & ~shape.working
        assert np.mean(cost[shape.working]) > 3 * np.mean(cost[plain & (cal.weekday >= 5)])
        assert np.all(cost[shape.mask == 0] == 0)
    assert 0 < weekdays_only < 12


# --- streaming ----------------------------------------------------------------------


def test_billed_count_bills_part_of_the_window_of_a_change() -> None:
    count = np.array([4.0, 4.0, 6.0, 6.0, 3.0])
    moved = np.array([0.0, 0.5, 0.25, 0.5, 0.5])
    assert np.allclose(billed_count(count, moved), [4, 4, 5.5, 6, 4.5])


def test_streaming_provisioned_hours_stay_flat_between_reshards() -> None:
    cal = _cal("streaming")
    rng = np.random.default_rng(2)
    flat = scheduled = 0
    for _ in range(60):
        shape = shape_streaming(rng, cal)
        assert isinstance(shape, StreamShape)
        cost = _cost(shape)
        assert np.all(cost >= shape.provisioned * (1 - 1e-9))
        assert shape.noise.max() <= 1.9
        assert shape.noise.min() > 0.8
        changes = np.count_nonzero(np.diff(shape.provisioned))
        if changes <= 6:  # 0-3 reshards by hand, each with a part-billed window
            flat += 1
            ratio = shape.provisioned / shape.provisioned[0]
            assert np.all((ratio >= 0.7 - 1e-9) & (ratio <= 1.3 + 1e-9))
            steps = shape.provisioned[1:] / shape.provisioned[:-1]
            assert np.all((steps >= 0.75 - 1e-9) & (steps <= 1.25 + 1e-9))
        else:  # scheduled up on local weekday days
            scheduled += 1
            assert shape.provisioned.max() >= 1.4 * shape.provisioned.min()
    assert flat >= 40
    assert scheduled >= 1


# --- nat_lb -------------------------------------------------------------------------


def test_load_balancer_units_are_the_largest_weighted_dimension() -> None:
    dims = np.array([[1.0, 0.2], [0.5, 0.5], [2.0, 0.1], [0.1, 0.1]])
    weights = np.array([1.0, 0.8, 0.4, 1.0])
    assert np.allclose(load_balancer_units(dims, weights), [1.0, 0.4])


def test_gateways_bill_their_fixed_charge_and_nightly_backups() -> None:
    cal = _cal("nat_lb")
    rng = np.random.default_rng(4)
    with_backups = 0
    for _ in range(60):
        shape = shape_nat_lb(rng, cal)
        assert isinstance(shape, GatewayShape)
        cost = _cost(shape)
        assert shape.fixed > 0
        assert np.all(cost >= shape.fixed * (1 - 1e-9))
        assert shape.noise.max() <= 1.9
        assert np.all(shape.normal >= shape.fixed + shape.backups - 1e-9)
        if shape.backups.any():
            with_backups += 1
            starts = np.flatnonzero((shape.backups > 0) & (np.roll(shape.backups, 1) == 0))
            assert len(set(cal.hour[starts].tolist())) == 1  # the same local hour each night
            assert starts.size >= 55  # every night
    assert with_backups >= 5


# --- desktops_vdi -------------------------------------------------------------------


def test_desktop_sessions_bill_whole_hours_until_the_idle_timeout() -> None:
    rng = np.random.default_rng(3)
    first, last = _sessions(rng, 5000, 8.5, 2)
    assert np.array_equal(first, np.round(first))
    assert np.array_equal(last, np.round(last))
    assert np.all(first >= 5)
    assert np.all(last - first >= 3 + 2)  # work and the timeout
    assert np.all(last <= 12 + 12 + 5 + 2 + 1)
    occupancy = _occupancy(first, last, 48)
    assert occupancy.max() <= 5000
    assert occupancy[3] == 0
    assert occupancy[12] > 0.7 * 5000
    assert np.allclose(_occupancy(np.array([1.0]), np.array([3.0]), 4), [0, 1, 1, 0])


@pytest.mark.parametrize("seed", range(3))
def test_desktops_follow_office_hours_with_monthly_fees_and_maintenance_nights(
    seed: int,
) -> None:
    cal = _cal("desktops_vdi")
    first = (cal.day_of_month == 1) & (cal.hour == 0)
    assert first.sum() == 2  # April and May
    rng = np.random.default_rng(seed)
    personal = 0
    for _ in range(8):
        shape = shape_desktops_vdi(rng, cal)
        assert isinstance(shape, DesktopShape)
        cost = _cost(shape)
        assert np.all(shape.monthly[~first] == 0)
        weekend = float(np.mean(cost[(cal.weekday >= 5) & (shape.monthly == 0)]))
        if not shape.monthly.any():  # pooled hosts: the plan keeps 0-1 host off peak
            assert np.mean(cost[shape.working]) >= weekend
            assert not shape.maintenance.any()
        else:  # personal desktops stop when their user leaves
            assert np.median(cost[shape.working]) > 5 * max(weekend, 1e-9)
            personal += 1
            assert np.all(shape.monthly[first] > 0)
            assert np.all(cost[first] >= shape.monthly[first] * (1 - 1e-9))
            nights = np.flatnonzero(shape.maintenance > 0)
            assert nights.size > 0
            # 14 nights from the third Monday, local time: a day either side in UTC
            thirds = [date(2026, 3, 16), date(2026, 4, 20)]
            for i in nights:
                day = cal.times[i].date()
                assert any(-1 <= (day - monday).days <= 14 for monday in thirds)
    assert personal >= 1


# --- daily_account_services ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spend", "fee"),
    [
        (0.0, 100.0),
        (500.0, 100.0),
        (5_000.0, 500.0),
        (10_000.0, 1_000.0),
        (80_000.0, 5_900.0),
        (250_000.0, 14_400.0),
        (300_000.0, 15_900.0),
    ],
)
def test_support_fee_is_tiered_with_a_minimum(spend: float, fee: float) -> None:
    assert support_fee(spend) == pytest.approx(fee)


def test_account_service_lines_post_their_monthly_items_on_the_first() -> None:
    cal = _cal("daily_account_services")
    firsts = cal.day_of_month == 1
    assert firsts.sum() == 7  # February to August
    rng = np.random.default_rng(6)
    seen: dict[str, int] = {}
    plan_flat = 0
    for _ in range(150):
        shape = shape_account_services(rng, cal)
        assert isinstance(shape, ServiceShape)
        cost = _cost(shape)
        assert np.all(cost >= 0)
        assert shape.noise.min() >= 0.4 - 1e-9
        seen[shape.kind] = seen.get(shape.kind, 0) + 1
        monthly_only = not shape.normal[~firsts].any()
        if shape.kind == "support":
            assert monthly_only
            assert np.all(cost[firsts] >= 100)
        if shape.kind == "commitment":
            assert np.array_equal(shape.noise, np.ones(cal.windows))
            if monthly_only:  # a reservation's fee: its hourly rate times the month's hours
                fees = cost[firsts]
                months = [t.month for t, f in zip(cal.times, firsts, strict=True) if f]
                assert fees[months.index(3)] / fees[months.index(4)] == pytest.approx(31 / 30)
                assert fees[months.index(2)] / fees[months.index(3)] == pytest.approx(28 / 31)
            else:
                assert len(np.unique(cost)) <= 2  # flat, renewed at most once
        if shape.kind == "compute":
            floor = cost.min()
            plan_flat += int(np.isclose(cost, floor, rtol=1e-12).sum() >= 20)
    assert set(seen) == {"compute", "metered", "support", "tax", "commitment"}
    assert plan_flat >= 5  # quiet days sit at the savings plan's commitment
