"""Rule files -> validated rules, with every error located (file, line, rule, key)."""

from __future__ import annotations

import difflib
import glob
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerter.errors import RuleFileError
from alerter.rules.model import RuleBase, make_rule_model
from alerter.tomlpos import syntax_error

DEFAULT_RULE_GLOBS = ("rules/*.toml",)
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _rule_spans(lines: list[str]) -> list[int]:
    """1-based line numbers of each ``[[rule]]`` header, in order."""
    return [i + 1 for i, line in enumerate(lines) if _RULE_HEADER.match(line)]


def _key_line(lines: list[str], start: int, end: int, loc: tuple[str | int, ...]) -> int:
    """Best line for a key path inside the rule spanning lines [start, end)."""
    names = [str(part) for part in loc if isinstance(part, str)]
    if not names:
        return start
    # `detector.k` may be written `k = ` under `[rule.detector]`, or `detector = {k = ...}`.
    section = start
    for depth in range(len(names), 0, -1):
        header = re.compile(r"^\s*\[\s*rule\." + re.escape(".".join(names[:depth])) + r"\s*\]")
        found = next((n for n in range(start, end) if header.match(lines[n - 1])), None)
        if found is not None:
            if depth == len(names):
                return found
            section = found
            break
    for name in reversed(names):
        pattern = re.compile(
            r"^\s*" + re.escape(name) + r"\s*=|[{,]\s*" + re.escape(name) + r"\s*="
        )
        for n in range(section, end):
            if pattern.search(lines[n - 1]):
                return n
    return section


def _detector_keys() -> set[str]:
    from alerter.detect import DETECTORS

    return {f for cls in DETECTORS.values() for f in cls.Params.model_fields} - {"type"}


def friendly(err: dict[str, Any], known: Iterable[str]) -> str:
    """A pydantic error as a person reads it: unknown keys with a "did you mean"."""
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid"))
    loc = [p for p in err.get("loc", ()) if isinstance(p, str)]
    if kind == "extra_forbidden" and len(loc) == 1 and loc[0] in _detector_keys():
        return f"unknown key here ({loc[0]!r} is a detector parameter: put it in [rule.detector])"
    if kind == "extra_forbidden" and loc:
        guess = difflib.get_close_matches(loc[-1], list(known), n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    if msg.startswith(("Value error, ", "Assertion failed, ")):
        msg = msg.split(", ", 1)[1]
        return msg[0].lower() + msg[1:]  # our own validators already show the value
    if "input" in err and kind not in ("missing",):
        shown = repr(err["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if not isinstance(err["input"], dict):
            return f"{msg[0].lower()}{msg[1:]} (got {shown})"
    return msg[0].lower() + msg[1:]


def _known_keys(
    model: type[RuleBase], loc: tuple[str | int, ...], data: dict[str, Any]
) -> list[str]:
    names = [p for p in loc if isinstance(p, str)]
    if len(names) >= 2 and names[0] == "detector":
        from alerter.detect import DETECTORS

        kind = (
            data.get("detector", {}).get("type") if isinstance(data.get("detector"), dict) else None
        )
        cls = DETECTORS.get(str(kind)) if kind else None
        return list(cls.Params.model_fields) if cls else []
    return list(model.model_fields)


@dataclass(frozen=True)
class RawRule:
    """One ``[[rule]]`` table as written, with where it is (kept when it is invalid)."""

    table: dict[str, Any]
    line: int
    rule: RuleBase | None


def load_rule_file(path: Path, base: Path) -> tuple[list[RuleBase], list[str]]:
    """Parse and validate one file; returns (rules, problems)."""
    raw, problems = read_rule_file(path, base)
    return [r.rule for r in raw if r.rule is not None], problems


def read_rule_file(path: Path, base: Path) -> tuple[list[RawRule], list[str]]:
    """Parse and validate one file; returns (every table, problems)."""
    shown = _display(path, base)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [f"{shown}: cannot read: {exc.strerror or exc}"]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [syntax_error(shown, str(exc))]
    lines = text.splitlines()
    problems: list[str] = []
    unknown_top = [k for k in data if k != "rule"]
    for key in unknown_top:
        guess = difflib.get_close_matches(key, ["rule"], n=1)
        hint = " (did you mean [[rule]]?)" if guess else " (a rule file holds [[rule]] tables)"
        problems.append(f"{shown}: {key}: unknown key{hint}")
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        return [], [*problems, f"{shown}: rule: must be [[rule]] tables"]
    spans = _rule_spans(lines)
    model = make_rule_model()
    rules: list[RawRule] = []
    for index, table in enumerate(tables):
        start = spans[index] if index < len(spans) else 1
        end = spans[index + 1] if index + 1 < len(spans) else len(lines) + 1
        if not isinstance(table, dict):
            problems.append(f"{shown}:{start}: rule #{index + 1}: must be a [[rule]] table")
            continue
        label = (
            f'rule "{table.get("name")}"'
            if isinstance(table.get("name"), str)
            else f"rule #{index + 1}"
        )
        try:
            rules.append(RawRule(table, start, model.model_validate(table)))
        except ValidationError as exc:
            rules.append(RawRule(table, start, None))
            for err in exc.errors():
                loc = tuple(
                    p for p in err["loc"] if not (isinstance(p, str) and p in _union_tags())
                )
                keys = ".".join(str(p) for p in loc) or "rule"
                line = _key_line(lines, start, end, loc)
                friendly_text = friendly(dict(err), _known_keys(model, loc, table))
                problems.append(f"{shown}:{line}: {label}: {keys}: {friendly_text}")
    return rules, problems


def _union_tags() -> set[str]:
    from alerter.detect import DETECTORS

    return set(DETECTORS)


def expand_globs(patterns: Iterable[str], base: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        found.extend(Path(p) for p in sorted(glob.glob(full, recursive=True)))
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)


def load_rules(
    patterns: Iterable[str],
    base: Path,
    *,
    sources: Iterable[str],
    notifiers: Iterable[str],
) -> list[RuleBase]:
    """Every rule from the files the globs name, cross-checked against the config.

    Raises ``RuleFileError`` listing all problems (syntax, keys, values, duplicate names,
    unknown sources or notifiers, globs matching no file), each located by file, line,
    rule and key.
    """
    rules, problems = collect_rules(patterns, base, sources=sources, notifiers=notifiers)
    if problems:
        raise RuleFileError(problems)
    return rules


def collect_rules(
    patterns: Iterable[str],
    base: Path,
    *,
    sources: Iterable[str],
    notifiers: Iterable[str],
    where: str = "rules",
    origins: dict[str, str] | None = None,
) -> tuple[list[RuleBase], list[str]]:
    """``(valid rules, every problem)`` in one pass: an invalid rule is still checked for
    its name, source and notifiers, so no error waits for another to be fixed first.
    ``origins``, if given, receives ``{rule name: "file:line"}``."""
    source_names = set(sources)
    notifier_names = set(notifiers)
    problems: list[str] = []
    files: list[Path] = []
    for pattern in patterns:
        matched = expand_globs([pattern], base)
        if not matched:
            problems.append(f"{where}: {pattern!r} matches no file (in {base})")
        files.extend(p for p in matched if p not in files)
    rules: list[RuleBase] = []
    seen: dict[str, str] = {}
    for path in files:
        raw_rules, file_problems = read_rule_file(path, base)
        problems.extend(file_problems)
        shown = _display(path, base)
        for raw in raw_rules:
            name, source, notify = (raw.table.get(k) for k in ("name", "source", "notify"))
            label = f'rule "{name}"' if isinstance(name, str) else "rule"
            at = f"{shown}:{raw.line}: {label}"
            if isinstance(name, str) and name:
                if name in seen:
                    problems.append(
                        f"{at}: name: duplicate rule name (first defined in {seen[name]})"
                    )
                else:
                    seen[name] = f"{shown}:{raw.line}"
            if isinstance(source, str) and source not in source_names:
                known = ", ".join(sorted(source_names)) or "none configured"
                guess = difflib.get_close_matches(source, sorted(source_names), n=1)
                hint = f"did you mean {guess[0]!r}? " if guess else ""
                problems.append(f"{at}: source: unknown source {source!r} ({hint}known: {known})")
            for target in notify if isinstance(notify, list) else []:
                if isinstance(target, str) and target not in notifier_names:
                    known = ", ".join(sorted(notifier_names)) or "none configured"
                    guess = difflib.get_close_matches(target, sorted(notifier_names), n=1)
                    hint = f"did you mean {guess[0]!r}? " if guess else ""
                    problems.append(
                        f"{at}: notify: unknown notifier {target!r} ({hint}known: {known})"
                    )
            if raw.rule is not None:
                rules.append(raw.rule)
                if origins is not None:
                    origins.setdefault(raw.rule.name, f"{shown}:{raw.line}")
    return rules, problems
