"""A points file written before series kept their currency still reads right."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.domain import CostPoint, Coverage, key_json, make_key
from alerter.sources.base import FetchResult
from alerter.store.duck_points import DuckPoints
from tests.conftest import T0

H = timedelta(hours=1)


def test_series_without_a_stored_currency_take_their_first_points(tmp_path):
    path = str(tmp_path / "p.duckdb")
    old, new = make_key({"sku": "old"}), make_key({"sku": "new"})
    db = duckdb.connect(path)  # the schema of the previous release: no series.currency
    db.execute(
        "CREATE TABLE series (source VARCHAR NOT NULL, id BIGINT NOT NULL, key VARCHAR NOT NULL)"
    )
    db.execute(
        'CREATE TABLE points (source VARCHAR NOT NULL, series BIGINT NOT NULL, start BIGINT NOT NULL, "end" BIGINT NOT NULL, '
        "amount DECIMAL(38,10) NOT NULL, quantity DECIMAL(38,10), currency VARCHAR NOT NULL, "
        "revision INTEGER NOT NULL, updated_at BIGINT NOT NULL, seq BIGINT NOT NULL)"
    )
    db.execute("CREATE TABLE meta (name VARCHAR PRIMARY KEY, value BIGINT)")
    db.execute("INSERT INTO meta VALUES ('seq', 1), ('schema', 1)")
    db.execute("INSERT INTO series VALUES ('s', 1, ?)", [key_json(old)])
    t = int(T0.timestamp())
    db.execute("INSERT INTO points VALUES ('s', 1, ?, ?, 2.5, NULL, 'EUR', 0, 0, 1)", [t, t + 3600])
    db.close()

    points = DuckPoints(path)
    point = CostPoint("s", new, T0 + H, T0 + 2 * H, Decimal("4"), currency="JPY")
    points.upsert("s", FetchResult([point], [Coverage(T0, T0 + 2 * H)]), T0)
    got = points.load_series("s", T0, T0 + 2 * H)
    assert dict(zip(got.keys, got.currencies, strict=True)) == {old: "EUR", new: "JPY"}
    assert sorted(got.amounts.tolist()) == [2.5, 4.0]
    points.close()
    again = DuckPoints(path, read_only=True)  # a reader of the upgraded file
    got = again.load_series("s", T0, T0 + 2 * H)
    assert dict(zip(got.keys, got.currencies, strict=True)) == {old: "EUR", new: "JPY"}
    again.close()


def test_a_streamed_load_stores_each_series_currency_once(tmp_path, monkeypatch):
    import pyarrow as pa

    from alerter.store import point_rows

    monkeypatch.setattr(point_rows, "BATCH_ROWS", 2)  # several batches, one dictionary
    keys = [make_key({"sku": f"s{i}"}) for i in range(4)]
    dictionary = pa.array([key_json(k) for k in keys], pa.string())
    currencies = pa.array(["USD", "EUR"], pa.string())
    schema = pa.schema(
        [
            pa.field("key", pa.dictionary(pa.int32(), pa.string())),
            pa.field("start", pa.int64()),
            pa.field("end", pa.int64()),
            pa.field("amount", pa.decimal128(38, 10)),
            pa.field("currency", pa.dictionary(pa.int32(), pa.string())),
        ]
    )
    t = int(T0.timestamp())

    def batch(series: list[int], cur: list[int]) -> pa.RecordBatch:
        return pa.record_batch(
            [
                pa.DictionaryArray.from_arrays(pa.array(series, pa.int32()), dictionary),
                pa.array([t] * len(series), pa.int64()),
                pa.array([t + 3600] * len(series), pa.int64()),
                pa.array([Decimal(1)] * len(series), pa.decimal128(38, 10)),
                pa.DictionaryArray.from_arrays(pa.array(cur, pa.int32()), currencies),
            ],
            schema=schema,
        )

    # series 2 and 3 first appear in the second and third batch
    stream = pa.RecordBatchReader.from_batches(
        schema, [batch([0, 1], [0, 1]), batch([2], [1]), batch([3], [0])]
    )
    points = DuckPoints(str(tmp_path / "p.duckdb"))
    points.upsert("s", FetchResult([], [], table=stream), T0)
    got = points.load_series("s", T0, T0 + H)
    assert dict(zip(got.keys, got.currencies, strict=True)) == {
        keys[0]: "USD",
        keys[1]: "EUR",
        keys[2]: "EUR",
        keys[3]: "USD",
    }
    with points._session():
        assert points._scalar("SELECT count(*) FROM series WHERE currency IS NULL") == 0
    points.close()


def _union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from(["a", "b", ""]), st.integers(0, 30), st.integers(1, 6)),
            max_size=8,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_coverage_of_many_scopes_merges_like_an_interval_union(cycles):
    points = DuckPoints(":memory:")
    seen: dict[str, list[tuple[int, int]]] = {}
    for cycle in cycles:
        covs = []
        for sku, lo, width in cycle:
            scope = make_key({"sku": sku}) if sku else make_key({})
            covs.append(Coverage(T0 + lo * H, T0 + (lo + width) * H, scope))
            seen.setdefault(sku, []).append((lo, lo + width))
        points.upsert("s", FetchResult([], covs), T0)
    got: dict[str, list[tuple[int, int]]] = {}
    for c in points.load_coverage("s", T0 - 100 * H, T0 + 100 * H):
        sku = dict(c.scope).get("sku", "")
        got.setdefault(sku, []).append((int((c.start - T0) / H), int((c.end - T0) / H)))
    assert {k: sorted(v) for k, v in got.items()} == {k: _union(v) for k, v in seen.items()}
    points.close()


def _as_dict(series) -> dict[tuple[str, int], float]:
    return {
        (dict(series.keys[k])["sku"], int(s)): float(a)
        for k, s, a in zip(
            series.key_index.tolist(), series.starts.tolist(), series.amounts.tolist(), strict=True
        )
    }


@settings(max_examples=15, deadline=None)
@given(
    st.lists(  # upserts: (series, hour, half-hour phase, amount in cents)
        st.lists(
            st.tuples(st.integers(0, 4), st.integers(0, 30), st.booleans(), st.integers(0, 10**6)),
            min_size=1,
            max_size=20,
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(0, 30),
)
def test_the_mirror_read_from_the_file_or_kept_warm_holds_the_stored_points(
    tmp_path_factory, upserts, trim_hour
):
    # grid columns given by DuckDB, a grid kept across upserts and trims, rows of another
    # phase (half past the hour) turning it sparse: always the stored points of the range
    path = str(tmp_path_factory.mktemp("mirror") / "p.duckdb")
    points = DuckPoints(path)
    cut = T0 + trim_hour * H
    for batch in upserts:
        rows = {(s, h, half): c for s, h, half, c in batch}
        result = [
            CostPoint(
                "s",
                make_key({"sku": f"s{s}"}),
                T0 + h * H + (H / 2 if half else timedelta(0)),
                T0 + (h + 1) * H + (H / 2 if half else timedelta(0)),
                Decimal(c) / 100,
            )
            for (s, h, half), c in rows.items()
        ]
        points.upsert("s", FetchResult(result, []), T0)
        points.trim_cache("s", cut)
        warm = _as_dict(points.load_series("s", cut, T0 + 40 * H))
        stored = {
            (dict(p.key)["sku"], int(p.start.timestamp())): float(p.amount)
            for p in points.load_points("s", cut, T0 + 40 * H)
        }
        assert warm == stored
    points.close()
    cold = DuckPoints(path, read_only=True)
    assert _as_dict(cold.load_series("s", cut, T0 + 40 * H)) == stored
    cold.close()
