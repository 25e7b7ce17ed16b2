"""An Azure Cost Management FOCUS export (gzip CSV parts, a manifest.json per run) in
Azurite's blob service on loopback: the newest run of each date range counts, a daily
export that overwrites its files is read again only when they changed, and those
changes land as revisions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.clock import FakeClock
from alerter.domain import key_get
from alerter.sources.base import SourceContext
from alerter.sources.focus import FocusConfig, FocusSource
from alerter.store.sqlite import SqliteStore
from tests.fakes.focus_exports import azure_manifest, csv_gz_bytes, hourly_rows
from tests.fakes.objectstores import azurite, azurite_command

pytestmark = [
    pytest.mark.scenario,
    pytest.mark.skipif(
        azurite_command() is None,
        reason="Azurite not installed (npm install -g azurite, or npm install azurite here)",
    ),
]

CONTAINER = "exports"
ROOT = "focus/daily-focus"
SEPT = datetime(2026, 9, 1, tzinfo=UTC)
NOW = datetime(2026, 9, 4, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def blob(tmp_path_factory):
    with azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture
def container(blob, request):
    name = f"{CONTAINER}-{request.node.name[-20:].lower().replace('_', '-').strip('-')}"
    client = blob.service().create_container(name)
    yield name, client
    client.delete_container()


def put_run(client, run_id: str, rows, *, rng: str = "20260901-20260930") -> str:
    part = f"{ROOT}/{rng}/{run_id}/part_0_0001.csv.gz"
    client.upload_blob(part, csv_gz_bytes(rows), overwrite=True)
    client.upload_blob(
        f"{ROOT}/{rng}/{run_id}/manifest.json",
        azure_manifest(client.container_name, [part], run_id, "2026-09-01", "2026-09-30"),
        overwrite=True,
    )
    return part


def source(tmp_path: Path, blob, container: str, **extra) -> FocusSource:
    cfg = FocusConfig(
        path=f"az://{container}/{ROOT}/",
        window="day",
        extra_dimensions=["x_UsageType"],
        **extra,
    )
    env = {"AZURE_STORAGE_CONNECTION_STRING": blob.connection_string}
    return FocusSource("azure", cfg, SourceContext(FakeClock(NOW), env, tmp_path))


def fetch(src: FocusSource):
    return asyncio.run(src.fetch(SEPT, NOW))


def test_newest_run_counts_and_an_overwritten_export_becomes_revisions(blob, container, tmp_path):
    name, client = container
    put_run(client, "run-1", hourly_rows(SEPT, SEPT + timedelta(days=1)))
    part = put_run(client, "run-2", hourly_rows(SEPT, SEPT + timedelta(days=3)))
    src = source(tmp_path, blob, name)
    store = SqliteStore(":memory:")
    try:
        first = fetch(src)
        assert first.errors == [] and src.reads == 1  # run-1 is superseded, never read
        assert {p.start for p in first.all_points("azure")} == {
            SEPT + timedelta(days=d) for d in range(3)
        }
        assert {key_get(p.key, "SubAccountId") for p in first.all_points("azure")} == {
            "012345678901",
            "000000000042",
        }
        store.upsert("azure", first, NOW)

        unchanged = fetch(src)
        assert src.reads == 1 and unchanged.all_points("azure") == first.all_points("azure")

        # The daily export overwrites its part in place, with day 2 of EC2 changed.
        rows = hourly_rows(SEPT, SEPT + timedelta(days=3))
        for row in rows:
            start = row["ChargePeriodStart"]
            assert isinstance(start, datetime)
            if start.day == 2 and row["x_ServiceCode"] == "AmazonEC2":
                row["BilledCost"] = 1.25
        client.upload_blob(part, csv_gz_bytes(rows), overwrite=True)
        second = fetch(src)
        assert src.reads == 2
        report = store.upsert("azure", second, NOW + timedelta(hours=1))
        assert len(report.revised) == 6  # EC2 on day 2: 3 regions x 2 accounts
        ec2 = {
            p.amount
            for p in second.all_points("azure")
            if p.start == SEPT + timedelta(days=1)
            and key_get(p.key, "ServiceName") == "Amazon Elastic Compute Cloud"
        }
        assert ec2 == {Decimal("30")}  # 24 h x 1.25
    finally:
        store.close()


def test_a_run_without_manifest_is_not_read(blob, container, tmp_path):
    name, client = container
    client.upload_blob(
        f"{ROOT}/20260901-20260930/run-0/part_0_0001.csv.gz",
        csv_gz_bytes(hourly_rows(SEPT, SEPT + timedelta(days=1))),
    )
    result = fetch(source(tmp_path, blob, name))
    assert result.all_points("azure") == [] and result.coverage == []


def test_an_abfs_url_naming_container_and_account_reads_the_same_export(blob, container, tmp_path):
    name, client = container
    put_run(client, "run-1", hourly_rows(SEPT, SEPT + timedelta(days=2)))
    plain = fetch(source(tmp_path, blob, name))
    cfg = FocusConfig(
        path=f"abfs://{name}@devstoreaccount1.dfs.core.windows.net/{ROOT}/",
        window="day",
        extra_dimensions=["x_UsageType"],
    )
    env = {"AZURE_STORAGE_CONNECTION_STRING": blob.connection_string}
    abfs = FocusSource("azure", cfg, SourceContext(FakeClock(NOW), env, tmp_path))
    result = fetch(abfs)
    assert result.errors == []
    assert sorted(p.amount for p in result.all_points("azure")) == sorted(
        p.amount for p in plain.all_points("azure")
    )
    assert len(result.all_points("azure")) == 36 * 2
