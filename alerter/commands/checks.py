"""``alerter validate``, ``test-notify`` and ``config show``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from alerter.commands.common import UsageError, _env, _state_path
from alerter.errors import ConfigError

if TYPE_CHECKING:
    from alerter.config import Config


def _validate(config: Config, args: argparse.Namespace) -> int:
    from alerter.preflight import preflight
    from alerter.statepath import check_state_path

    problems = preflight(config, _env())
    state_problem = check_state_path(_state_path(config), create=False)
    if state_problem:
        problems.append(state_problem)
    if problems:
        raise ConfigError("\n".join(problems))
    print(
        f"{args.config}: ok ({len(config.sources)} source(s), {len(config.notifiers)} "
        f"notifier(s), {len(config.rules)} rule(s))"
    )
    return 0


def _test_notify(config: Config, name: str) -> int:
    from alerter.clock import SystemClock
    from alerter.notify import NOTIFIERS
    from alerter.notify.base import Delivered, NotifierContext
    from alerter.notify.sample import sample_notification

    cfg = config.notifiers.get(name)
    if cfg is None:
        known = ", ".join(sorted(config.notifiers)) or "none configured"
        raise UsageError(f"no notifier named {name!r} (known: {known})")
    clock = SystemClock()
    notifier = NOTIFIERS[cfg.type](name, cfg, NotifierContext(clock, dict(_env()), config.base_dir))
    msg = sample_notification(clock.now())
    result = notifier.send(msg, None)
    if isinstance(result, Delivered):
        print(f"test notification sent through {name} ({cfg.type})")
        return 0
    print(f"alerter: test notification through {name} not delivered: {result}", file=sys.stderr)
    return 1


def _config_show(config: Config, *, as_json: bool) -> int:
    from alerter.configshow import effective, to_toml

    data = effective(config)
    print(json.dumps(data, indent=2) if as_json else to_toml(data), end="" if not as_json else "\n")
    return 0
