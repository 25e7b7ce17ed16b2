"""The independent benchmark's labels and scoring (bench/independent.py), on hand-built
cases; the detector's figures are printed by the script, never asserted here."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bench.heldout_fresh import (
    AWS_EGRESS,
    CLOUDFRONT,
    EgressShape,
    _days_in_month,
    _first_weekday,
    bill_egress,
    inject_egress,
    shape_db_serverless,
    shape_egress,
    shape_k8s,
    shape_spot_gpu,
    tier_cost,
)
from bench.heldout_sealed import (
    LlmShape,
    WarehouseShape,
    cold_start_cost,
    inject_sealed,
    month_ends,
    nightly_fanout,
    shape_bu_rollup,
    shape_llm_api,
    shape_log_ingest,
    shape_serverless,
    shape_warehouse,
)
from bench.heldout_shapes import BatchShape, inject_batch, shape_batch, shape_infra, shape_storage
from bench.independent import (
    AUDIT,
    BLIND,
    FAMILIES,
    FRESH,
    HELD_OUT,
    SEALED,
    TUNING,
    Incident,
    choose_families,
    main,
    parse_incidents,
    score,
    shape_heavy,
    write_csv,
)
from bench.scenario_kit import (
    KINDS,
    Calendar,
    Label,
    Shape,
    export_outages,
    generate,
    inject_anomaly,
)

HOUR = timedelta(hours=1)
START = datetime(2026, 3, 2, tzinfo=UTC)
WINDOWS = 24 * 28
WARMUP = 24 * 7


def _flat(level: float = 10.0, mask: np.ndarray | None = None) -> Shape:
    return Shape(
        np.full(WINDOWS, level),
        np.ones(WINDOWS) if mask is None else mask.astype(float),
        np.ones(WINDOWS),
    )


def _cal() -> Calendar:
    return Calendar(START, HOUR, WINDOWS)


def test_score_counts_a_caught_spike_once_and_other_incidents_as_false() -> None:
    spike = Label("a", "spike", start=300, end=303, tolerance=12)
    incidents = [
        Incident("a", 301, "hourly-cost"),  # caught, 1 h late
        Incident("a", 305, "hourly-cost"),  # the same spike again: not false
        Incident("a", 500, "hourly-cost"),  # later on the same series: false
        Incident("b", 301, "hourly-cost"),  # a clean series: false
        Incident("b", 100, "hourly-cost"),  # in the warm-up: ignored
    ]
    result = score([spike], incidents, series=2, warmup=WARMUP, windows=WINDOWS, step=HOUR)
    assert (result.caught, result.false_alerts, result.inside) == (1, 2, 1)
    assert result.warmup_incidents == 1
    assert result.precision == pytest.approx(1 / 3)
    assert result.recall == 1.0
    assert result.f1 == pytest.approx(2 * (1 / 3) / (1 / 3 + 1))
    assert result.delays == {"spike": [1.0]}
    assert result.by_kind == {"spike": [1, 1]}
    weeks = 2 * (WINDOWS - WARMUP) / 168
    assert result.series_weeks == pytest.approx(weeks)
    assert result.false_per_100_series_weeks == pytest.approx(100 * 2 / weeks)


def test_score_an_alert_after_the_tolerance_is_a_miss_but_not_a_false_alert() -> None:
    shift = Label("a", "level_up", start=300, end=WINDOWS, tolerance=12)
    late = [Incident("a", 312, "hourly-cost")]
    result = score([shift], late, series=1, warmup=WARMUP, windows=WINDOWS, step=HOUR)
    assert (result.caught, result.late, result.false_alerts) == (0, 1, 0)
    assert result.recall == 0.0
    assert result.by_kind == {"level_up": [0, 1]}
    just_in = [Incident("a", 311, "hourly-cost")]
    result = score([shift], just_in, series=1, warmup=WARMUP, windows=WINDOWS, step=HOUR)
    assert (result.caught, result.late) == (1, 0)
    assert result.delays == {"level_up": [11.0]}


def test_score_daily_delays_are_in_hours() -> None:
    drop = Label("a", "drop", start=80, end=84, tolerance=4)
    result = score(
        [drop],
        [Incident("a", 82, "daily-cost")],
        series=1,
        warmup=56,
        windows=210,
        step=timedelta(days=1),
    )
    assert result.delays == {"drop": [48.0]}
    assert result.series_weeks == pytest.approx((210 - 56) / 7)


def _injected(kind: str, seed: int, mask: np.ndarray | None = None) -> tuple[Shape, Label]:
    shape = _flat(mask=mask)
    label = inject_anomaly(np.random.default_rng(seed), shape, kind, "s", _cal(), WARMUP)
    assert label is not None
    assert label.kind == kind
    assert WARMUP <= label.start < label.end <= WINDOWS
    return shape, label


@pytest.mark.parametrize("seed", range(5))
def test_injected_anomalies_match_their_labels(seed: int) -> None:
    shape, spike = _injected("spike", seed)
    inside = shape.normal[spike.start : spike.end]
    assert 1 <= spike.end - spike.start <= 6
    assert np.all((inside >= 30) & (inside <= 100))
    assert np.all(np.delete(shape.normal, np.arange(spike.start, spike.end)) == 10)

    shape, drop = _injected("drop", seed)
    assert drop.end - drop.start >= 6
    assert np.all(shape.normal[drop.start : drop.end] <= 3)
    assert np.all(shape.normal[drop.end :] == 10)

    for kind, low, high in (("level_up", 14, 18), ("level_down", 2, 6)):
        shape, shift = _injected(kind, seed)
        assert shift.end == WINDOWS
        after = shape.normal[shift.start :]
        assert np.all(after == after[0])
        assert low <= after[0] <= high
        assert np.all(shape.normal[: shift.start] == 10)

    shape, ramp = _injected("ramp", seed)
    grown = shape.normal[ramp.start :]
    assert np.all(np.diff(grown) >= 0)
    assert 20 <= grown[-1] <= 40
    assert ramp.tolerance == 24

    shape, new = _injected("new_spend", seed)
    assert np.all(shape.normal[: new.start] == 0)
    assert shape.normal[new.start] == 10


def test_tolerance_stretches_to_the_third_active_window_of_a_nightly_job() -> None:
    hours = np.arange(WINDOWS) % 24
    nightly = hours == 2  # costs only at 02:00
    _, label = _injected("level_up", 3, mask=nightly)
    active_after = np.flatnonzero(nightly[label.start :])
    assert label.tolerance == max(12, int(active_after[2]) + 1)
    assert label.tolerance > 24  # two nights at least

    _, drop = _injected("drop", 3, mask=nightly)
    assert int(nightly[drop.start : drop.end].sum()) >= 6


def test_a_spike_on_a_zero_window_costs_money() -> None:
    mask = np.zeros(WINDOWS)
    mask[::24] = 1  # one window a day
    shape, spike = _injected("spike", 1, mask=mask)
    costs = shape.normal * shape.mask
    assert np.all(costs[spike.start : spike.end] >= 30)


@pytest.mark.parametrize("name", ["sparse", "daily_calendar"])
def test_generate_is_reproducible_and_labels_sit_after_the_warmup(name: str) -> None:
    family = FAMILIES[name]
    one = generate(family, 7, 40)
    again = generate(family, 7, 40)
    other = generate(family, 8, 40)
    assert np.array_equal(one.values, again.values)
    assert one.labels == again.labels
    assert not np.array_equal(one.values, other.values)
    assert one.labels
    assert np.all(one.values >= 0)
    rows = dict(zip(one.names, one.values, strict=True))
    for label in one.labels:
        assert one.warmup <= label.start < label.end <= one.windows
        if label.kind == "new_spend":
            assert np.all(rows[label.series][: label.start] == 0)
            assert rows[label.series][label.start] > 0


def test_parse_incidents_reads_first_events_of_backtest_json() -> None:
    data = generate(FAMILIES["issue16"], 1, 2)
    opened = data.start + 400 * HOUR
    lines = [
        json.dumps(
            {
                "event": event,
                "rule": "hourly-cost",
                "group": {"series": data.names[0]},
                "window_start": (opened + shift * HOUR).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "first_window": opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        for event, shift in (("first", 0), ("escalated", 2), ("resolved", 30))
    ]
    assert parse_incidents(["", *lines], data) == [Incident(data.names[0], 400, "hourly-cost")]


@pytest.mark.parametrize("step", [HOUR, timedelta(days=1)])
def test_heavy_tailed_noise_and_blips_stay_below_a_doubling(step: timedelta) -> None:
    cal = Calendar(START, step, int(timedelta(weeks=30) / step))
    rng = np.random.default_rng(11)
    for _ in range(20):
        noise = shape_heavy(rng, cal).noise
        assert noise.max() < 2
        assert noise.min() > 0.5


# --- held-out families --------------------------------------------------------------


def test_held_out_families_are_a_group_of_their_own() -> None:
    assert set(HELD_OUT) >= {"saas_customers", "infra_skus", "batch_ml", "storage"}
    assert any(not FAMILIES[name].hourly for name in HELD_OUT)
    assert not set(HELD_OUT) & set(TUNING)
    groups = set(HELD_OUT) | set(TUNING) | set(FRESH) | set(SEALED) | set(BLIND) | set(AUDIT)
    assert groups == set(FAMILIES)
    assert choose_families(None) == TUNING
    assert choose_families("", held_out=True) == HELD_OUT
    assert choose_families(" storage,issue16 ") == ["storage", "issue16"]
    with pytest.raises(ValueError, match="nope"):
        choose_families("storage,nope")


@pytest.mark.parametrize("name", HELD_OUT + FRESH + SEALED)
def test_held_out_family_is_seeded_and_labels_several_kinds_after_the_warmup(name: str) -> None:
    family = FAMILIES[name]
    one = generate(family, 5, 80)
    again = generate(family, 5, 80)
    other = generate(family, 6, 80)
    assert np.array_equal(one.values, again.values, equal_nan=True)
    assert one.labels == again.labels
    assert not np.array_equal(one.values, other.values, equal_nan=True)
    kinds = {label.kind for label in one.labels}
    assert kinds <= set(KINDS)
    assert len(kinds) >= 3
    assert len(one.labels) >= 25  # about half of 80 series carry one
    known = one.values[~np.isnan(one.values)]
    assert np.all(known >= 0)
    # only whole-export outages are missing: a window is known for all series or none
    hidden = np.isnan(one.values)
    assert np.array_equal(hidden.any(axis=0), hidden.all(axis=0))
    rows = dict(zip(one.names, one.values, strict=True))
    for label in one.labels:
        assert one.warmup <= label.start < label.end <= one.windows
        row = rows[label.series]
        assert not np.all(np.isnan(row[label.start : label.end]))
        if label.kind == "new_spend":
            assert np.nansum(row[: label.start]) == 0
            assert np.nanmax(row[label.start : label.start + label.tolerance]) > 0


def test_tuning_families_keep_the_default_kinds_injection_and_no_gaps() -> None:
    for name in TUNING:
        family = FAMILIES[name]
        assert (family.kinds, family.inject, family.held_out) == (None, None, False)
        assert not np.isnan(generate(family, 3, 10).values).any()


def test_export_outages_hide_every_series_and_stretch_the_labels_they_overlap() -> None:
    values = np.full((3, 200), 5.0)
    labels = [
        Label("a", "spike", 50, 52, 12),
        Label("b", "level_up", 100, 200, 12),
        Label("c", "drop", 150, 160, 12),
    ]
    rng = np.random.default_rng(2)
    out, kept = export_outages(rng, values, labels, count=6, longest=30)
    hidden = np.isnan(out).all(axis=0)
    assert hidden.any()
    assert np.array_equal(np.isnan(out).any(axis=0), hidden)
    assert not hidden[0]
    assert not hidden[-1]
    assert np.all(values == 5.0)  # the input is left alone
    for label in labels:
        if hidden[label.start : label.end].all():
            assert label.series not in {k.series for k in kept}
    assert any(label.tolerance > 12 for label in kept)
    for label in kept:
        seen = ~hidden[label.start : label.start + label.tolerance]
        assert int(seen.sum()) >= min(12, len(seen))
        assert label.tolerance == 12 + int(
            hidden[label.start : label.start + label.tolerance].sum()
        )


def test_the_csv_is_split_around_export_outages(tmp_path: Path) -> None:
    data = generate(FAMILIES["saas_customers"], 5, 20)
    hidden = np.isnan(data.values).all(axis=0)
    assert hidden.any()
    files = write_csv(data, tmp_path / "data.csv")
    stretches = np.flatnonzero(np.diff(hidden.astype(int)) == 1).size + 1
    assert len(files) == stretches
    assert files[0].name == "data.csv"
    rows = []
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "timestamp,series,amount"
        rows.extend(lines[1:])
    assert len(rows) == int((~np.isnan(data.values)).sum())
    assert not any("nan" in row for row in rows)
    stamps = {data.start + int(i) * HOUR for i in np.flatnonzero(hidden)}
    assert not any(datetime.fromisoformat(row.split(",")[0]) in stamps for row in rows)
    one = generate(FAMILIES["issue16"], 5, 3)
    assert write_csv(one, tmp_path / "one.csv") == [tmp_path / "one.csv"]


def _batch(seed: int, scheduled: bool) -> tuple[Calendar, BatchShape]:
    cal = Calendar(START, HOUR, 24 * 56)
    rng = np.random.default_rng(seed)
    while True:
        shape = shape_batch(rng, cal)
        if shape.scheduled == scheduled:
            return cal, shape


@pytest.mark.parametrize("seed", range(4))
def test_batch_runs_stand_far_above_the_floor(seed: int) -> None:
    for scheduled in (True, False):
        _, shape = _batch(seed, scheduled)
        assert len(shape.runs) >= 8
        for begin, end, cost in shape.runs:
            assert cost >= 5 * shape.base
            assert np.all(shape.normal[begin:end] >= shape.base + cost - 1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_batch_anomalies_act_on_runs(seed: int) -> None:
    warmup = 24 * 21
    cal, shape = _batch(seed, scheduled=True)
    before = shape.normal.copy()
    spike = inject_batch(np.random.default_rng(seed), shape, "spike", "s", cal, warmup)
    assert spike is not None
    assert spike.start >= warmup
    ratio = shape.normal[spike.start : spike.end] / before[spike.start : spike.end]
    assert np.all(ratio >= 2.5)  # the run at 3-10x, over a floor left alone
    assert np.all(
        np.delete(shape.normal, np.arange(spike.start, spike.end))
        == np.delete(before, np.arange(spike.start, spike.end))
    )

    cal, shape = _batch(seed, scheduled=True)
    before = shape.normal.copy()
    runaway = inject_batch(np.random.default_rng(seed), shape, "level_up", "s", cal, warmup)
    assert runaway is not None
    assert runaway.end == cal.windows
    assert np.all(shape.normal[runaway.start :] >= before[runaway.start :] + 5 * shape.base)
    # the label starts at the first hour longer than any run so far
    begin = max(b for b, _, _ in shape.runs if b < runaway.start)
    longest = max(e - b for b, e, _ in shape.runs if b <= begin)
    assert runaway.start == begin + longest

    cal, shape = _batch(seed, scheduled=True)
    before = shape.normal.copy()
    drop = inject_batch(np.random.default_rng(seed), shape, "drop", "s", cal, warmup)
    assert drop is not None
    gone = [(b, e) for b, e, _ in shape.runs if drop.start <= b and e <= drop.end]
    assert 1 <= len(gone) <= 3
    for b, e in gone:
        assert np.allclose(shape.normal[b:e], shape.base)
        assert np.all(shape.normal[b:e] <= 0.4 * before[b:e])

    cal, shape = _batch(seed, scheduled=False)
    assert inject_batch(np.random.default_rng(seed), shape, "drop", "s", cal, warmup) is None
    shift = inject_batch(np.random.default_rng(seed), shape, "level_down", "s", cal, warmup)
    assert shift is not None
    assert shift.kind == "level_down"


def test_commitment_only_skus_are_flat_and_the_rest_stay_near_their_normal() -> None:
    cal = Calendar(START, HOUR, 24 * 56)
    rng = np.random.default_rng(4)
    flat = 0
    for _ in range(60):
        shape = shape_infra(rng, cal)
        cost = shape.normal * shape.noise
        if np.all(cost == cost[0]):
            flat += 1
            continue
        # whole instances and small noise: never an unlabelled doubling or halving
        assert shape.noise.min() > 0.5
        assert shape.noise.max() < 2
    assert 0 < flat < 30


def test_storage_grows_smoothly_without_a_label() -> None:
    cal = Calendar(START, HOUR, 24 * 56)
    rng = np.random.default_rng(9)
    for _ in range(30):
        shape = shape_storage(rng, cal)
        daily = (shape.normal * shape.noise).reshape(-1, 24).mean(axis=1)
        change = daily[1:] / daily[:-1]
        assert np.all(change > 0.97)
        assert np.all(change < 1.03)
        assert daily[-1] > daily[0]


# --- fresh families -----------------------------------------------------------------


def test_fresh_families_are_a_group_of_their_own() -> None:
    assert set(FRESH) == {
        "k8s_namespaces",
        "egress_cdn",
        "spot_gpu",
        "db_serverless",
        "daily_marketplace",
    }
    assert not set(FRESH) & (set(HELD_OUT) | set(TUNING))
    assert all(FAMILIES[name].held_out for name in FRESH)  # never in the default run
    assert choose_families(None, fresh=True) == FRESH
    assert choose_families("spot_gpu", fresh=True) == ["spot_gpu"]
    starts = [FAMILIES[name].start for name in FAMILIES]
    for name in FRESH:
        family = FAMILIES[name]
        assert family.start.weekday() == 0
        assert family.start.year == 2026
        assert starts.count(family.start) == 1
        assert family.weeks == (8 if family.hourly else 30)


def test_fresh_flag_excludes_the_other_choices() -> None:
    for other in (["--held-out"], ["--families", "spot_gpu"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["--fresh", *other])
        assert exit_info.value.code == 2


def test_tier_cost_is_the_running_total_priced_tier_by_tier() -> None:
    tb = 1024.0
    volume = np.array([0, 5 * tb, 10 * tb, 30 * tb, 150 * tb, 200 * tb])
    cost = tier_cost(AWS_EGRESS, volume)
    expected = [0, 5 * tb * 0.09, 10 * tb * 0.09, 10 * tb * 0.09 + 20 * tb * 0.085]
    expected += [10 * tb * 0.09 + 40 * tb * 0.085 + 100 * tb * 0.07]
    expected += [expected[-1] + 50 * tb * 0.05]
    assert cost == pytest.approx(expected)
    unit = np.diff(tier_cost(CLOUDFRONT, np.linspace(0, 6000 * tb, 600)))
    assert np.all(np.diff(unit) <= 1e-9)  # never dearer as the month goes on


def _egress(seed: int) -> tuple[Calendar, EgressShape]:
    family = FAMILIES["egress_cdn"]
    cal = Calendar(family.start, HOUR, 24 * 56)
    shape = shape_egress(np.random.default_rng(seed), cal)
    return cal, shape


@pytest.mark.parametrize("seed", range(6))
def test_egress_unit_price_falls_through_the_month_and_resets_on_the_first(seed: int) -> None:
    cal, shape = _egress(seed)
    unit = shape.normal / (shape.gb * shape.gb_noise)
    firsts = [i for i, t in enumerate(cal.times) if t.day == 1 and t.hour == 0]
    assert len(firsts) == 2  # 1 July and 1 August
    for at in firsts:
        assert unit[at] > unit[at - 1]
        assert unit[at] == pytest.approx(shape.tiers[0][1])  # the month's first GB
    for begin, end in zip([0, *firsts], [*firsts, cal.windows], strict=True):
        assert np.all(np.diff(unit[begin:end]) <= 1e-9)
    assert unit[0] < shape.tiers[0][1]  # the span starts on 22 June, tiers already passed


@pytest.mark.parametrize("seed", range(4))
def test_an_egress_spike_is_traffic_that_leaves_the_rest_of_the_month_cheaper(seed: int) -> None:
    cal, shape = _egress(seed)
    before = shape.normal.copy()
    label = inject_egress(np.random.default_rng(seed), shape, "spike", "s", cal, 24 * 21)
    assert label is not None
    inside = slice(label.start, label.end)
    assert np.all(shape.normal[inside] >= 2.5 * before[inside])
    assert np.array_equal(shape.normal[: label.start], before[: label.start])
    month = shape.month[label.start]
    rest = np.arange(label.end, cal.windows)
    same, later = rest[shape.month[rest] == month], rest[shape.month[rest] != month]
    assert np.all(shape.normal[same] <= before[same] + 1e-9)
    assert np.allclose(shape.normal[later], before[later])
    assert np.allclose(shape.normal, bill_egress(shape))


@pytest.mark.parametrize("seed", range(4))
def test_spot_reclaims_leave_short_holes_at_zero_billed_in_part_at_their_edges(seed: int) -> None:
    cal = Calendar(START, HOUR, 24 * 56)
    rng = np.random.default_rng(seed)
    holes = 0
    for _ in range(20):
        shape = shape_spot_gpu(rng, cal)
        cost = shape.normal * shape.mask * shape.noise
        assert set(np.unique(shape.mask)) <= {0.0, 1.0}
        assert np.all(cost[shape.mask == 0] == 0)
        assert np.all(cost[shape.mask == 1] > 0)
        edges = np.flatnonzero(np.diff(np.concatenate([[1], shape.mask, [1]])))
        for begin, end in zip(edges[::2], edges[1::2], strict=True):
            holes += 1
            assert end - begin <= 8  # 1-4 hours, or two reclaims that touch
            if begin > 0 and end < cal.windows:
                assert cost[begin - 1] < shape.normal[begin - 1]
                assert cost[end] < shape.normal[end]
        assert np.all(shape.noise <= 1)  # a spot fleet is never billed above its size
    assert holes >= 10


def test_k8s_scale_outs_and_late_scale_downs_stay_below_a_spike() -> None:
    cal = Calendar(START, HOUR, 24 * 56)
    rng = np.random.default_rng(12)
    above = 0
    for _ in range(30):
        shape = shape_k8s(rng, cal)
        assert shape.mask.min() == 1
        assert shape.normal.min() > 0
        assert shape.noise.min() > 0.5
        cost = shape.normal * shape.noise
        # nodes leave an hour after the load: judge against this hour's or the last one's
        reference = np.maximum(shape.normal[1:], shape.normal[:-1])
        assert np.all(cost[1:] < 3 * reference)
        above += int(np.any(cost[1:] > 1.3 * reference))
    assert above >= 10  # yet scale-outs are there


@pytest.mark.parametrize(
    ("day", "first"),
    [
        (datetime(2026, 8, 1, 9, tzinfo=UTC), False),  # a Saturday
        (datetime(2026, 8, 3, 9, tzinfo=UTC), True),  # the first Monday
        (datetime(2026, 8, 4, 9, tzinfo=UTC), False),
        (datetime(2026, 9, 1, 9, tzinfo=UTC), True),  # a Tuesday
        (datetime(2026, 9, 8, 9, tzinfo=UTC), False),
    ],
)
def test_first_weekday_of_the_month(day: datetime, first: bool) -> None:
    assert _first_weekday(day) is first


def test_month_start_reports_cost_more_than_the_same_weekday_a_week_later() -> None:
    family = FAMILIES["db_serverless"]
    cal = Calendar(family.start, HOUR, 24 * 56)
    rng = np.random.default_rng(3)
    first = next(i for i, t in enumerate(cal.times) if t.month == 10 and _first_weekday(t))
    for _ in range(20):
        shape = shape_db_serverless(rng, cal)
        # a day and a half from the first weekday's UTC midnight holds its local morning
        report = shape.normal[first - 12 : first + 24]
        week_on = shape.normal[first + 156 : first + 192]
        assert report.sum() > week_on.sum() * 1.03


def test_days_in_month() -> None:
    days = [_days_in_month(datetime(2026, m, 15, tzinfo=UTC)) for m in (1, 2, 4, 12)]
    assert days == [31, 28, 30, 31]


# --- sealed families ----------------------------------------------------------------


def test_sealed_families_are_a_group_of_their_own() -> None:
    assert set(SEALED) == {
        "llm_api",
        "warehouse_credits",
        "log_ingest",
        "serverless_fn",
        "daily_bu_rollup",
    }
    assert not set(SEALED) & (set(HELD_OUT) | set(TUNING) | set(FRESH))
    assert choose_families(None, sealed=True) == SEALED
    assert choose_families("log_ingest", sealed=True) == ["log_ingest"]
    assert [FAMILIES[name].hourly for name in SEALED].count(False) == 1
    starts = [FAMILIES[name].start for name in FAMILIES]
    for name in SEALED:
        family = FAMILIES[name]
        assert family.held_out  # never in the default run
        assert family.inject is inject_sealed
        assert family.start.weekday() == 0
        assert family.start.year == 2026
        assert starts.count(family.start) == 1
        assert family.weeks == (8 if family.hourly else 30)


@pytest.mark.parametrize("other", [["--held-out"], ["--fresh"], ["--families", "log_ingest"]])
def test_sealed_flag_excludes_the_other_choices(other: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--sealed", *other])
    assert exit_info.value.code == 2


def _sealed_cal(name: str) -> Calendar:
    family = FAMILIES[name]
    return Calendar(family.start, family.step, int(timedelta(weeks=8) / family.step))


@pytest.mark.parametrize("seed", range(6))
def test_a_sealed_spike_costs_its_labelled_size_even_on_a_noisy_quiet_hour(seed: int) -> None:
    cal = _sealed_cal("warehouse_credits")
    rng = np.random.default_rng(seed)
    for _ in range(5):
        shape = shape_warehouse(rng, cal)
        on = (shape.mask > 0) & (shape.normal > 0)
        typical = float(np.median(shape.normal[on]))
        before = shape.normal.copy()
        label = inject_sealed(rng, shape, "spike", "s", cal, 24 * 21)
        assert label is not None
        inside = slice(label.start, label.end)
        cost = (shape.normal * shape.mask * shape.noise)[inside]
        reference = np.maximum(before[inside], typical)
        assert np.all(cost >= 3 * reference - 1e-9)
        assert np.all(cost <= 10 * reference + 1e-9)
    shape = shape_warehouse(rng, cal)
    noise = shape.noise.copy()
    level = inject_sealed(rng, shape, "level_up", "s", cal, 24 * 21)
    assert level is not None
    assert np.array_equal(shape.noise, noise)  # other kinds are the kit's


def _llm(seed: int, capped: bool) -> LlmShape:
    rng = np.random.default_rng(seed)
    while True:
        shape = shape_llm_api(rng, _sealed_cal("llm_api"))
        if bool(np.isfinite(shape.cap).all()) == capped:
            return shape


@pytest.mark.parametrize("seed", range(4))
def test_llm_interactive_spend_flattens_at_the_rate_limit(seed: int) -> None:
    shape = _llm(seed, capped=True)
    interactive = shape.normal * shape.noise - shape.batch
    assert np.all(interactive <= shape.cap * (1 + 1e-9))
    at_cap = np.isclose(interactive, shape.cap, rtol=1e-9)
    assert at_cap.sum() >= 5  # a flat top, not a single touch
    assert np.all(shape.normal <= shape.cap * (1 + 1e-9))


@pytest.mark.parametrize("seed", range(4))
def test_llm_quiet_hours_are_noisier_than_busy_ones(seed: int) -> None:
    shape = _llm(seed, capped=False)
    plain = shape.batch == 0
    spread = np.log(shape.noise[plain])
    normal = shape.normal[plain]
    quiet = spread[normal <= np.percentile(normal, 20)]
    busy = spread[normal >= np.percentile(normal, 80)]
    assert quiet.std() > 1.5 * busy.std()


@pytest.mark.parametrize("seed", range(4))
def test_the_warehouse_bills_whole_minutes_and_nothing_while_asleep(seed: int) -> None:
    cal = _sealed_cal("warehouse_credits")
    rng = np.random.default_rng(seed)
    asleep = 0
    for _ in range(10):
        shape: WarehouseShape = shape_warehouse(rng, cal)
        cost = shape.normal * shape.mask * shape.noise
        minutes = (cost - shape.floor) / shape.minute
        assert np.allclose(minutes, np.round(minutes), atol=1e-6)
        assert minutes.min() > -1e-6
        assert minutes.max() <= 4 * 60 + 1e-6  # a whole hour of a load on a 4x warehouse
        if shape.floor == 0:
            assert np.array_equal(shape.mask == 0, cost == 0)
            asleep += int((cost == 0).sum())
        else:
            assert np.all(cost >= shape.floor * (1 - 1e-9))
    assert asleep > 0


def test_log_floods_stay_below_a_doubling_yet_happen() -> None:
    cal = _sealed_cal("log_ingest")
    rng = np.random.default_rng(5)
    flooded = 0
    for _ in range(30):
        shape = shape_log_ingest(rng, cal)
        assert shape.mask.min() == 1
        assert shape.noise.max() <= 1.95
        assert shape.noise.min() > 0.8
        flooded += int(shape.noise.max() > 1.35)
    assert flooded >= 15


def test_serverless_calls_cost_more_each_when_traffic_is_low() -> None:
    calls = np.array([1.0, 0.5, 0.1, 0.01])
    cost = cold_start_cost(calls, 0.01, 5.0)
    per_call = cost / calls
    assert per_call[0] == pytest.approx(1.05)
    assert np.all(np.diff(per_call) > 0)
    assert per_call[-1] == pytest.approx(1 + 0.1 * 5)
    assert cold_start_cost(np.array([1e-6, 1.0]), 0.01, 5.0)[0] == pytest.approx(1e-6 * 3.5)


def test_the_nightly_fanout_processes_the_day_before() -> None:
    hours = np.arange(24 * 4)
    calls = np.repeat([1.0, 2.0, 3.0, 4.0], 24)
    job = nightly_fanout(calls, hours % 24, at=2, hours=2)
    assert job[2] == job[3] == pytest.approx(24 / 2)  # the first night: the first day
    assert job[26] == job[27] == pytest.approx((22 * 1 + 2 * 2) / 2)
    assert job[50] == pytest.approx((22 * 2 + 2 * 3) / 2)
    assert np.count_nonzero(job) == 8


def test_cron_only_functions_on_working_hours_cost_nothing_otherwise() -> None:
    cal = _sealed_cal("serverless_fn")
    rng = np.random.default_rng(8)
    working_only = 0
    for _ in range(60):
        shape = shape_serverless(rng, cal)
        cost = shape.normal * shape.mask * shape.noise
        assert np.all(cost[shape.mask == 1] > 0)
        if shape.mask.min() == 0:
            working_only += 1
            assert 0.2 < shape.mask.mean() < 0.35  # 10 hours on 5 days of 7
            weekly = shape.mask.reshape(-1, 168)
            assert np.all(weekly == weekly[0])
    assert working_only >= 3


def test_month_ends() -> None:
    cal = Calendar(datetime(2026, 2, 23, tzinfo=UTC), timedelta(days=1), 40)
    ends = [t.date() for t, end in zip(cal.times, month_ends(cal), strict=True) if end]
    assert [(d.month, d.day) for d in ends] == [(2, 28), (3, 31)]


def test_month_end_accruals_stand_out_and_credits_never_go_below_zero() -> None:
    cal = Calendar(FAMILIES["daily_bu_rollup"].start, timedelta(days=1), 210)
    ends = np.flatnonzero(month_ends(cal))
    assert ends.size == 7  # March to September
    rng = np.random.default_rng(4)
    for _ in range(40):
        shape = shape_bu_rollup(rng, cal)
        assert np.all(shape.normal[ends] > 1.5 * shape.normal[ends - 7])
        assert shape.noise.min() >= 0
        assert shape.noise.min() > 0.2
