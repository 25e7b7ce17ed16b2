"""FOCUS exports laid out as AWS Data Exports and Azure Cost Management write them."""

from __future__ import annotations

import gzip
import io
import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

SERVICES = [
    ("Amazon Elastic Compute Cloud", "AmazonEC2", "BoxUsage:m5.xlarge", 40.0),
    ("Amazon Simple Storage Service", "AmazonS3", "TimedStorage-ByteHrs", 9.0),
    ("Amazon Relational Database Service", "AmazonRDS", "InstanceUsage:db.r6g", 15.0),
    ("AWS Lambda", "AWSLambda", "Request", 3.0),
    ("Amazon CloudFront", "AmazonCloudFront", "DataTransfer-Out-Bytes", 6.0),
    ("Amazon DynamoDB", "AmazonDynamoDB", "WriteCapacityUnit-Hrs", 5.0),
]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
ACCOUNTS = ["012345678901", "000000000042"]  # leading zeros must survive


def series() -> list[tuple[str, str, str, str, str, float]]:
    """(ServiceName, x_ServiceCode, x_UsageType, RegionId, SubAccountId, $/h): 36 series."""
    return [
        (name, code, usage, region, account, base * (1 + 0.3 * r + 0.2 * a))
        for name, code, usage, base in SERVICES
        for r, region in enumerate(REGIONS)
        for a, account in enumerate(ACCOUNTS)
    ]


def hourly_rows(
    start: datetime,
    end: datetime,
    *,
    spikes: dict[tuple[str, str, str, datetime], float] | None = None,
    seed: int = 7,
) -> list[dict[str, object]]:
    """One FOCUS 1.2 row per series and hour in ``[start, end)``, with 3% noise.

    ``spikes[(ServiceName, RegionId, SubAccountId, day)] = factor`` multiplies a day.
    """
    rng = random.Random(seed)
    spikes = spikes or {}
    rows: list[dict[str, object]] = []
    t = start
    while t < end:
        day = t.replace(hour=0)
        for name, code, usage, region, account, base in series():
            cost = base * (1 + rng.gauss(0, 0.03)) * spikes.get((name, region, account, day), 1.0)
            period = t.replace(day=1, hour=0)
            rows.append(
                {
                    "BillingPeriodStart": period,
                    "BillingPeriodEnd": (period + timedelta(days=32)).replace(day=1),
                    "ChargePeriodStart": t,
                    "ChargePeriodEnd": t + timedelta(hours=1),
                    "BilledCost": round(cost, 10),
                    "EffectiveCost": round(cost * 0.9, 10),
                    "BillingCurrency": "USD",
                    "ChargeCategory": "Usage",
                    "ChargeClass": None,
                    "ServiceName": name,
                    "SkuId": f"SKU-{code}",
                    "SkuMeter": usage,
                    "RegionId": region,
                    "SubAccountId": account,
                    "ConsumedQuantity": 1.0,
                    "Tags": [("team", "platform" if code == "AmazonEC2" else "data")],
                    "x_ServiceCode": code,
                    "x_UsageType": usage,
                    "x_Operation": "RunInstances",
                }
            )
        t += timedelta(hours=1)
    return rows


FOCUS_12_SCHEMA = pa.schema(
    [
        ("BillingPeriodStart", pa.timestamp("ms", tz="UTC")),
        ("BillingPeriodEnd", pa.timestamp("ms", tz="UTC")),
        ("ChargePeriodStart", pa.timestamp("ms", tz="UTC")),
        ("ChargePeriodEnd", pa.timestamp("ms", tz="UTC")),
        ("BilledCost", pa.decimal128(38, 10)),
        ("EffectiveCost", pa.decimal128(38, 10)),
        ("BillingCurrency", pa.string()),
        ("ChargeCategory", pa.string()),
        ("ChargeClass", pa.string()),
        ("ServiceName", pa.string()),
        ("SkuId", pa.string()),
        ("SkuMeter", pa.string()),
        ("RegionId", pa.string()),
        ("SubAccountId", pa.string()),
        ("ConsumedQuantity", pa.float64()),
        ("Tags", pa.map_(pa.string(), pa.string())),
        ("x_ServiceCode", pa.string()),
        ("x_UsageType", pa.string()),
        ("x_Operation", pa.string()),
    ]
)


def parquet_bytes(rows: list[dict[str, object]]) -> bytes:
    from decimal import Decimal

    fixed = [
        {
            **r,
            "BilledCost": Decimal(str(r["BilledCost"])),
            "EffectiveCost": Decimal(str(r["EffectiveCost"])),
        }
        for r in rows
    ]
    table = pa.Table.from_pylist(fixed, schema=FOCUS_12_SCHEMA)
    out = io.BytesIO()
    pq.write_table(table, out, compression="snappy")
    return out.getvalue()


def csv_gz_bytes(rows: Iterable[dict[str, object]]) -> bytes:
    """Azure-style CSV: offset-less timestamps, tags as JSON, gzip."""
    import csv

    text = io.StringIO()
    writer = None
    for r in rows:
        flat = {
            k: (
                v.strftime("%Y-%m-%dT%H:%M:%S")
                if isinstance(v, datetime)
                else json.dumps(dict(v))
                if isinstance(v, list)
                else ("" if v is None else v)
            )
            for k, v in r.items()
        }
        if writer is None:
            writer = csv.DictWriter(text, fieldnames=list(flat))
            writer.writeheader()
        writer.writerow(flat)
    return gzip.compress(text.getvalue().encode())


def aws_manifest(bucket: str, data_keys: list[str], execution: str, period: str) -> bytes:
    """A Data Exports Manifest.json (the fields alerter reads, plus a few real ones)."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    return json.dumps(
        {
            "executionId": execution,
            "exportArn": "arn:aws:bcm-data-exports:us-east-1:012345678901:export/focus-a1b2",
            "billingPeriod": {
                "start": start.isoformat(),
                "end": (start + timedelta(days=32)).replace(day=1).isoformat(),
            },
            "dataFiles": [f"s3://{bucket}/{key}" for key in data_keys],
            "columns": [{"name": f.name, "type": str(f.type)} for f in FOCUS_12_SCHEMA],
        }
    ).encode()


def azure_manifest(
    container: str, blob_names: list[str], run_id: str, start: str, end: str
) -> bytes:
    return json.dumps(
        {
            "manifestVersion": "2024-04-01",
            "blobCount": len(blob_names),
            "exportConfig": {
                "exportName": "daily-focus",
                "type": "FocusCost",
                "dataVersion": "1.0r2",
            },
            "deliveryConfig": {
                "fileFormat": "Csv",
                "compressionMode": "gzip",
                "dataOverwriteBehavior": "OverwritePreviousReport",
                "containerUri": f"/subscriptions/x/storageAccounts/y/blobServices/default/containers/{container}",
            },
            "runInfo": {
                "runId": run_id,
                "submittedTime": f"{end}T06:00:00Z",
                "startDate": f"{start}T00:00:00",
                "endDate": f"{end}T00:00:00",
            },
            "blobs": [{"blobName": name, "byteCount": 0} for name in blob_names],
        }
    ).encode()
