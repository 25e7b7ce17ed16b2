"""Guard: no test reads the calendar or unseeded randomness.

"Now" comes from ``tests/timekeeping.py`` (a fixed date, a FakeClock that a test moves,
or a clock pinned to a fixed start for real processes); randomness from generators
built with an explicit seed. This walks the syntax tree of every file under ``tests/``
and names each call that breaks the rule, with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SANCTIONED = {TESTS / "timekeeping.py"}

WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "ctime"),
}
SEEDED_CONSTRUCTORS = {"Random", "default_rng", "RandomState", "SeedSequence", "PCG64", "MT19937"}


def _dotted(node: ast.AST) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def offences(source: str, name: str) -> list[str]:
    """``file:line: what`` for each wall-clock read or unseeded random draw in ``source``."""
    found: list[str] = []
    tree = ast.parse(source, filename=name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            path = _dotted(node)
            if len(path) >= 2 and (path[-2], path[-1]) in WALL_CLOCK:
                found.append(f"{name}:{node.lineno}: wall clock {'.'.join(path)}")
        if not isinstance(node, ast.Call):
            continue
        path = _dotted(node.func)
        unseeded = not node.args and not any(k.arg in ("seed", "x") for k in node.keywords)
        if path[:1] == ["random"] and len(path) == 2:
            if path[1] not in SEEDED_CONSTRUCTORS or unseeded:
                found.append(f"{name}:{node.lineno}: unseeded random.{path[1]}()")
        elif len(path) >= 2 and path[-2] == "random" and path[0] in ("np", "numpy"):
            if path[-1] not in SEEDED_CONSTRUCTORS or unseeded:
                found.append(f"{name}:{node.lineno}: unseeded {'.'.join(path)}()")
        elif path and path[-1] == "SystemClock":
            found.append(
                f"{name}:{node.lineno}: wall clock {'.'.join(path)}() (use a pinned clock)"
            )
        elif path in (["Random"], ["default_rng"]) and unseeded:
            found.append(f"{name}:{node.lineno}: unseeded {path[0]}()")
    return found


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("from datetime import datetime, UTC\nx = datetime.now(UTC)", ["wall clock datetime.now"]),
        ("import datetime\nx = datetime.date.today()", ["wall clock datetime.date.today"]),
        ("import time\nf = time.time", ["wall clock time.time"]),
        ("import random\nx = random.random()", ["unseeded random.random()"]),
        ("import random\nr = random.Random()", ["unseeded random.Random()"]),
        ("import numpy as np\nx = np.random.normal(0, 1, 3)", ["unseeded np.random.normal()"]),
        ("import numpy as np\nr = np.random.default_rng()", ["unseeded np.random.default_rng()"]),
        ("import random\nr = random.Random(7)", []),
        ("import numpy as np\nr = np.random.default_rng(3)", []),
        ("import time\nt = time.monotonic()", []),  # a bounded wait, not the calendar
        (
            "from alerter.clock import SystemClock\nn = SystemClock().now()",
            ["wall clock SystemClock() (use a pinned clock)"],
        ),
    ],
)
def test_the_guard_tells_wall_clock_and_unseeded_calls_apart(
    snippet: str, expected: list[str]
) -> None:
    got = [line.split(": ", 1)[1] for line in offences(snippet, "x.py")]
    assert got == expected


def test_no_test_reads_the_wall_clock_or_unseeded_randomness() -> None:
    files = sorted(p for p in TESTS.rglob("*.py") if p not in SANCTIONED)
    assert len(files) > 20  # the walk really found the suite
    found = [
        hit
        for path in files
        for hit in offences(path.read_text(encoding="utf-8"), str(path.relative_to(TESTS)))
    ]
    assert found == []
