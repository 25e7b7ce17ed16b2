"""The README documents every detector parameter users can write in a rule file."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.detect import DETECTORS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_parameter_is_documented(name):
    section = README.split("### Detectors", 1)[1].split("\n## ", 1)[0]
    assert f"`{name}`" in section
    missing = [
        f for f in DETECTORS[name].Params.model_fields if f != "type" and f"`{f}`" not in section
    ]
    assert missing == [], f"README ### Detectors does not mention {missing} of {name}"
