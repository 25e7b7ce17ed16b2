"""``alerter config show``: the effective configuration, secrets masked, as TOML or JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from alerter.config import Config

MASK = "***"
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_key|apikey|credential)", re.I)
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def _mask(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(key, v) for v in value]
    if isinstance(value, str):
        # ``*_env`` keys hold variable names, not secrets: shown
        if _SECRET_KEY.search(key) and not key.endswith("_env") and value:
            return MASK
        return _USERINFO.sub(MASK + "@", value)
    return value


def effective(config: Config) -> dict[str, Any]:
    """Plain data: ``alerter``, ``sources``, ``notifiers`` and the loaded rule names."""
    data: dict[str, Any] = {
        "alerter": config.alerter.model_dump(mode="json"),
        "sources": {n: c.model_dump(mode="json") for n, c in config.sources.items()},
        "notifiers": {n: c.model_dump(mode="json") for n, c in config.notifiers.items()},
    }
    masked: dict[str, Any] = _mask("", data)
    masked["rules_loaded"] = sorted(r.name for r in config.rules)
    return masked


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '""  # unset'
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)


def to_toml(data: Mapping[str, Any]) -> str:
    """TOML text of ``effective`` (unset optional keys shown as comments)."""
    out: list[str] = [f"# rules loaded: {', '.join(data.get('rules_loaded', [])) or 'none'}"]

    def table(path: list[str], body: Mapping[str, Any]) -> None:
        out.append("")
        out.append("[" + ".".join(_key(p) for p in path) + "]")
        nested = []
        for k, v in body.items():
            if (
                isinstance(v, Mapping)
                and v
                and all(not isinstance(x, Mapping) for x in v.values())
                and k == "http"
            ):
                nested.append((k, v))
            elif v is None:
                out.append(f"# {_key(k)} = (unset)")
            else:
                out.append(f"{_key(k)} = {_value(v)}")
        for k, v in nested:
            table([*path, k], v)

    table(["alerter"], data["alerter"])
    for kind in ("sources", "notifiers"):
        for name, body in data[kind].items():
            table([kind, name], body)
    return "\n".join(out) + "\n"
