"""The contract every registered source keeps, run over each one (like the notifier suite).

For each ``type`` in ``alerter.sources.SOURCES`` a harness builds the source against its
real backend on loopback or on disk (the Metronome and DigitalOcean fakes, CSV and FOCUS
files, a DuckDB file, an unreachable PostgreSQL) and yields fetches, some with one part
made to fail. Over all of them:

- missing data is not zero: every point lies inside a window the source says it covered,
  and a failed part has neither points nor coverage;
- a failed part is named (in ``errors``, or the fetch raises a ``SourceError``) and stays
  uncovered while the other parts are still covered;
- no secret (token, password) appears in any error, raised message or ``repr``.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from alerter.clock import FakeClock
from alerter.domain import CostPoint, Coverage, SeriesKey
from alerter.errors import SourceError
from alerter.sources import SOURCES
from alerter.sources.base import FetchResult, Source, SourceContext
from alerter.sources.csv_file import CsvConfig, CsvSource
from alerter.sources.digitalocean import DigitalOceanConfig, DigitalOceanSource
from alerter.sources.focus import FocusConfig, FocusSource
from alerter.sources.metronome import MetronomeConfig, MetronomeSource
from alerter.sources.sql import SqlConfig, SqlSource
from tests.fakes import digitalocean as do_fake
from tests.fakes import metronome as mtr_fake

H = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Fetch:
    """One fetch of a harness and what it promises about it."""

    label: str
    source: Source
    since: datetime
    until: datetime
    failed: SeriesKey | None = None
    """The scope of the part made to fail (``()``: all of it), None when nothing fails."""
    secret: str | None = None
    known_gap: str = ""
    """A known breach of the contract: reported as an expected failure with this reason."""


Harness = Callable[[Path], Iterator[Fetch]]
"""Yields fetches one by one; each runs before the harness goes on (to break a part)."""


def run(fetch: Fetch) -> FetchResult | SourceError:
    async def go() -> FetchResult:
        try:
            return await fetch.source.fetch(fetch.since, fetch.until)
        finally:
            await fetch.source.aclose()

    try:
        return asyncio.run(go())
    except SourceError as exc:
        return exc


def within(key: SeriesKey, scope: SeriesKey) -> bool:
    return set(scope) <= set(key)


def covers(coverage: list[Coverage], point: CostPoint) -> bool:
    return any(
        c.start <= point.start and point.end <= c.end and within(point.key, c.scope)
        for c in coverage
    )


# -- harnesses ---------------------------------------------------------------------------
MTR_TOKEN = "mtr-contract-secret-0123456789"
MTR_NOW = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)
MTR_DAY0 = datetime(2025, 3, 10, tzinfo=UTC)


def metronome(tmp: Path) -> Iterator[Fetch]:
    clock = FakeClock(MTR_NOW)
    data = mtr_fake.MetronomeDataset()
    gpu = mtr_fake.Product("GPU compute", credit_type=mtr_fake.USD_CENTS)
    ids = []
    for name in ("Good Co", "Bad Co"):
        customer = data.add_customer(name, products=[gpu])
        ids.append(customer.id)
        for hour in mtr_fake.hours(MTR_DAY0, 48):
            data.set_usage(customer.id, gpu.name, hour, Decimal(1200))
    good, bad = ids

    def source(token: str = MTR_TOKEN) -> MetronomeSource:
        cfg = MetronomeConfig(type="metronome", base_url=fake.url, max_attempts=2)
        ctx = SourceContext(clock, {"METRONOME_BEARER_TOKEN": token}, tmp)
        return MetronomeSource("mtr", cfg, ctx)

    with mtr_fake.FakeMetronome(data, token=MTR_TOKEN, now=clock.now) as fake:
        span = (MTR_DAY0, MTR_DAY0 + 2 * DAY)
        yield Fetch("healthy", source(), *span, secret=MTR_TOKEN)
        fake.faults.append(mtr_fake.Fault("500", customer_id=bad, times=None))
        yield Fetch("one customer fails", source(), *span, (("customer_id", bad),), MTR_TOKEN)
        yield Fetch("token refused", source("wrong-" + MTR_TOKEN), *span, (), MTR_TOKEN)
    assert good != bad


DO_TOKEN = "dop_v1_contract-secret-token"
DO_NOW = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)
URN_GOOD = "do:team:3f2a9c1e-7b4d-4e6a-9c8b-1d2e3f4a5b6c"
URN_BAD = "do:team:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def digitalocean(tmp: Path) -> Iterator[Fetch]:
    clock = FakeClock(DO_NOW)

    def source(token: str = DO_TOKEN) -> DigitalOceanSource:
        cfg = DigitalOceanConfig.model_validate(
            {"type": "digitalocean", "base_url": fake.base_url, "account_urns": (URN_GOOD, URN_BAD)}
        )
        return DigitalOceanSource(
            "do", cfg, SourceContext(clock, {"DIGITALOCEAN_TOKEN": token}, tmp)
        )

    with do_fake.FakeDigitalOcean(
        token=DO_TOKEN, accounts=(URN_GOOD, URN_BAD), now=lambda: clock.now().timestamp()
    ) as fake:
        for urn in (URN_GOOD, URN_BAD):
            fake.add_point(urn, "2025-03-10", "0.86", description="web-01")
            fake.add_point(urn, "2025-03-11", "1.20", description="web-01")
        span = (datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 12, tzinfo=UTC))
        yield Fetch("healthy", source(), *span, secret=DO_TOKEN)
        fake.faults.append(do_fake.Fault(status=503, account_urn=URN_BAD, times=100))
        yield Fetch("one account fails", source(), *span, (("account_urn", URN_BAD),), DO_TOKEN)
        yield Fetch("token refused", source("wrong-" + DO_TOKEN), *span, (), DO_TOKEN)


FILE_T0 = datetime(2026, 9, 7, tzinfo=UTC)


def csv(tmp: Path) -> Iterator[Fetch]:
    ctx = SourceContext(FakeClock(FILE_T0 + 3 * DAY), {}, tmp)
    (tmp / "good").mkdir()
    (tmp / "good" / "a.csv").write_text(
        "timestamp,amount,sku\n2026-09-07T00:10:00Z,1.25,a\n2026-09-07T02:00:00Z,3,b\n",
        encoding="utf-8",
    )
    (tmp / "bad").mkdir()
    (tmp / "bad" / "a.csv").write_text(
        "timestamp,amount,sku\n2026-09-07T00:10:00Z,1.25,a\n2026-09-07T01:00:00Z,12.4.5,b\n",
        encoding="utf-8",
    )

    def source(path: str) -> CsvSource:
        return CsvSource("c", CsvConfig(path=path, dimensions=["sku"], step=H), ctx)

    span = (FILE_T0, FILE_T0 + DAY)
    yield Fetch("healthy", source("good/*.csv"), *span)
    yield Fetch("a malformed file", source("bad/*.csv"), *span, ())
    yield Fetch("no file at all", source("none/*.csv"), *span, ())


FOCUS_HEADER = (
    "ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,BillingCurrency,ServiceName,"
    "SkuId,RegionId,SubAccountId,ChargeCategory,Tags\n"
)
FOCUS_ROW = "2026-09-07T00:00:00Z,2026-09-08T00:00:00Z,5,5,USD,EC2,sku1,us-east-1,acct,Usage,{}\n"


def focus(tmp: Path) -> Iterator[Fetch]:
    ctx = SourceContext(FakeClock(FILE_T0 + 3 * DAY), {}, tmp)
    (tmp / "good").mkdir()
    (tmp / "good" / "e.csv").write_text(FOCUS_HEADER + FOCUS_ROW, encoding="utf-8")
    (tmp / "bad").mkdir()
    (tmp / "bad" / "e.csv").write_text(FOCUS_HEADER + FOCUS_ROW, encoding="utf-8")
    (tmp / "bad" / "f.csv.gz").write_bytes(gzip.compress(b"not a FOCUS file")[:12])

    def source(path: str) -> FocusSource:
        return FocusSource("f", FocusConfig(path=path, window="day"), ctx)

    span = (FILE_T0, FILE_T0 + 2 * DAY)
    yield Fetch("healthy", source("good/*.csv"), *span)
    yield Fetch(
        "an unreadable file beside a readable one",
        source("bad/*"),
        *span,
        (),
    )


SQL_PASSWORD = "contract-sekrit-pw"
SQL_QUERY = """
SELECT date_trunc('day', ts) AS window_start, service, sum(cost) AS amount,
       'USD' AS currency
FROM spend WHERE ts >= :since AND ts < :until GROUP BY ALL
"""


def sql(tmp: Path) -> Iterator[Fetch]:
    con = duckdb.connect(str(tmp / "wh.duckdb"))
    con.execute("CREATE TABLE spend (ts TIMESTAMP, service VARCHAR, cost DECIMAL(18, 4))")
    con.execute("INSERT INTO spend VALUES ('2026-09-07 03:00:00', 'vm', 2.5)")
    con.close()
    env = {"WH_URL": f"postgresql+psycopg://postgres:{SQL_PASSWORD}@127.0.0.1:1/none"}
    ctx = SourceContext(FakeClock(FILE_T0 + 3 * DAY), env, tmp)

    def source(**cfg: str) -> SqlSource:
        return SqlSource("wh", SqlConfig(step="1d", query=SQL_QUERY, **cfg), ctx)

    span = (FILE_T0, FILE_T0 + 2 * DAY)
    yield Fetch("healthy", source(url="duckdb:///wh.duckdb"), *span)
    yield Fetch("a table that is not there", source(url="duckdb:///missing.duckdb"), *span, ())
    yield Fetch("warehouse unreachable", source(url_env="WH_URL"), *span, (), SQL_PASSWORD)


HARNESSES: dict[str, Harness] = {
    "metronome": metronome,
    "digitalocean": digitalocean,
    "csv": csv,
    "focus": focus,
    "sql": sql,
}


def test_every_registered_source_has_a_harness() -> None:
    assert set(HARNESSES) == set(SOURCES)


@pytest.fixture(params=sorted(SOURCES))
def outcomes(request: pytest.FixtureRequest, tmp_path: Path):
    return [(fetch, run(fetch)) for fetch in HARNESSES[request.param](tmp_path)]


def judge(breaches: list[tuple[Fetch, str]], outcomes) -> None:
    """Fail on a breach; a known gap is an expected failure, and strict about it."""
    known = {f.label: f.known_gap for f, _r in outcomes if f.known_gap}
    unknown = [f"{f.label}: {what}" for f, what in breaches if f.label not in known]
    assert unknown == []
    if known:
        hit = {f.label for f, _what in breaches} & set(known)
        if hit:
            pytest.xfail("; ".join(known[label] for label in sorted(hit)))


def test_missing_data_is_not_zero(outcomes) -> None:
    """Every point lies inside coverage; a failed part has no points and no coverage."""
    breaches: list[tuple[Fetch, str]] = []
    for fetch, result in outcomes:
        if isinstance(result, SourceError):
            continue  # nothing stored, nothing covered
        points = result.all_points(fetch.source.name)
        if [p for p in points if not covers(result.coverage, p)]:
            breaches.append((fetch, "points outside coverage"))
        if fetch.failed is None:
            continue
        if [p for p in points if within(p.key, fetch.failed)]:
            breaches.append((fetch, "points of the failed part"))
        if [c for c in result.coverage if within(fetch.failed, c.scope)]:
            breaches.append((fetch, "the failed part is covered"))
    judge(breaches, outcomes)


def test_failed_parts_are_named_and_the_rest_stays_covered(outcomes) -> None:
    breaches: list[tuple[Fetch, str]] = []
    for fetch, result in outcomes:
        if fetch.failed is None:
            if isinstance(result, SourceError) or result.errors or not result.coverage:
                breaches.append((fetch, f"a healthy fetch failed or covered nothing: {result}"))
        elif isinstance(result, SourceError):
            if fetch.failed != () or not str(result):
                breaches.append((fetch, "one part failing failed the whole fetch"))
        elif not result.errors:
            breaches.append((fetch, "the failed part is not named in errors"))
        elif fetch.failed != () and not result.coverage:
            breaches.append((fetch, "the parts that answered are not covered"))
    judge(breaches, outcomes)


def test_no_secret_in_any_error(outcomes) -> None:
    breaches: list[tuple[Fetch, str]] = []
    for fetch, result in outcomes:
        if fetch.secret is None:
            continue
        texts = [repr(fetch.source)]
        texts += [str(result), repr(result)] if isinstance(result, SourceError) else result.errors
        if [t for t in texts if fetch.secret in t]:
            breaches.append((fetch, "the secret is in an error"))
    judge(breaches, outcomes)
