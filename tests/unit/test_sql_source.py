"""The ``sql`` source against a DuckDB file and the machine's real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from alerter.clock import FakeClock
from alerter.domain import key_get
from alerter.sources.base import SourceContext
from alerter.sources.sql import SqlConfig, SqlSource
from tests.scenarios.test_focus_sample import SAMPLE, expected_per_day

SINCE = datetime(2024, 9, 1, tzinfo=UTC)
UNTIL = datetime(2024, 10, 1, tzinfo=UTC)
DAILY = """
SELECT date_trunc('day', ChargePeriodStart) AS window_start, ServiceName,
       sum(BilledCost) AS amount, BillingCurrency AS currency
FROM focus WHERE ChargePeriodStart >= :since AND ChargePeriodStart < :until
GROUP BY ALL
"""


def source(tmp_path: Path, env: dict[str, str] | None = None, **cfg) -> SqlSource:
    config = SqlConfig(step="1d", **cfg)
    return SqlSource("wh", config, SourceContext(FakeClock(UNTIL), env or {}, tmp_path))


def fetch(src: SqlSource, since: datetime = SINCE, until: datetime = UNTIL):
    async def go():
        try:
            return await src.fetch(since, until)
        finally:
            await src.aclose()

    return asyncio.run(go())


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"FOCUS sample not found at {SAMPLE}")
def test_duckdb_file_with_the_finops_sample_sums_like_the_bill(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE focus AS SELECT * FROM read_csv(?, header=true, nullstr='NULL', "
        "types={'BilledCost': 'DECIMAL(38,12)', 'ChargePeriodStart': 'TIMESTAMP'})",
        [str(SAMPLE)],
    )
    con.close()
    result = fetch(source(tmp_path, url="duckdb:///warehouse.duckdb", query=DAILY))
    assert result.errors == [] and result.skipped_rows == 0
    per_day: dict[tuple[str, str], Decimal] = {}
    for p in result.points:
        slot = (p.start.date().isoformat(), p.currency)
        per_day[slot] = per_day.get(slot, Decimal(0)) + p.amount
    assert per_day == expected_per_day()
    assert {key_get(p.key, "ServiceName") for p in result.points} >= {"Elastic Load Balancing"}
    (cov,) = result.coverage
    assert (cov.start, cov.end) == (SINCE, UNTIL)


def test_bad_rows_are_skipped_and_named_and_missing_columns_fail(tmp_path):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE focus (ChargePeriodStart TIMESTAMP, ServiceName VARCHAR, "
        "BilledCost DOUBLE, BillingCurrency VARCHAR)"
    )
    con.execute(
        "INSERT INTO focus VALUES ('2024-09-02 05:00', 'EC2', 2.5, 'USD'), "
        "('2024-09-02 06:00', 'EC2', 'NaN'::DOUBLE, 'USD'), ('2024-09-03 01:00', 'S3', 1, NULL)"
    )
    con.close()
    result = fetch(source(tmp_path, url=f"duckdb:///{db}", query=DAILY))
    assert result.skipped_rows == 1
    assert len(result.errors) == 1 and "query row" in result.errors[0]
    assert "not a finite amount" in result.errors[0]
    amounts = {(key_get(p.key, "ServiceName"), p.currency): p.amount for p in result.points}
    assert amounts == {("S3", "USD"): Decimal(1)}  # the EC2 day had a NaN row: NaN sums to NaN
    bad = source(tmp_path, url=f"duckdb:///{db}", query="SELECT 1 AS x WHERE :since < :until")
    with pytest.raises(Exception, match="returns no column window_start, amount"):
        fetch(bad)


def test_config_keeps_passwords_out_of_the_toml():
    with pytest.raises(ValidationError, match="must not contain a password"):
        SqlConfig(step="1d", url="postgresql://u:hunter2@db/x", query=DAILY)
    with pytest.raises(ValidationError, match="exactly one of url and url_env"):
        SqlConfig(step="1d", query=DAILY)
    with pytest.raises(ValidationError, match=":since and :until"):
        SqlConfig(step="1d", url="duckdb:///x.db", query="SELECT 1")


@pytest.fixture
def pg_database():
    """A database of its own on the machine's PostgreSQL (127.0.0.1:5432, trust auth)."""
    psycopg = pytest.importorskip("psycopg")
    name = f"alerter_sql_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True
        )
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, psycopg
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def test_postgresql_runs_the_aggregation_with_since_and_until(pg_database, tmp_path):
    name, psycopg = pg_database
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}") as conn:
        conn.execute(
            'CREATE TABLE focus ("ChargePeriodStart" timestamptz, "ServiceName" text, '
            '"SubAccountId" text, "BilledCost" numeric(30,10), "BillingCurrency" text)'
        )
        start = datetime(2024, 9, 1, tzinfo=UTC)
        rows = [
            (start + timedelta(hours=h), svc, "000123", Decimal("0.1000000001"), "EUR")
            for h in range(72)
            for svc in ("vm", "db")
        ]
        conn.cursor().executemany("INSERT INTO focus VALUES (%s, %s, %s, %s, %s)", rows)
    query = """
    SELECT date_trunc('day', "ChargePeriodStart" AT TIME ZONE 'UTC') AS window_start,
           "ServiceName", "SubAccountId", sum("BilledCost") AS amount,
           "BillingCurrency" AS currency, count(*) AS quantity
    FROM focus WHERE "ChargePeriodStart" >= :since AND "ChargePeriodStart" < :until
    GROUP BY 1, 2, 3, 5
    """
    env = {"WH_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"}
    src = source(tmp_path, env, url_env="WH_URL", query=query)
    result = fetch(src, start + timedelta(days=1), start + timedelta(days=3))
    assert result.errors == []
    got = {
        (p.start.day, key_get(p.key, "ServiceName"), key_get(p.key, "SubAccountId")): (
            p.amount,
            p.quantity,
            p.currency,
        )
        for p in result.points
    }
    assert got == {
        (d, svc, "000123"): (Decimal("2.4000000024"), Decimal(24), "EUR")
        for d in (2, 3)
        for svc in ("vm", "db")
    }


def test_unreachable_warehouse_fails_with_the_url_but_not_its_password(tmp_path):
    env = {"WH_URL": "postgresql+psycopg://postgres:sekrit-pw@127.0.0.1:1/none"}
    src = source(tmp_path, env, url_env="WH_URL", query=DAILY)
    with pytest.raises(Exception, match=r"query on postgresql\+psycopg://postgres:\*\*\*@") as err:
        fetch(src)
    assert "sekrit-pw" not in str(err.value)


def test_adbc_postgresql_url_runs_the_query_through_the_driver(pg_database, tmp_path):
    pytest.importorskip("adbc_driver_postgresql")
    name, psycopg = pg_database
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}") as conn:
        conn.execute("CREATE TABLE spend (at timestamptz, team text, cost numeric(20,6))")
        conn.execute(
            "INSERT INTO spend VALUES ('2024-09-02 05:00+00', 'web', 1.25), "
            "('2024-09-02 07:00+00', 'web', 2), ('2024-09-03 01:00+00', 'data', 4), "
            "('2024-08-01 00:00+00', 'web', 1000)"
        )
    query = """
    SELECT date_trunc('day', at AT TIME ZONE 'UTC') AS window_start, team,
           sum(cost)::numeric(20,6) AS amount
    FROM spend WHERE at >= :since AND at < :until GROUP BY 1, 2
    """
    env = {"WH": f"adbc+postgresql://postgres@127.0.0.1:5432/{name}"}
    result = fetch(source(tmp_path, env, url_env="WH", query=query))
    assert result.errors == []
    assert {(p.start.day, key_get(p.key, "team"), p.amount) for p in result.points} == {
        (2, "web", Decimal("3.25")),
        (3, "data", Decimal(4)),
    }


def test_positional_parameters_leave_casts_alone():
    from alerter.sources.sql import positional

    query = "SELECT x::date FROM t WHERE a >= :since AND a < :until OR b = :since"
    assert positional(query, numbered=True) == (
        "SELECT x::date FROM t WHERE a >= $1 AND a < $2 OR b = $3",
        ["since", "until", "since"],
    )
    assert positional(query, numbered=False)[0].count("?") == 3
