from __future__ import annotations

import pytest

from alerter.errors import RuleFileError
from alerter.rules.load import load_rule_file, load_rules

GOOD = """
[[rule]]
name = "a"
source = "s"
[rule.detector]
type = "change"
pct = 50
"""


def problems_of(write, text):
    path = write("rules/spend.toml", text)
    _rules, problems = load_rule_file(path, path.parent.parent)
    return problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("pct = 50", "pct = -1"),
            'rules/spend.toml:6: rule "a": detector.pct: input should be greater than 0 (got -1)',
        ),
        (
            GOOD.replace("pct = 50", "pct = 50\nwindow = 3"),
            "rules/spend.toml:7: rule \"a\": detector.window: unknown key (did you mean 'windows'?)",
        ),
        (
            GOOD.replace('source = "s"', 'source = "s"\ngroup_bye = ["x"]'),
            "rules/spend.toml:4: rule \"a\": group_bye: unknown key (did you mean 'group_by'?)",
        ),
        (
            GOOD.replace('name = "a"\n', ""),
            "rules/spend.toml:1: rule #1: name: required key is missing",
        ),
        (
            GOOD.replace('type = "change"', 'type = "magic"'),
            "rules/spend.toml:4: rule \"a\": detector: input tag 'magic'",
        ),
        (
            GOOD.replace("pct = 50", "windows = 0\npct = 50"),
            'rules/spend.toml:6: rule "a": detector.windows: input should be greater than or equal to 1 (got 0)',
        ),
        (
            GOOD.replace("pct = 50", ""),
            'rules/spend.toml:4: rule "a": detector: set `pct` and/or `delta`',
        ),
        (
            GOOD + "\nmin_amount = 'lots'\n",
            "rules/spend.toml",
        ),
    ],
)
def test_each_error_is_located(write, text, expected):
    problems = problems_of(write, text)
    assert problems, "expected an error"
    assert any(p.startswith(expected) for p in problems), problems


def test_syntax_error_has_line_and_column(write):
    problems = problems_of(write, "[[rule]]\nname = \n")
    assert len(problems) == 1
    assert problems[0] == "rules/spend.toml:2:8: TOML syntax: invalid value"


def test_all_errors_are_collected_and_duplicates_found(write, tmp_path):
    write("rules/a.toml", GOOD)
    write("rules/b.toml", GOOD + GOOD.replace('"a"', '"b"').replace("pct = 50", "pct = 0"))
    with pytest.raises(RuleFileError) as err:
        load_rules(["rules/*.toml"], tmp_path, sources=["s"], notifiers=[])
    problems = err.value.problems
    assert any("duplicate rule name (first defined in rules/a.toml:1)" in p for p in problems)
    assert any('rule "b": detector.pct' in p for p in problems)


def test_valid_rules_load_with_defaults(write, tmp_path):
    write("rules/a.toml", GOOD)
    (rule,) = load_rules(["rules/*.toml"], tmp_path, sources=["s"], notifiers=[])
    assert rule.name == "a"
    assert rule.group_by == []
    assert rule.detector.baseline == "median"  # type: ignore[attr-defined]


def test_unknown_top_level_table(write):
    problems = problems_of(write, GOOD + "\n[[rules]]\nname='x'\n")
    assert any("rules: unknown key (did you mean [[rule]]?)" in p for p in problems)
