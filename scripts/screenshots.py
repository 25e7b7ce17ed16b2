"""Screenshots of the web UI for the README, from a run on the bundled sample.

Copies config.example.toml, rules/ and examples/focus/ to a temporary folder, runs one
cycle of every source with the clock set just after the sample's level shift (so one
incident is open and one resolved), serves the UI on a free loopback port and has
Debian's chromium (through Playwright) take the pictures:

    python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alerter.app import App  # noqa: E402
from alerter.clock import FakeClock  # noqa: E402
from alerter.config import load_config  # noqa: E402
from alerter.server import Health, HttpServer  # noqa: E402
from alerter.web import WebUI  # noqa: E402

NOW = datetime(2026, 10, 6, 12, tzinfo=UTC)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def sample_app(folder: Path) -> App:
    shutil.copy(REPO / "config.example.toml", folder / "config.toml")
    shutil.copytree(REPO / "rules", folder / "rules")
    shutil.copytree(REPO / "examples" / "focus", folder / "examples" / "focus")
    config = folder / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[sources.sample]", "[alerter.http]\nui = true\n\n[sources.sample]", 1
        ),
        encoding="utf-8",
    )
    app = App(load_config(config), clock=FakeClock(NOW), env={}, out=io.StringIO())
    asyncio.run(app.run_once())
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = sample_app(Path(tmp))
        server = HttpServer(
            "127.0.0.1",
            0,
            health=lambda: Health(True, {}),
            metrics=lambda: b"",
            ui=WebUI(app).handle,
        ).start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            with sync_playwright() as pw:
                context = pw.chromium.launch_persistent_context(
                    str(Path(tmp) / "profile"),
                    executable_path=args.chromium,
                    args=CHROMIUM_ARGS,
                    headless=True,
                    viewport={"width": 1280, "height": 720},
                )
                page = context.new_page()
                shots = {
                    "incidents.png": "/ui/",
                    "incident.png": "/ui/incidents/1",
                    "sources.png": "/ui/sources",
                    "backtest.png": "/ui/rules/service-hourly-spike/backtest",
                }
                for name, path in shots.items():
                    page.goto(base + path)
                    page.screenshot(path=str(args.out / name), full_page=True)
                    print(f"wrote {args.out / name}")  # noqa: T201
                context.close()
        finally:
            server.stop()
            asyncio.run(app.aclose())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
