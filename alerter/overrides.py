"""``ALERTER_*`` environment variables as overrides of the TOML config.

``ALERTER_<SECTION>__<NAME>__<KEY>``: each ``__``-separated part is matched against the
names the TOML already has, ignoring case, hyphens and dots (``[sources.sample-daily]``
is overridden by ``ALERTER_SOURCES__SAMPLE_DAILY__LOOKBACK``); a name the TOML does not
have is taken lower-cased. Lists and tables are given as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from alerter.clock import CLOCK_ORIGIN_ENV, CLOCK_START_ENV

ENV_PREFIX = "ALERTER_"
NOT_OVERRIDES = frozenset({"ALERTER_CONFIG", CLOCK_START_ENV, CLOCK_ORIGIN_ENV})
"""Variables with the prefix that are not config keys (read by the CLI)."""


def _norm(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _env_value(raw: str) -> Any:
    text = raw.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def env_overrides(
    env: Mapping[str, str], data: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """``(nested overrides, {key path: variable name})`` from ``ALERTER_*`` variables.

    Each ``__``-separated part is matched against the names ``data`` (the TOML) already
    has, ignoring case, hyphens and dots; unmatched parts are lower-cased.
    """
    nested: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for var in sorted(env):
        if not var.upper().startswith(ENV_PREFIX) or var.upper() in NOT_OVERRIDES:
            continue
        parts = var[len(ENV_PREFIX) :].split("__")
        if not all(parts):
            continue
        path: list[str] = []
        node: Any = data
        for part in parts:
            match = None
            if isinstance(node, Mapping):
                match = next((k for k in node if k == part), None) or next(
                    (k for k in node if _norm(str(k)) == _norm(part)), None
                )
            name = str(match) if match is not None else part.lower()
            path.append(name)
            node = node.get(name) if isinstance(node, Mapping) else None
        target = nested
        for name in path[:-1]:
            child = target.get(name)
            if not isinstance(child, dict):
                child = target[name] = {}
            target = child
        target[path[-1]] = _env_value(env[var])
        origin[tuple(path)] = var
    return nested, origin


def merged_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (the TOML) with ``overrides`` laid over it, tables merged key by key."""
    out = dict(data)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged_overrides(out[key], value)
        else:
            out[key] = value
    return out
