"""Notifiers: the registry of delivery targets, keyed by the ``type`` users write in TOML."""

from __future__ import annotations

from alerter.notify.base import Notifier
from alerter.notify.console import ConsoleNotifier
from alerter.notify.email import EmailNotifier
from alerter.notify.file import FileNotifier
from alerter.notify.pagerduty import PagerDutyNotifier
from alerter.notify.slack import SlackNotifier
from alerter.notify.teams import TeamsNotifier
from alerter.notify.webhook import WebhookNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    "console": ConsoleNotifier,
    "file": FileNotifier,
    "slack": SlackNotifier,
    "email": EmailNotifier,
    "webhook": WebhookNotifier,
    "teams": TeamsNotifier,
    "pagerduty": PagerDutyNotifier,
}
