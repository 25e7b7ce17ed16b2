"""An AWS Data Exports FOCUS 1.2 Parquet export in an S3 bucket (moto's server on
loopback), 36 series with one planted spike: exactly one incident. Deliveries count only
with their manifest; a newer delivery of a billing period replaces the older; files
already read and unchanged are not read again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from alerter.domain import key_get
from alerter.sources.focus import FocusSource
from tests.fakes.focus_exports import aws_manifest, hourly_rows, parquet_bytes
from tests.fakes.objectstores import S3_ENV, moto_s3

pytestmark = pytest.mark.scenario

BUCKET = "billing"
ROOT = "cur/focus-export"
START = datetime(2026, 8, 1, tzinfo=UTC)
SPIKE_DAY = datetime(2026, 9, 5, tzinfo=UTC)
NOW = datetime(2026, 9, 6, 3, tzinfo=UTC)
SPIKED = ("Amazon Relational Database Service", "eu-west-1", "000000000042")

RULES = """
[[rule]]
name = "aws-service-daily"
source = "aws"
group_by = ["ServiceName", "RegionId", "SubAccountId"]
min_delta = 20
severity = "warning"
[rule.detector]
type = "zscore"
window = 21
k = 6
"""


@pytest.fixture
def s3():
    with moto_s3() as server:
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        yield server, client


def put_delivery(client, period: str, execution: str | None, rows, manifest: bool = True):
    """Data file(s) of one delivery, then (like AWS) its manifest last."""
    folder = f"BILLING_PERIOD={period}" + (f"/{execution}" if execution else "")
    key = f"{ROOT}/data/{folder}/focus-export-00001.snappy.parquet"
    client.put_object(Bucket=BUCKET, Key=key, Body=parquet_bytes(rows))
    if manifest:
        client.put_object(
            Bucket=BUCKET,
            Key=f"{ROOT}/metadata/{folder}/focus-export-Manifest.json",
            Body=aws_manifest(BUCKET, [key], execution or "overwrite", period),
        )
    return key


def write_config(tmp_path: Path, endpoint: str) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "aws.toml").write_text(RULES)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"""
[alerter]
state = "state.db"
rules = ["rules/*.toml"]
settle = "1h"

[sources.aws]
type = "focus"
path = "s3://{BUCKET}/{ROOT}/"
endpoint_url = "{endpoint}"
window = "day"
extra_dimensions = ["x_UsageType"]
tags = ["team"]
lookback = "3d"
backfill = "60d"

[notifiers.out]
type = "file"
path = "alerts.jsonl"
"""
    )
    return cfg


def run(app: App, now: datetime):
    async def go():
        return await app.run_cycle("aws", now)

    return asyncio.run(go())


def test_one_planted_spike_among_36_series_gives_exactly_one_incident(s3, tmp_path):
    server, client = s3
    spike = {(*SPIKED, SPIKE_DAY): 4.0}
    august = hourly_rows(START, datetime(2026, 9, 1, tzinfo=UTC))
    put_delivery(client, "2026-08", None, august)
    # September: an older delivery (through 09-03), the newer one (through 09-05, with
    # the spike), and one still being written (no manifest yet) with a bogus spike.
    sept = datetime(2026, 9, 1, tzinfo=UTC)
    put_delivery(
        client, "2026-09", "20260904T0600Z-a1", hourly_rows(sept, sept + timedelta(days=3))
    )
    put_delivery(
        client,
        "2026-09",
        "20260906T0100Z-b2",
        hourly_rows(sept, SPIKE_DAY + timedelta(days=1), spikes=spike),
    )
    bogus = {("AWS Lambda", "us-east-1", "012345678901", SPIKE_DAY): 50.0}
    put_delivery(
        client,
        "2026-09",
        "20260906T0200Z-c3",
        hourly_rows(sept, SPIKE_DAY + timedelta(days=1), spikes=bogus),
        manifest=False,
    )

    cfg = write_config(tmp_path, server.endpoint)
    app = App(load_config(cfg), clock=FakeClock(NOW), env=S3_ENV)
    try:
        report = run(app, NOW)
        assert report.ok and report.errors == []
        assert report.points == 36 * 36  # 36 series x 36 days (Aug 1 .. Sep 5)
        opened = app.store.incidents("open")
        assert len(opened) == 1
        (incident,) = opened
        assert (
            tuple(key_get(incident.group, d) for d in ("ServiceName", "RegionId", "SubAccountId"))
            == SPIKED
        )
        assert incident.first_window == SPIKE_DAY

        source = app.sources["aws"]
        assert isinstance(source, FocusSource)
        reads = source.reads
        assert reads == 2  # August and the newest September delivery, nothing else

        # Nothing changed: nothing is read again, nothing revised, still one incident.
        again = run(app, NOW + timedelta(hours=1))
        assert source.reads == reads and again.revised == 0 and again.errors == []
        assert len(app.store.incidents()) == 1

        # A newer delivery of September replaces the older one: its changed day is a
        # revision, and only the new file is read.
        revised = hourly_rows(sept, SPIKE_DAY + timedelta(days=1), spikes=spike)
        day_before = SPIKE_DAY - timedelta(days=1)
        for row in revised:
            start = row["ChargePeriodStart"]
            assert isinstance(start, datetime)
            if start.date() == day_before.date() and row["ServiceName"] == "AWS Lambda":
                row["BilledCost"] = 0.5
        put_delivery(client, "2026-09", "20260906T0500Z-d4", revised)
        third = run(app, NOW + timedelta(hours=2))
        assert source.reads == reads + 1
        assert third.revised == 6  # AWS Lambda on Sep 4, in 3 regions x 2 accounts
        lambdas = {
            p.amount
            for p in app.store.load_points("aws", day_before, SPIKE_DAY)
            if key_get(p.key, "ServiceName") == "AWS Lambda"
        }
        assert lambdas == {Decimal("12")}  # 24 hours x 0.5
        assert len(app.store.incidents()) == 1
    finally:
        asyncio.run(app.aclose())

    # After a restart the file marks in the state say nothing changed: nothing is read.
    restarted = App(load_config(cfg), clock=FakeClock(NOW), env=S3_ENV)
    try:
        later = run(restarted, NOW + timedelta(hours=3))
        source = restarted.sources["aws"]
        assert isinstance(source, FocusSource)
        assert later.ok and later.points == 0 and source.reads == 0
        assert len(restarted.store.incidents()) == 1
    finally:
        asyncio.run(restarted.aclose())


def test_a_delivery_without_its_manifest_is_not_read_and_a_missing_file_is_named(s3, tmp_path):
    server, client = s3
    sept = datetime(2026, 9, 1, tzinfo=UTC)
    put_delivery(
        client, "2026-09", "x1", hourly_rows(sept, sept + timedelta(days=2)), manifest=False
    )
    cfg = write_config(tmp_path, server.endpoint)
    app = App(load_config(cfg), clock=FakeClock(NOW), env=S3_ENV)
    try:
        report = run(app, NOW)
        assert report.points == 0
        # a manifest whose data file is gone: the period is not read, and it says why
        client.put_object(
            Bucket=BUCKET,
            Key=f"{ROOT}/metadata/BILLING_PERIOD=2026-09/x2/focus-export-Manifest.json",
            Body=aws_manifest(BUCKET, [f"{ROOT}/data/gone.parquet"], "x2", "2026-09"),
        )
        report = run(app, NOW + timedelta(hours=1))
        assert report.points == 0
        assert any(
            "lists 1 file(s) that are not there" in e and "gone.parquet" in e for e in report.errors
        )
    finally:
        asyncio.run(app.aclose())


def test_a_missing_bucket_fails_the_poll_with_a_clear_error_and_no_secret(s3, tmp_path):
    server, _ = s3
    cfg = write_config(tmp_path, server.endpoint)
    cfg.write_text(cfg.read_text().replace(f"s3://{BUCKET}/", "s3://no-such-bucket/"))
    env = {**S3_ENV, "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}
    app = App(load_config(cfg), clock=FakeClock(NOW), env=env)
    try:
        report = run(app, NOW)
        assert not report.ok and report.points == 0
        assert report.errors == [f"source aws: no FOCUS file at s3://no-such-bucket/{ROOT}/"]
        assert "s3cr3t-value" not in " ".join(report.errors)
    finally:
        asyncio.run(app.aclose())


def test_an_unreadable_file_leaves_its_billing_period_unknown_and_the_others_alert(s3, tmp_path):
    """August's data file is corrupt, July and September read fine: both are covered and
    stored, August is named in the errors and left uncovered (unknown, not zero)."""
    server, client = s3
    july, august, sept = (datetime(2026, m, 1, tzinfo=UTC) for m in (7, 8, 9))
    put_delivery(client, "2026-07", None, hourly_rows(july, august))
    key = put_delivery(client, "2026-08", None, hourly_rows(august, sept))
    client.put_object(Bucket=BUCKET, Key=key, Body=b"PAR1 not really parquet")
    put_delivery(client, "2026-09", "x1", hourly_rows(sept, sept + timedelta(days=3)))
    cfg = write_config(tmp_path, server.endpoint)
    cfg.write_text(cfg.read_text().replace('backfill = "60d"', 'backfill = "90d"'))
    app = App(load_config(cfg), clock=FakeClock(NOW), env=S3_ENV)
    try:
        report = run(app, NOW)
        assert any(key in e for e in report.errors), report.errors
        cover = app.store.load_coverage("aws", july, NOW)
        assert [c for c in cover if c.start < sept and c.end > august] == []
        assert any(c.start <= july + timedelta(days=5) for c in cover)
        assert any(c.start <= sept < c.end for c in cover)
        days = {p.start.date() for p in app.store.load_points("aws", july, NOW)}
        assert not [d for d in days if d.month == 8]
        assert july.date() in days and sept.date() in days
    finally:
        asyncio.run(app.aclose())
