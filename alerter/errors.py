"""The exception tree of alerter.

::

    AlerterError
    ├── ConfigError            config file, env overrides, secrets
    │   └── RuleFileError      a rule file (carries file, line, rule, key)
    ├── SourceError            a billing source failed (names source/endpoint/page)
    │   ├── RateLimited        429 after retries (retry_after seconds)
    │   ├── Unavailable        5xx / timeouts after retries, auth failures
    │   └── BadResponse        malformed page, bad amount, inconsistent pagination
    ├── DeliveryError          a notifier could not deliver
    └── StoreError             the state file is unusable (schema, corruption)
        └── StateInUse         another process holds the state file (exit 2)

Messages always name what is at fault (file, rule, key, source, endpoint, page) and
never contain secrets.
"""

from __future__ import annotations


class AlerterError(Exception):
    """Base of every error alerter raises on purpose."""


class ConfigError(AlerterError):
    """The configuration (TOML, environment overrides, secrets) is invalid."""


class RuleFileError(ConfigError):
    """One or more rule files are invalid; ``problems`` lists every located message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SourceError(AlerterError):
    """A source could not produce data for some window."""


class RateLimited(SourceError):
    """The API kept answering 429; ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(SourceError):
    """The API is down, timing out, or refused our credentials."""


class BadResponse(SourceError):
    """The API answered with a body that does not match its contract."""


class DeliveryError(AlerterError):
    """A notifier failed to deliver a notification."""


class StoreError(AlerterError):
    """The state store is unusable."""


class StateInUse(StoreError):
    """Another alerter process holds the state file's lock (names the file and its PID)."""
