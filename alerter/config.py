"""Settings: a TOML file read through pydantic-settings, overridable by ALERTER_* variables."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from alerter.errors import ConfigError
from alerter.notify import NOTIFIERS
from alerter.notify.base import NotifierConfig
from alerter.rules.load import load_rules
from alerter.rules.model import RuleBase
from alerter.sources import SOURCES
from alerter.sources.base import SourceConfig
from alerter.timeparse import Duration, parse_duration


class HttpConfig(BaseModel):
    """The health and metrics endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Serve /healthz and /metrics.")
    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int = Field(default=9108, ge=0, le=65535, description="Port to bind (0 = any free).")


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
        default_factory=lambda: ["rules/*.toml"],
        description="Globs of rule files, relative to the config file.",
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
    max_attempts: int = Field(
        default=12, ge=1, description="Delivery attempts before a notification is kept as failed."
    )
    log_format: str = Field(default="text", pattern="^(text|json)$", description="text or json.")
    log_level: str = Field(default="INFO", description="Python logging level.")
    http: HttpConfig = Field(default_factory=HttpConfig, description="/healthz and /metrics.")


@cache
def _union(kind: str) -> Any:
    registry: Mapping[str, Any] = SOURCES if kind == "sources" else NOTIFIERS
    members = tuple(cls.Config for cls in registry.values())
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007


def _settings_class(toml_file: Path) -> type[BaseSettings]:
    source_type = _union("sources")
    notifier_type = _union("notifiers")

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix="ALERTER_",
            env_nested_delimiter="__",
            extra="forbid",
            frozen=True,
            case_sensitive=False,
        )

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
                env_settings,
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

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def settle(self) -> timedelta:
        return self.alerter.settle

    def rules_for(self, source: str) -> list[RuleBase]:
        return [r for r in self.rules if r.source == source and r.enabled]


def _locate(err: Mapping[str, Any]) -> str:
    parts = [str(p) for p in err.get("loc", ())]
    # drop the discriminator tag pydantic puts into union locations
    names = list(SOURCES) + list(NOTIFIERS)
    cleaned = [p for i, p in enumerate(parts) if not (i == 2 and p in names)]
    return ".".join(cleaned)


def load_config(path: str | Path) -> Config:
    """Read the TOML file, apply ``ALERTER_*`` overrides, validate, then load every rule file.

    Raises ``ConfigError`` (or ``RuleFileError``) naming the file and key at fault.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found")
    try:
        tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    settings_cls = _settings_class(file)
    try:
        settings = settings_cls()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _locate(dict(err))
            msg = str(err["msg"])
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif err["type"] == "missing":
                msg = "required key is missing"
            problems.append(f"{file}: {where}: {msg}")
        raise ConfigError("\n".join(problems)) from None
    alerter: AlerterSection = settings.alerter  # type: ignore[attr-defined]
    sources: dict[str, SourceConfig] = dict(settings.sources)  # type: ignore[attr-defined]
    notifiers: dict[str, NotifierConfig] = dict(settings.notifiers)  # type: ignore[attr-defined]
    rules = load_rules(alerter.rules, file.parent, sources=sources, notifiers=notifiers)
    return Config(
        path=file.resolve(),
        alerter=alerter,
        sources=sources,
        notifiers=notifiers,
        rules=tuple(rules),
    )
