"""A daemon's App fed by the Metronome fake, with the web UI on a loopback port.

Time is the App's FakeClock (the fake serves no window that starts after it); a test
moves it and runs a cycle with ``site.cycle()``. Nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from alerter.cycle import CycleReport
from alerter.server import Health, HttpServer
from alerter.web import WebUI
from tests.fakes.metronome import Customer, FakeMetronome, MetronomeDataset, Product
from tests.fakes.pagerduty import ROUTING_KEY

T0 = datetime(2026, 9, 7, 12, tzinfo=UTC)  # a Monday, noon
SHIFT_AT = T0 - timedelta(hours=6)
TOKEN = "mtr-web-token-5f2c"
UI_USER = "oncall"
UI_PASSWORD = "pw-web-ui-9d41"
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
GPU = Product("GPU compute")
API = Product("API requests")
CHROMIUM = Path("/usr/bin/chromium")
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


class ShiftedUsage:
    """GPU compute at $50 an hour, ten times that from ``SHIFT_AT`` for the customers
    named in ``hot``; API requests at $5 an hour throughout."""

    def __init__(self, hot: set[str]) -> None:
        self.hot = hot

    def __call__(self, customer: Customer, product: Product, hour: datetime) -> Decimal:
        if product.name != GPU.name:
            return Decimal(500)
        cents = Decimal(5000)
        if customer.name in self.hot and hour >= SHIFT_AT:
            cents *= 10
        return cents


def write_config(
    tmp: Path, base_url: str, http: str, state: str = "state.db", notifiers: str = ""
) -> Path:
    (tmp / "rules").mkdir(exist_ok=True)
    (tmp / "rules" / "web.toml").write_text(
        """
[[rule]]
name = "customer-hourly-over-200"
source = "metronome"
description = "A customer's hourly spend is over $200."
match = { credit_type = "USD (cents)" }
group_by = ["customer_id", "customer_name"]
severity = "critical"
repeat_interval = "2h"
max_alerts = "1/month"
top_contributors = 3
detector = { type = "threshold", above = 200 }
""",
        encoding="utf-8",
    )
    config = tmp / "alerter.toml"
    config.write_text(
        f"""
[alerter]
state = "{state}"
rules = ["rules/*.toml"]

[alerter.http]
host = "127.0.0.1"
port = 0
{http}

[sources.metronome]
type = "metronome"
base_url = "{base_url}"
token_env = "MTR_WEB_TOKEN"
window = "hour"
schedule = "1h"
lookback = "12h"
backfill = "2d"

[notifiers.jsonl]
type = "file"
path = "alerts.jsonl"
{notifiers}
""",
        encoding="utf-8",
    )
    return config


@dataclass
class Site:
    """The App, its clock, the fake billing API and the UI's base URL."""

    app: App
    clock: FakeClock
    fake: FakeMetronome
    url: str
    tmp: Path
    customers: dict[str, Customer]

    loop: asyncio.AbstractEventLoop

    def cycle(self) -> CycleReport:
        """One poll cycle of the Metronome source at the clock's now, on the site's own
        event loop thread (the browser driver owns this thread's loop)."""
        return asyncio.run_coroutine_threadsafe(self.app.run_cycle("metronome"), self.loop).result()

    def alerts(self) -> list[dict[str, Any]]:
        path = self.tmp / "alerts.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def make_site(
    tmp: Path, http: str, *, state: str = "state.db", notifiers: str = ""
) -> Generator[Site, None, None]:
    """``state``: the state file or a PostgreSQL URL; ``notifiers``: more notifier sections."""
    clock = FakeClock(T0)
    data = MetronomeDataset(ShiftedUsage({"Acme Corp", HOSTILE}))
    customers = {
        name: data.add_customer(name, [GPU, API]) for name in ("Acme Corp", HOSTILE, "Quiet Co")
    }
    env = {
        "MTR_WEB_TOKEN": TOKEN,
        "UI_USER": UI_USER,
        "UI_PASS": UI_PASSWORD,
        "PD_KEY": ROUTING_KEY,
    }
    loop = asyncio.new_event_loop()
    worker = threading.Thread(target=loop.run_forever, name="site-loop", daemon=True)
    worker.start()
    with FakeMetronome(data, token=TOKEN, now=clock.now) as fake:
        config = write_config(tmp, fake.url, http, state, notifiers)
        app = App(load_config(config), clock=clock, env=env)
        cfg = app.config.alerter.http
        server = HttpServer(
            cfg.host,
            cfg.port,
            health=lambda: Health(True, {}),
            metrics=lambda: b"",
            ui=WebUI(app).handle,
        ).start()
        site = Site(app, clock, fake, f"http://127.0.0.1:{server.port}", tmp, customers, loop)
        try:
            site.cycle()
            yield site
        finally:
            server.stop()
            asyncio.run_coroutine_threadsafe(app.aclose(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
            worker.join()
            loop.close()


BASIC = 'ui = true\nui_user_env = "UI_USER"\nui_password_env = "UI_PASS"'


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The UI with basic-auth credentials for changes, after the first cycle."""
    yield from make_site(tmp_path, BASIC)


@pytest.fixture
def make_ui_site(tmp_path: Path) -> Iterator[Any]:
    """Build a site with other ``[alerter.http]`` lines (read-only, token, ...)."""
    made: list[Generator[Site, None, None]] = []

    def build(http: str, sub: str = "x") -> Site:
        folder = tmp_path / sub
        folder.mkdir()
        gen = make_site(folder, http)
        made.append(gen)
        return next(gen)

    yield build
    for gen in made:
        gen.close()


@pytest.fixture(scope="session")
def browser_profile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chromium")


@pytest.fixture
def chromium(browser_profile_root: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of fresh headless Debian chromium contexts (Playwright, no download)."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's chromium "
            "(apt-get update && apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        contexts: list[Any] = []

        def launch(**options: Any) -> Any:
            profile = browser_profile_root / f"{request.node.name}-{len(contexts)}"
            context = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                **options,
            )
            context.set_default_timeout(15_000)
            contexts.append(context)
            return context

        yield launch
        for context in contexts:
            context.close()
