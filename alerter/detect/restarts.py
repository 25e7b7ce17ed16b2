"""Baseline restarts: windows before a group's restart no longer count for that group.

A team that answers an incident with "expected change" accepts the new level; from the
incident's first window on, the group is judged as if its history began there. Earlier
windows become unknown (NaN) for the series of that group, so detectors, guards
(``min_history``) and ``explain`` all see the same shortened history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from alerter.detect.base import SeriesFrame
from alerter.domain import SeriesKey, project_key
from alerter.store.actions import actions_of


def restart_baselines(
    frame: SeriesFrame,
    restarts: Iterable[tuple[SeriesKey, datetime]],
    group_by: Sequence[str],
) -> SeriesFrame:
    """``frame`` with every series of a restarted group unknown before its restart.

    ``restarts`` are ``(group, since)`` pairs (the latest ``since`` of a group wins).
    Returns ``frame`` itself when nothing applies, so the common case copies nothing.
    """
    latest: dict[SeriesKey, datetime] = {}
    for group, since in restarts:
        if group not in latest or since > latest[group]:
            latest[group] = since
    if not latest or frame.n_windows == 0:
        return frame
    starts = frame.starts.astype("datetime64[s]").astype(np.int64)
    values: np.ndarray | None = None
    for i, key in enumerate(frame.keys):
        restart = latest.get(project_key(key, group_by))
        if restart is None:
            continue
        cut = int(np.searchsorted(starts, int(restart.timestamp()), side="left"))
        if cut == 0:
            continue
        if values is None:
            values = frame.values.copy()
        values[i, :cut] = np.nan
    return frame if values is None else replace(frame, values=values)


def restarts_of(store: object, rule: str) -> list[tuple[SeriesKey, datetime]]:
    """The recorded ``(group, since)`` restarts of ``rule`` in ``store`` (none if it keeps none)."""
    actions = actions_of(store)
    return [] if actions is None else [(r.group, r.since) for r in actions.restarts(rule)]
