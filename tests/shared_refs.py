"""The team's shared references (``../shared`` beside the checkout), optional for tests.

API specs, the FinOps FOCUS sample and the NAB corpus live beside the repository, not
in it: a public clone has none of them. A test that needs one asks :func:`require`,
which skips it (or its whole module, when called at import) with the path it looked
for, so ``pytest -rs`` names every test left out and why. CI has them and runs them all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


def require(*parts: str) -> Path:
    """The path ``../shared/<parts>``; skips the caller when it does not exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        caller = sys._getframe(1).f_globals.get("__name__", "?")
        pytest.skip(
            f"{caller} needs {path} (the team's shared references; a public clone has none)",
            allow_module_level=True,
        )
    return path
