"""Checks ``alerter validate`` runs beyond loading: what would make ``run`` fail or a rule
silently never fire.

- every ``*_env`` variable the config names is set (and not empty);
- every dimension a rule's ``group_by`` or ``match`` names is one its source can have:
  the documented key of an API source, the configured columns of a csv source (checked
  against the first file's header), FOCUS columns and its ``tag.*`` keys.

A source type this module does not know is not checked (a plug-in may declare
``known_dimensions(config) -> frozenset[str] | None`` on its class).
"""

from __future__ import annotations

import csv
import difflib
import fnmatch
import glob
import gzip
import io
from collections.abc import Mapping
from pathlib import Path

from alerter.config import Config
from alerter.sources import SOURCES
from alerter.sources.base import SourceConfig

API_DIMENSIONS: dict[str, frozenset[str]] = {
    "metronome": frozenset(
        {"credit_type", "customer_id", "customer_name", "line_item", "product_id"}
    ),
    "digitalocean": frozenset(
        {"account_urn", "sku", "region", "description", "group_description", "usage_team_urn"}
    ),
}
"""The documented series keys of the API sources (``sources/metronome.py``,
``sources/digitalocean.py``)."""


def unset_env(config: Config, env: Mapping[str, str]) -> list[str]:
    """``sources.NAME.token_env: METRONOME_TOKEN is not set`` for each unset variable."""
    problems = []
    for kind, tables in (("sources", config.sources), ("notifiers", config.notifiers)):
        for name, cfg in tables.items():
            for field, value in cfg:
                unset = isinstance(value, str) and value and not env.get(value, "").strip()
                if field.endswith("_env") and unset:
                    problems.append(
                        f"{config.path}: {kind}.{name}.{field}: environment variable "
                        f"{value} is not set"
                    )
    return problems


def _header(pattern: str) -> list[str] | None:
    """The first row of the first file the glob matches (``.gz`` too), or None."""
    for name in sorted(glob.glob(pattern, recursive=True)):
        path = Path(name)
        try:
            with path.open("rb") as raw:
                stream = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
                text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
                return next(csv.reader(text), None)
        except (OSError, UnicodeDecodeError, csv.Error, EOFError):
            return None
    return None


def known_dimensions(name: str, cfg: SourceConfig, base: Path) -> tuple[set[str], list[str]]:
    """``(dimension names or globs, problems)`` of one source; an empty set: unknown."""
    kind = cfg.type
    declared = getattr(SOURCES.get(kind), "known_dimensions", None)
    if callable(declared):
        found = declared(cfg)
        return (set(found) if found is not None else set()), []
    if kind in API_DIMENSIONS:
        return set(API_DIMENSIONS[kind]), []
    if kind == "csv":
        dims = list(getattr(cfg, "dimensions", []))
        pattern = str(getattr(cfg, "path", ""))
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        header = _header(full)
        problems = []
        if header is not None:
            missing = [d for d in dims if d not in header]
            if missing:
                problems.append(
                    f"sources.{name}.dimensions: {', '.join(missing)} not in the header of "
                    f"the first file matching {pattern!r} (have: {', '.join(header)})"
                )
        return set(dims), problems
    return set(), []


def unknown_dimensions(config: Config) -> list[str]:
    """A problem for each rule dimension its source never has."""
    problems = []
    known: dict[str, set[str]] = {}
    for name, cfg in config.sources.items():
        dims, source_problems = known_dimensions(name, cfg, config.base_dir)
        known[name] = dims
        problems += [f"{config.path}: {p}" for p in source_problems]
    for rule in config.rules:
        dims = known.get(rule.source, set())
        if not dims:
            continue
        for field, names in (("group_by", list(rule.group_by)), ("match", list(rule.match))):
            for dim in names:
                if any(fnmatch.fnmatchcase(dim, d) for d in dims):
                    continue
                guess = difflib.get_close_matches(dim, sorted(dims), n=1)
                hint = f"did you mean {guess[0]!r}? " if guess else ""
                at = config.rule_origins.get(rule.name)
                problems.append(
                    (f"{at}: " if at else "")
                    + f'rule "{rule.name}": {field}: source {rule.source!r} has no dimension '
                    f"{dim!r} ({hint}it has: {', '.join(sorted(dims))})"
                )
    return problems


def preflight(config: Config, env: Mapping[str, str]) -> list[str]:
    """Every problem ``validate`` reports after the config and rules loaded."""
    return unset_env(config, env) + unknown_dimensions(config)
