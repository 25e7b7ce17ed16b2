"""Settings: a TOML file read through pydantic-settings, overridable by ALERTER_* variables.

Errors come all at once and located, as for rule files: ``config.toml:14:
sources.sample.lookback: not a duration ... (got '3 days')``; a value that came from
the environment names its variable instead (``ALERTER_SOURCES__SAMPLE__LOOKBACK: ...``).

Environment overrides: ``ALERTER_<SECTION>__<NAME>__<KEY>``. A name written in the
TOML with hyphens, dots or capitals (``[sources.sample-daily]``) is overridden with
underscores and any case (``ALERTER_SOURCES__SAMPLE_DAILY__LOOKBACK``); a name the TOML
does not have is taken lower-cased. Lists and tables are given as JSON.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from alerter.clock import CLOCK_ORIGIN_ENV, CLOCK_START_ENV
from alerter.errors import ConfigError, RuleFileError
from alerter.logs import check_level
from alerter.notify import NOTIFIERS
from alerter.notify.base import NotifierConfig
from alerter.rules.load import DEFAULT_RULE_GLOBS, collect_rules, friendly
from alerter.rules.model import RuleBase
from alerter.sources import SOURCES
from alerter.sources.base import SourceConfig
from alerter.timeparse import Duration, parse_duration
from alerter.tomlpos import key_lines, line_of, syntax_error

ENV_PREFIX = "ALERTER_"
NOT_OVERRIDES = frozenset({"ALERTER_CONFIG", CLOCK_START_ENV, CLOCK_ORIGIN_ENV})
"""Variables with the prefix that are not config keys (read by the CLI)."""


class HttpConfig(BaseModel):
    """The health and metrics endpoint, and the optional web UI (``ui``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Serve /healthz and /metrics.")
    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int = Field(default=9108, ge=0, le=65535, description="Port to bind (0 = any free).")
    ui: bool = Field(
        default=False, description="Serve the web UI under /ui on the same host and port."
    )
    ui_read_only: bool = Field(
        default=False, description="The web UI shows everything but refuses every change."
    )
    ui_token_env: str | None = Field(
        default=None,
        description="Environment variable holding the bearer token that allows UI changes.",
    )
    ui_user_env: str | None = Field(
        default=None,
        description="Environment variable holding the basic-auth user that allows UI changes.",
    )
    ui_password_env: str | None = Field(
        default=None,
        description="Environment variable holding the basic-auth password (with ui_user_env).",
    )


class AlerterSection(BaseModel):
    """The ``[alerter]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: str = Field(
        default="alerter-state.db",
        description="SQLite state file: a path (relative to the config file) or sqlite:/// URL; "
        "or a postgresql://user@host/db URL for several replicas sharing state (with leases).",
    )
    lease_ttl: Duration = Field(
        default=parse_duration("30s"),
        description="PostgreSQL state only: how long a replica's lease on a source lasts "
        "without renewal; another replica takes the source over after it expires.",
    )
    rules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RULE_GLOBS),
        description="Globs of rule files, relative to the config file; each must match a file.",
    )
    settle: Duration = Field(
        default=parse_duration("1h"),
        description="Delay after a window closes before it is judged (usage arrives late).",
    )
    resolve_after: int = Field(
        default=3, ge=1, description="Normal windows before an open incident is resolved."
    )
    alert_on_backfill: bool = Field(
        default=False,
        description="On the first poll, also alert on history older than the lookback "
        "(off: old history only seeds baselines).",
    )
    retention: Duration = Field(
        default=parse_duration("90d"),
        description="How long points, resolved incidents and delivered notifications are kept "
        "(never less than what a rule's baseline reads).",
    )
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Optional cap on delivery attempts; by default a notification is retried "
        "until give_up_after.",
    )
    give_up_after: Duration = Field(
        default=parse_duration("7d"),
        description="An undelivered notification is retried until it is this old, then kept "
        "as failed (retries past 1h log notification_aging).",
    )
    send_deadline: Duration = Field(
        default=parse_duration("2m"),
        description="Longest one send may take (connect and whole answer) before it is "
        "retried later; a stuck peer delays only its own notifier.",
    )
    cycle_deadline: Duration = Field(
        default=parse_duration("30m"),
        description="Longest one poll of one source may take (every request and wait "
        "included); past it the cycle fails with an error and the next one starts afresh.",
    )
    outbox_max_pending: int = Field(
        default=10000,
        ge=1,
        description="Pending notifications per notifier kept at most; past it the oldest "
        "are kept as failed and outbox_overflow is logged.",
    )
    log_format: str = Field(default="text", pattern="^(text|json)$", description="text or json.")
    log_level: str = Field(
        default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)."
    )
    http: HttpConfig = Field(default_factory=HttpConfig, description="/healthz and /metrics.")

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        return check_level(value)


@cache
def _union(kind: str) -> Any:
    registry: Mapping[str, Any] = SOURCES if kind == "sources" else NOTIFIERS
    members = tuple(cls.Config for cls in registry.values())
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007


class _Overrides(PydanticBaseSettingsSource):
    """The environment overrides, already resolved to the TOML's own names."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.data


def _settings_class(toml_file: Path, overrides: dict[str, Any]) -> type[BaseSettings]:
    source_type = _union("sources")
    notifier_type = _union("notifiers")

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(extra="forbid", frozen=True)

        alerter: AlerterSection = Field(default_factory=AlerterSection)
        sources: dict[str, source_type] = Field(default_factory=dict)  # type: ignore[valid-type]
        notifiers: dict[str, notifier_type] = Field(default_factory=dict)  # type: ignore[valid-type]

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                _Overrides(settings_cls, overrides),
                TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
            )

    return Settings


@dataclass(frozen=True)
class Config:
    """Loaded, validated, immutable configuration: settings plus rules."""

    path: Path
    alerter: AlerterSection
    sources: Mapping[str, SourceConfig]
    notifiers: Mapping[str, NotifierConfig]
    rules: tuple[RuleBase, ...]
    rule_origins: Mapping[str, str] = field(default_factory=dict)
    """``{rule name: "rules/x.toml:12"}``: where each rule is written, for messages."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def settle(self) -> timedelta:
        return self.alerter.settle

    def rules_for(self, source: str) -> list[RuleBase]:
        return [r for r in self.rules if r.source == source and r.enabled]


# -- environment overrides -------------------------------------------------------------
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


def _merged(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


# -- error messages ----------------------------------------------------------------------
def _plugin_fields(kind: str, data: Mapping[str, Any], name: str) -> list[str]:
    registry: Mapping[str, Any] = SOURCES if kind == "sources" else NOTIFIERS
    table = data.get(kind, {}).get(name) if isinstance(data.get(kind), Mapping) else None
    kind_type = table.get("type") if isinstance(table, Mapping) else None
    if isinstance(kind_type, str) and kind_type in registry:
        return list(registry[kind_type].Config.model_fields)
    return sorted({f for cls in registry.values() for f in cls.Config.model_fields})


def _known(loc: tuple[str, ...], data: Mapping[str, Any]) -> list[str]:
    if len(loc) <= 1:
        return ["alerter", "sources", "notifiers"]
    if loc[0] == "alerter":
        return list(HttpConfig.model_fields if loc[1] == "http" else AlerterSection.model_fields)
    if loc[0] in ("sources", "notifiers") and len(loc) >= 3:
        return _plugin_fields(loc[0], data, loc[1])
    return []


def _home_of(key: str) -> str | None:
    """``[sources.NAME]`` / ``[notifiers.NAME]`` when ``key`` is a field of those tables."""
    for kind, registry in (("sources", SOURCES), ("notifiers", NOTIFIERS)):
        if any(key in cls.Config.model_fields for cls in registry.values()):
            return f"[{kind}.NAME]"
    return None


def _clean_loc(err: Mapping[str, Any]) -> tuple[str, ...]:
    """The error's key path without the discriminator tag pydantic puts into unions."""
    parts = [str(p) for p in err.get("loc", ())]
    names = set(SOURCES) | set(NOTIFIERS)
    return tuple(
        p
        for i, p in enumerate(parts)
        if not (i == 2 and parts[0] in ("sources", "notifiers") and p in names)
    )


def _union_message(err: Mapping[str, Any], kind: str) -> str:
    registry: Mapping[str, Any] = SOURCES if kind == "sources" else NOTIFIERS
    known = ", ".join(repr(k) for k in sorted(registry))
    tag = (err.get("ctx") or {}).get("tag")
    if err["type"] == "union_tag_not_found":
        return f"required key is missing (one of {known})"
    guess = difflib.get_close_matches(str(tag), list(registry), n=1)
    hint = f"did you mean {guess[0]!r}? " if guess else ""
    return f"unknown type {tag!r} ({hint}expected one of {known})"


def _problems(
    exc: ValidationError,
    file: Path,
    lines: dict[tuple[str, ...], int],
    data: Mapping[str, Any],
    origin: Mapping[tuple[str, ...], str],
) -> list[str]:
    problems = []
    for raw in exc.errors():
        err = dict(raw)
        loc = _clean_loc(err)
        if err["type"] in ("union_tag_not_found", "union_tag_invalid") and len(loc) >= 2:
            loc = (*loc[:2], "type")
            message = _union_message(err, loc[0])
        else:
            message = friendly(err, _known(loc, data))
            if message == "unknown key" and len(loc) == 2 and loc[0] == "alerter":
                home = _home_of(loc[1])
                message += f" here (it belongs in {home})" if home else ""
        where = ".".join(loc)
        var = _blame(loc, origin, lines)
        if var is not None:
            problems.append(f"{var}: {message}" + ("" if origin.get(loc) == var else f" ({where})"))
            continue
        line = line_of(lines, loc)
        problems.append(
            f"{file}:{line}: {where}: {message}" if line else f"{file}: {where}: {message}"
        )
    return problems


def _blame(
    loc: tuple[str, ...],
    origin: Mapping[tuple[str, ...], str],
    lines: Mapping[tuple[str, ...], int],
) -> str | None:
    """The variable a bad value came from: one that set this key (or a table holding
    it), or one that created a table the TOML does not have."""
    for path, var in origin.items():
        if loc[: len(path)] == path:
            return var
    for path, var in origin.items():
        common = 0
        while common < min(len(path), len(loc)) and path[common] == loc[common]:
            common += 1
        if common >= 2 and loc[:common] not in lines:
            return var  # the variable made a table the TOML does not have
    return None


# -- checks beyond one field ---------------------------------------------------------------
def _zone_problems(
    notifiers: Mapping[str, NotifierConfig], file: Path, lines: dict[tuple[str, ...], int]
) -> list[str]:
    problems = []
    for name, cfg in notifiers.items():
        tz = getattr(cfg, "timezone", "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            loc = ("notifiers", name, "timezone")
            guess = difflib.get_close_matches(tz, _zone_names(), n=1)
            hint = f" (did you mean {guess[0]!r}?)" if guess else ""
            problems.append(
                f"{file}:{line_of(lines, loc) or 1}: notifiers.{name}.timezone: "
                f"unknown timezone {tz!r}{hint}"
            )
    return problems


@cache
def _zone_names() -> list[str]:
    from zoneinfo import available_timezones

    return sorted(available_timezones())


def secret_values(config: Config, env: Mapping[str, str]) -> list[str]:
    """Values of every environment variable named by a ``*_env`` field of the config."""
    found = []
    for section in (*config.sources.values(), *config.notifiers.values()):
        for key, value in section:
            if key.endswith("_env") and isinstance(value, str) and env.get(value):
                found.append(env[value])
            elif isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
    return found


# -- loading -----------------------------------------------------------------------------
def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file, apply ``ALERTER_*`` overrides from ``env`` (default: the
    process environment), validate, then load every rule file.

    Raises ``ConfigError`` listing every problem of the config and of the rule files at
    once, each located (``file:line: key: message``, or the variable at fault).
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found")
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(syntax_error(str(file), str(exc))) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"{file}: cannot read: {reason}") from None
    lines = key_lines(text)
    overrides, origin = env_overrides(os.environ if env is None else env, data)
    merged = _merged(data, overrides)
    settings_cls = _settings_class(file, overrides)
    problems: list[str] = []
    try:
        settings = settings_cls()
    except ValidationError as exc:
        problems += _problems(exc, file, lines, merged, origin)
        settings = None
    if settings is not None:
        alerter: AlerterSection = settings.alerter  # type: ignore[attr-defined]
        sources: dict[str, SourceConfig] = dict(settings.sources)  # type: ignore[attr-defined]
        notifiers: dict[str, NotifierConfig] = dict(settings.notifiers)  # type: ignore[attr-defined]
        problems += _zone_problems(notifiers, file, lines)
        globs, source_names, notifier_names = alerter.rules, list(sources), list(notifiers)
    else:
        section = merged.get("alerter")
        raw_rules = section.get("rules") if isinstance(section, Mapping) else None
        if raw_rules is None:
            globs = list(DEFAULT_RULE_GLOBS)
        elif isinstance(raw_rules, str):
            globs = [raw_rules]  # reported above as "should be a list"; still check its rules
        elif isinstance(raw_rules, list):
            globs = [g for g in raw_rules if isinstance(g, str)]
        else:
            globs = []
        source_names = _table_names(merged, "sources")
        notifier_names = _table_names(merged, "notifiers")
    origins: dict[str, str] = {}
    rules, rule_problems = collect_rules(
        globs,
        file.parent,
        sources=source_names,
        notifiers=notifier_names,
        where=f"{file}:{line_of(lines, ('alerter', 'rules')) or 1}: alerter.rules",
        origins=origins,
    )
    if rule_problems and not problems:
        raise RuleFileError(rule_problems)
    problems += rule_problems
    if problems or settings is None:
        raise ConfigError("\n".join(problems))
    return Config(
        path=file.resolve(),
        alerter=alerter,
        sources=sources,
        notifiers=notifiers,
        rules=tuple(rules),
        rule_origins=origins,
    )


def _table_names(data: Mapping[str, Any], kind: str) -> list[str]:
    tables = data.get(kind)
    return [str(k) for k in tables] if isinstance(tables, Mapping) else []


def default_config_path(env: Mapping[str, str]) -> str:
    """``$ALERTER_CONFIG``, else ``./alerter.toml`` (the CLI's default ``--config``)."""
    return env.get("ALERTER_CONFIG") or "alerter.toml"
