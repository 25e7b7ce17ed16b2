"""Draw docs/chart-example.png: the chart a Slack thread or an email carries.

A week of hourly spend with a daily rhythm, then a GPU-hours spike in the last window
(the same sample notification the notifier tests use). Run from the repository root:

    python bench/make_chart_example.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerter.notify.render.chart import render_chart  # noqa: E402
from tests.fakes.notifications import sample  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "chart-example.png",
        help="where to write the PNG (default: docs/chart-example.png)",
    )
    out = parser.parse_args(argv).out.resolve()
    png = render_chart(sample("Acme Corp"), "Europe/Berlin", dpi=110)
    assert png is not None
    out.write_bytes(png)
    print(f"wrote {out} ({len(png)} bytes)")


if __name__ == "__main__":
    main()
