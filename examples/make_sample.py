"""Regenerate the bundled FOCUS sample: python examples/make_sample.py

Five weeks of hourly FOCUS 1.x rows (2026-09-07 to 2026-10-12, UTC) for six
service/region series with a daily rhythm (busy business hours) and a weekly one
(quiet weekends), plus two planted events:

- a spike: AmazonEC2 in us-east-1 runs at 5x for two hours on 2026-10-01 14:00-16:00;
- a level shift: AmazonRDS in us-east-1 doubles from 2026-10-05 onwards.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
HOURS = 35 * 24
SERIES = [
    # service, region, sku, account, base $/h, team
    ("AmazonEC2", "us-east-1", "BoxUsage:m5.xlarge", "111111111111", 42.0, "platform"),
    ("AmazonEC2", "eu-west-1", "BoxUsage:m5.large", "111111111111", 18.0, "platform"),
    ("AmazonS3", "us-east-1", "TimedStorage-ByteHrs", "222222222222", 9.0, "data"),
    ("AmazonS3", "eu-west-1", "TimedStorage-ByteHrs", "222222222222", 4.0, "data"),
    ("AmazonRDS", "us-east-1", "InstanceUsage:db.r6g.xl", "222222222222", 12.0, "data"),
    ("AWSLambda", "us-east-1", "Request", "333333333333", 3.0, "web"),
]
SPIKE = ("AmazonEC2", "us-east-1", START + timedelta(days=24, hours=14), 2, 5.0)
SHIFT = ("AmazonRDS", "us-east-1", START + timedelta(days=28), 2.0)
COLUMNS = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "ChargeCategory",
    "ServiceName",
    "SkuId",
    "RegionId",
    "SubAccountId",
    "ConsumedQuantity",
    "Tags",
]


def rhythm(when: datetime) -> float:
    daily = 0.55 + 0.45 * math.sin(math.pi * max(0, min(1, (when.hour - 6) / 14))) ** 2
    weekly = 0.7 if when.weekday() >= 5 else 1.0
    return daily * weekly


def main() -> None:
    rng = random.Random(7)
    out = Path(__file__).parent / "focus" / "focus-sample-2026-09.csv.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for h in range(HOURS):
            t = START + timedelta(hours=h)
            for service, region, sku, account, base, team in SERIES:
                cost = base * rhythm(t) * (1 + rng.gauss(0, 0.04))
                s_service, s_region, s_at, s_hours, s_factor = SPIKE
                if (service, region) == (s_service, s_region) and s_at <= t < s_at + timedelta(
                    hours=s_hours
                ):
                    cost *= s_factor
                if (service, region) == SHIFT[:2] and t >= SHIFT[2]:
                    cost *= SHIFT[3]
                amount = Decimal(f"{max(cost, 0):.6f}")
                month = t.replace(day=1, hour=0)
                writer.writerow(
                    [
                        month.isoformat().replace("+00:00", "Z"),
                        (month + timedelta(days=32))
                        .replace(day=1)
                        .isoformat()
                        .replace("+00:00", "Z"),
                        t.isoformat().replace("+00:00", "Z"),
                        (t + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
                        amount,
                        amount,
                        "USD",
                        "Usage",
                        service,
                        sku,
                        region,
                        account,
                        f"{float(amount) * 10:.3f}",
                        json.dumps({"team": team}),
                    ]
                )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
