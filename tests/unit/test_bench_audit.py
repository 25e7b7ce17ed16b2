"""The audit group of bench/independent.py (bench/heldout_audit.py,
bench/heldout_audit_fleet.py and bench/heldout_audit_daily.py): its registry, its
generated data and its labels. No test runs the benchmark or a backtest on it or reads a
score."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bench.heldout_audit import (
    BLACK_FRIDAY,
    ZONES,
    PaymentsShape,
    SearchShape,
    compound_poisson,
    dst_periods,
    local_clock,
    ocus,
    shape_payments,
    shape_search,
)
from bench.heldout_audit_daily import (
    PROJECT_HOLIDAYS,
    SUD_N1,
    SUD_N2,
    ProjectShape,
    shape_gcp_project,
    sud_factor,
)
from bench.heldout_audit_fleet import (
    IotShape,
    MediaShape,
    bill_tiered,
    drain,
    rollout,
    shape_iot,
    shape_media,
    tier_total,
)
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
    "search_cluster": shape_search,
    "payments_fees": shape_payments,
    "iot_fleet": shape_iot,
    "media_transcode": shape_media,
    "daily_gcp_projects": shape_gcp_project,
}


def _cal(name: str) -> Calendar:
    family = FAMILIES[name]
    return Calendar(family.start, family.step, int(timedelta(weeks=family.weeks) / family.step))


def _cost(shape: Shape) -> np.ndarray:
    return np.asarray(shape.normal * shape.mask * shape.noise, dtype=float)


def _utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# --- the group ----------------------------------------------------------------------


def test_audit_families_are_a_group_of_their_own() -> None:
    assert list(SHAPES) == AUDIT
    others = set(HELD_OUT) | set(TUNING) | set(FRESH) | set(SEALED) | set(BLIND)
    assert not set(AUDIT) & others
    assert others | set(AUDIT) == set(FAMILIES)
    assert choose_families(None, audit=True) == AUDIT
    assert choose_families("", audit=True) == AUDIT
    assert choose_families("iot_fleet", audit=True) == ["iot_fleet"]
    assert choose_families(None, blind=True) == BLIND
    assert choose_families(None) == TUNING
    assert [FAMILIES[name].hourly for name in AUDIT].count(False) == 1
    starts = [FAMILIES[name].start for name in FAMILIES]
    for name in AUDIT:
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
    "other", [["--held-out"], ["--fresh"], ["--sealed"], ["--blind"], ["--families", "iot_fleet"]]
)
def test_audit_flag_excludes_the_other_choices(other: list[str]) -> None:
    # argparse refuses before anything is generated or run
    with pytest.raises(SystemExit) as exit_info:
        main(["--audit", *other])
    assert exit_info.value.code == 2


def test_the_audit_flag_is_documented_as_a_run_for_the_final_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--audit run the audit families: once, for the final report" in text
    assert "audit: search_cluster, payments_fees, iot_fleet, media_transcode" in text


@pytest.mark.parametrize("name", list(SHAPES))
def test_audit_family_is_seeded_and_labels_several_kinds_after_the_warmup(name: str) -> None:
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
def test_audit_anomalies_keep_the_groups_magnitudes(name: str, seed: int) -> None:
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


# --- local clocks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "change", "before", "after"),
    [
        ("America/New_York", _utc(2026, 3, 8, 7), -5, -4),
        ("America/New_York", _utc(2026, 11, 1, 6), -4, -5),
        ("America/Los_Angeles", _utc(2026, 11, 1, 9), -7, -8),
        ("Europe/Berlin", _utc(2026, 3, 29, 1), 1, 2),
        ("Europe/London", _utc(2026, 10, 25, 1), 1, 0),
        ("Australia/Sydney", _utc(2026, 4, 4, 16), 11, 10),
        ("Australia/Sydney", _utc(2026, 10, 3, 16), 10, 11),
    ],
)
def test_local_clocks_move_at_the_zones_daylight_saving_changes(
    zone: str, change: datetime, before: int, after: int
) -> None:
    cal = Calendar(change - timedelta(hours=3), timedelta(hours=1), 6)
    clock = local_clock(cal, zone)
    assert clock.offset.tolist() == [before] * 3 + [after] * 3
    assert np.allclose(clock.hour, (cal.hour + clock.offset) % 24)


def test_zones_without_daylight_saving_keep_their_offset_and_half_hours() -> None:
    cal = Calendar(_utc(2026, 1, 1), timedelta(hours=1), 24 * 365)
    for zone in ("Asia/Kolkata", "Asia/Tokyo"):
        assert dst_periods(2026, zone) == []
        assert np.all(local_clock(cal, zone).offset == ZONES[zone][0])
    kolkata = local_clock(cal, "Asia/Kolkata")
    assert kolkata.hour[0] == 5.5
    assert kolkata.weekday[19] == 4  # 1 January 2026 19:00 UTC is Friday 00:30 in India


# --- search_cluster -----------------------------------------------------------------


def test_ocus_scale_in_half_units_over_a_minimum_and_hold_before_scaling_down() -> None:
    load = np.array([0.1, 1.2, 3.3, 0.2, 0.2, 0.2])
    assert ocus(load, 1.0, 1).tolist() == [1.0, 1.5, 3.5, 1.0, 1.0, 1.0]
    assert ocus(load, 0.5, 2).tolist() == [0.5, 1.5, 3.5, 3.5, 0.5, 0.5]


def test_search_resizes_stay_below_a_quarter_and_blue_green_below_a_doubling() -> None:
    cal = _cal("search_cluster")
    rng = np.random.default_rng(7)
    provisioned = serverless = bluegreen = 0
    for _ in range(80):
        shape = shape_search(rng, cal)
        assert isinstance(shape, SearchShape)
        cost = _cost(shape)
        assert shape.noise.max() <= 1.95
        if shape.nodes.any():
            provisioned += 1
            assert shape.nodes.min() >= 2
            steps = shape.nodes[1:] / shape.nodes[:-1]
            assert np.all((steps >= 0.75 - 1e-9) & (steps <= 1.25 + 1e-9))
            assert np.count_nonzero(steps != 1) <= 3
            if shape.bluegreen.any():
                bluegreen += 1
                assert np.all(cost[shape.bluegreen] > shape.normal[shape.bluegreen])
        else:
            serverless += 1
            assert shape.floor > 0
            assert np.all(cost >= shape.floor * (1 - 1e-9))
            assert not shape.bluegreen.any()
    assert provisioned >= 40
    assert serverless >= 10
    assert bluegreen >= 10


def test_search_load_follows_the_local_day_through_daylight_saving_time() -> None:
    cal = _cal("search_cluster")
    clock = local_clock(cal, "America/New_York")
    assert set(clock.offset[: 24 * 27].tolist()) == {-5}  # 9 Feb - 8 Mar 2026
    assert set(clock.offset[24 * 28 :].tolist()) == {-4}
    berlin = local_clock(cal, "Europe/Berlin")
    assert np.count_nonzero(np.diff(berlin.offset)) == 1  # 29 March


# --- payments_fees ------------------------------------------------------------------


def test_compound_poisson_sums_capped_amounts_and_is_zero_without_events() -> None:
    rng = np.random.default_rng(3)
    counts = np.array([0, 1, 5, 40, 2000])
    sums = np.stack([compound_poisson(rng, counts, 10.0, 0.8, 50.0) for _ in range(400)])
    assert np.all(sums[:, 0] == 0)
    assert np.all(sums[:, 1] <= 50)
    assert np.all(sums[:, 1] > 0)
    mean = 10 * np.exp(0.32)
    assert sums[:, 4].mean() == pytest.approx(2000 * mean, rel=0.02)


@pytest.mark.parametrize("seed", range(3))
def test_retail_fees_follow_the_local_clock_through_daylight_saving_time(seed: int) -> None:
    cal = _cal("payments_fees")
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(40):
        shape = shape_payments(rng, cal)
        assert isinstance(shape, PaymentsShape)
        if shape.kind != "retail" or len(shape.zones) != 1:
            continue
        # the same weekday before and after the change, ordinary days both
        before = _utc(2026, 10, 20)
        after = _utc(2026, 11, 10) if ZONES[shape.zones[0]][1] == "us" else _utc(2026, 10, 27)
        day = [shape.normal[cal.times.index(t) : cal.times.index(t) + 24] for t in (before, after)]
        profile = [d / d.sum() for d in day]
        assert shape.offset[cal.times.index(after)] == shape.offset[0] - 1
        # clocks went back an hour: each local hour comes one UTC hour later
        assert np.allclose(profile[1], np.roll(profile[0], 1), rtol=0.01)
        assert not np.allclose(profile[1], profile[0], rtol=0.01)
        checked += 1
    assert checked >= 3


def test_black_friday_lifts_retail_below_a_doubling_and_small_nights_may_be_zero() -> None:
    cal = _cal("payments_fees")
    rng = np.random.default_rng(11)
    retail = zeros = 0
    for _ in range(120):
        shape = shape_payments(rng, cal)
        cost = _cost(shape)
        assert np.all(cost[shape.mask == 0] == 0)
        zeros += int((shape.mask == 0).any())
        if shape.kind != "retail" or len(shape.zones) != 1:
            continue
        retail += 1
        clock = local_clock(cal, shape.zones[0])
        friday = clock.on_dates([BLACK_FRIDAY])
        assert np.all((shape.day_factor[friday] >= 1.5) & (shape.day_factor[friday] <= 1.9))
        week = np.flatnonzero(friday) - 168
        lift = shape.normal[friday] / shape.normal[week]
        assert np.all(lift >= 1.5 / 1.3)
        assert np.all(lift < 2)
    assert retail >= 20
    assert zeros >= 1


# --- iot_fleet ----------------------------------------------------------------------


def test_message_tiers_price_the_running_count_of_the_month() -> None:
    assert tier_total(np.array([0.0, 1e9, 2e9, 6e9])).tolist() == pytest.approx(
        [0.0, 1000.0, 1800.0, 4900.0]
    )
    blocks = np.array([6e8, 6e8, 6e8, 6e8])
    cost = bill_tiered(blocks, np.array([1, 1, 2, 2]))
    assert cost.tolist() == pytest.approx([600.0, 400.0 + 160.0, 600.0, 560.0])


def test_a_staged_rollout_reaches_all_devices_or_rolls_back() -> None:
    factor = rollout(200, 10, 1.2, [24, 60, 120], None)
    assert factor[9] == 1.0
    assert factor[10] == pytest.approx(1.002)
    assert factor[34] == pytest.approx(1.02)
    assert factor[70] == pytest.approx(1.1)
    assert factor[130] == pytest.approx(1.2)
    back = rollout(200, 10, 0.8, [24, 60, 120], 80)
    assert back[89] == pytest.approx(0.9)
    assert np.all(back[114:] == 1.0)


@pytest.mark.parametrize("seed", range(3))
def test_iot_prices_fall_through_the_month_and_steps_stay_small(seed: int) -> None:
    cal = _cal("iot_fleet")
    firsts = (cal.day_of_month == 1) & (cal.hour == 0)
    assert firsts.sum() == 2  # 1 September and 1 October
    months = np.array([t.month for t in cal.times])
    rng = np.random.default_rng(seed)
    tiered = trackers_with_zeros = 0
    for _ in range(40):
        shape = shape_iot(rng, cal)
        assert isinstance(shape, IotShape)
        assert np.all((shape.firmware >= 0.8 - 1e-9) & (shape.firmware <= 1.2 + 1e-9))
        assert np.all(shape.price <= 1.0 + 1e-9)
        assert np.all(shape.price >= 0.8 - 1e-9)  # never the third tier
        for month in np.unique(months):
            price = shape.price[months == month]
            assert np.all(np.diff(price) <= 1e-6)
        assert np.all(shape.price[firsts] == pytest.approx(1.0))
        tiered += int(shape.price.min() < 0.99)
        ratio = shape.normal[1:] / shape.normal[:-1]
        if shape.kind == "telemetry":  # flat but for uploads, tiers, shipments, rollouts
            assert np.percentile(ratio, 50) == pytest.approx(1.0, abs=0.01)
        cost = _cost(shape)
        if shape.kind == "trackers" and (cost == 0).any():
            trackers_with_zeros += 1
            assert np.all(shape.mask[cost == 0] == 0)
        assert shape.noise.max() < 1.9 or shape.kind != "telemetry"
    assert tiered >= 1
    if seed == 0:
        assert trackers_with_zeros >= 1


# --- media_transcode ----------------------------------------------------------------


def test_the_queue_spreads_a_batch_over_the_next_windows() -> None:
    work = np.array([0.0, 10.0, 0.0, 0.0, 1.0, 0.0])
    assert drain(work, 4.0).tolist() == [0.0, 4.0, 4.0, 2.0, 1.0, 0.0]
    assert drain(work, 20.0).tolist() == work.tolist()


@pytest.mark.parametrize("seed", range(2))
def test_media_kinds_keep_their_rhythm(seed: int) -> None:
    cal = _cal("media_transcode")
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    for _ in range(40):
        shape = shape_media(rng, cal)
        assert isinstance(shape, MediaShape)
        cost = _cost(shape)
        seen.add(shape.kind)
        assert np.all(cost >= shape.reserved * (1 - 1e-9))
        if shape.kind == "elearning":  # weekday office hours: most windows are real zeros
            assert np.mean(cost == 0) > 0.5
            assert np.all(shape.mask[cost == 0] == 0)
        if shape.kind == "studio" and shape.shows.any():
            hours = np.flatnonzero(shape.shows)
            assert np.all(np.diff(hours) % 24 == 0) or len({h % 168 for h in hours}) > 1
            year_end = slice(cal.times.index(_utc(2026, 12, 22)), cal.times.index(_utc(2027, 1, 2)))
            assert shape.shows[year_end].sum() < shape.shows[: 24 * 35].sum()
    assert seen == {"ugc", "studio", "elearning"}


def test_user_uploads_are_noisier_in_quiet_hours() -> None:
    cal = _cal("media_transcode")
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(30):
        shape = shape_media(rng, cal)
        if shape.kind != "ugc" or shape.reserved:
            continue
        low, high = np.percentile(shape.normal, [20, 80])
        spread_quiet = np.std(np.log(shape.noise[shape.normal <= low]))
        spread_busy = np.std(np.log(shape.noise[shape.normal >= high]))
        assert spread_quiet > spread_busy
        checked += 1
    assert checked >= 5


# --- daily_gcp_projects -------------------------------------------------------------


def test_sustained_use_discounts_grow_through_the_month() -> None:
    june = Calendar(_utc(2026, 6, 1), timedelta(days=1), 30)
    n1 = sud_factor(june, SUD_N1)
    assert n1[0] == 1.0
    assert n1[7] == pytest.approx(0.9)  # 8 June spans the first quarter's end
    assert n1[-1] == pytest.approx(0.4)
    assert np.all(np.diff(n1) <= 1e-12)
    assert n1.mean() == pytest.approx(0.7)  # 30 % off a whole month
    assert sud_factor(june, SUD_N2).mean() == pytest.approx(0.8002)


@pytest.mark.parametrize("seed", range(2))
def test_projects_keep_their_documented_calendar(seed: int) -> None:
    cal = _cal("daily_gcp_projects")
    firsts = np.flatnonzero(cal.day_of_month == 1)
    assert firsts.size == 7  # May to November
    off = (cal.weekday >= 5) | cal.on_dates(PROJECT_HOLIDAYS)
    rng = np.random.default_rng(seed)
    zero_sandboxes = credits = commitments = 0
    for _ in range(120):
        shape = shape_gcp_project(rng, cal)
        assert isinstance(shape, ProjectShape)
        cost = _cost(shape)
        assert np.all(cost >= 0)
        assert np.all(shape.sud[firsts] == 1.0)
        assert np.all(shape.sud[firsts[1:] - 1] < 0.65)
        if shape.kind == "sandbox":
            assert shape.eligible == 0
            if np.all(cost[off] == 0):  # stopped on weekends and holidays
                zero_sandboxes += 1
                assert np.all(cost[~off] > 0)
        else:
            assert 0 <= shape.eligible <= 0.5
        if shape.credit.any():  # a credit of 10-20 % that expires once
            credits += 1
            assert shape.credit[0] == shape.credit.max()
            assert 0.1 <= shape.credit.max() <= 0.2
            assert np.count_nonzero(np.diff(shape.credit)) == 1
        commitments += int(shape.cud_at > 0)  # bought during the span
        if shape.kind == "production" and not shape.credit.any():
            ratio = shape.normal[1:] / shape.normal[:-1]
            assert ratio.max() < 1.8  # month starts and Mondays below a doubling
    assert zero_sandboxes >= 3
    assert credits >= 10
    assert commitments >= 5
