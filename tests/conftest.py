"""Shared pytest options and fixtures."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ instead of comparing with them.",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was started with ``--update-golden``."""
    return bool(request.config.getoption("--update-golden"))


# -- foundation fixtures -----------------------------------------------------------------
import textwrap  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from alerter.clock import FakeClock, PinnedClock  # noqa: E402
from alerter.store.sqlite import SqliteStore  # noqa: E402
from tests.timekeeping import T0 as T0  # noqa: E402  (re-exported: tests import it from here)
from tests.timekeeping import pin_clock  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 2026-09-07T00:00Z (a Monday); it only moves when told."""
    return FakeClock(T0)


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> PinnedClock:
    """Real-paced clock from a fixed start (``PINNED_START``), shared with child processes."""
    return pin_clock(monkeypatch)


@pytest.fixture
def store():
    """A fresh in-memory SQLite store."""
    s = SqliteStore(":memory:")
    yield s
    s.close()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented text file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return _write


# -- soak runs are opt-in ----------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out tests marked ``soak`` unless the ``-m`` expression names ``soak``."""
    if "soak" in (config.getoption("markexpr") or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak") is not None]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if item.get_closest_marker("soak") is None]


# -- hypothesis: explore freely on a developer's machine, replay a fixed set in CI ---------
import os  # noqa: E402
from datetime import datetime  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


# -- scripts/calendar-check: the whole session on another date ------------------------------
CALENDAR_DATE_ENV = "CALENDAR_CHECK_DATE"


def pytest_configure(config: pytest.Config) -> None:
    """With ``CALENDAR_CHECK_DATE`` set (an RFC 3339 time), the session runs with the
    wall clock moved there (time-machine; it ticks on from that instant), so a test that
    still read the calendar would show it on the dates calendar bugs live on."""
    when = os.environ.get(CALENDAR_DATE_ENV)
    if when:
        import time_machine

        traveller = time_machine.travel(datetime.fromisoformat(when), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_report_header(config: pytest.Config) -> str | None:
    when = os.environ.get(CALENDAR_DATE_ENV)
    return f"wall clock moved to {when} ({CALENDAR_DATE_ENV})" if when else None


import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402


@pytest.fixture(autouse=True)
def _alerter_logging_restored() -> Iterator[None]:
    """Put the ``alerter`` logger back as it was after each test.
    ``main()`` points it at the test's captured stderr (and stops propagation); pytest
    closes that stream after the test, so a thread still logging later (a Socket Mode
    client, a file reader pool) printed "--- Logging error ---" into other tests' output.
    """
    logger = logging.getLogger("alerter")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
