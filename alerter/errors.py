"""The exception tree of alerter.

::

    AlerterError
    ├── ConfigError            config file, env overrides, secrets
    │   └── RuleFileError      rule files (``problems``: every located message)
    ├── SourceError            a billing source failed (names source/endpoint/page)
    │   ├── RateLimited        429 after retries (retry_after seconds)
    │   ├── Unavailable        5xx / timeouts after retries, auth failures
    │   └── BadResponse        malformed page, bad amount, inconsistent pagination
    └── StoreError             the state file is unusable (schema, corruption)
        ├── StateInUse         another process holds the state file (exit 2)
        └── FencingRejected    a write under a lease or claim this replica lost

Messages always name what is at fault (file, rule, key, source, endpoint, page) and
never contain secrets. A failed delivery is not an exception: a notifier returns
``RetryAfter`` or ``Permanent`` (``notify/base.py``) and the outbox keeps the item.
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


class StoreError(AlerterError):
    """The state store is unusable."""


class StateInUse(StoreError):
    """Another alerter process holds the state file's lock (names the file and its PID)."""


class FencingRejected(StoreError):
    """A write made under a lease (or an outbox claim) that this replica no longer holds;
    nothing of it was committed."""
