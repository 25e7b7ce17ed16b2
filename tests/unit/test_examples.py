"""Every example under examples/ is a valid config with valid rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "config", sorted(EXAMPLES.glob("*/config.toml")), ids=lambda p: p.parent.name
)
def test_example_config_validates(config, capsys):
    assert main(["validate", "--config", str(config)]) == 0, capsys.readouterr().err
    assert ": ok (" in capsys.readouterr().out
