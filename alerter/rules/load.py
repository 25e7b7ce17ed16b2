"""Rule files -> validated rules, with every error located (file, line, rule, key)."""

from __future__ import annotations

import difflib
import glob
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerter.errors import RuleFileError
from alerter.rules.model import RuleBase, make_rule_model

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


def _friendly(err: dict[str, Any], known: Iterable[str]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid"))
    loc = [p for p in err.get("loc", ()) if isinstance(p, str)]
    if kind == "extra_forbidden" and loc:
        guess = difflib.get_close_matches(loc[-1], list(known), n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
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


def load_rule_file(path: Path, base: Path) -> tuple[list[RuleBase], list[str]]:
    """Parse and validate one file; returns (rules, problems)."""
    shown = _display(path, base)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [f"{shown}: cannot read: {exc.strerror or exc}"]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [f"{shown}: {exc}"]
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
    rules: list[RuleBase] = []
    for index, table in enumerate(tables):
        start = spans[index] if index < len(spans) else 1
        end = spans[index + 1] if index + 1 < len(spans) else len(lines) + 1
        label = (
            f'rule "{table.get("name")}"'
            if isinstance(table.get("name"), str)
            else f"rule #{index + 1}"
        )
        try:
            rules.append(model.model_validate(table))
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(
                    p for p in err["loc"] if not (isinstance(p, str) and p in _union_tags())
                )
                keys = ".".join(str(p) for p in loc) or "rule"
                line = _key_line(lines, start, end, loc)
                friendly = _friendly(dict(err), _known_keys(model, loc, table))
                problems.append(f"{shown}:{line}: {label}: {keys}: {friendly}")
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
    unknown sources or notifiers), each located by file, line, rule and key.
    """
    source_names = set(sources)
    notifier_names = set(notifiers)
    files = expand_globs(patterns, base)
    problems: list[str] = []
    rules: list[RuleBase] = []
    seen: dict[str, str] = {}
    for path in files:
        file_rules, file_problems = load_rule_file(path, base)
        problems.extend(file_problems)
        shown = _display(path, base)
        spans = _rule_spans(path.read_text(encoding="utf-8").splitlines()) if file_rules else []
        for index, rule in enumerate(file_rules):
            line = spans[index] if index < len(spans) else 1
            where = f'{shown}:{line}: rule "{rule.name}"'
            if rule.name in seen:
                problems.append(
                    f"{where}: name: duplicate rule name (first defined in {seen[rule.name]})"
                )
            else:
                seen[rule.name] = shown
            if rule.source not in source_names:
                known = ", ".join(sorted(source_names)) or "none configured"
                problems.append(f"{where}: source: unknown source {rule.source!r} (known: {known})")
            for name in rule.notify:
                if name not in notifier_names:
                    known = ", ".join(sorted(notifier_names)) or "none configured"
                    problems.append(f"{where}: notify: unknown notifier {name!r} (known: {known})")
            rules.append(rule)
    if problems:
        raise RuleFileError(problems)
    return rules
