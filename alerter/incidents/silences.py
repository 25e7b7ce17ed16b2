"""Silences: which (rule, group) are muted right now. Pure."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from alerter.domain import SeriesKey, Silence


def matching_silence(silences: Iterable[Silence], rule: str, group: SeriesKey) -> Silence | None:
    """The first active silence covering ``rule`` and ``group`` (globs on both), if any.

    Callers pass only silences active at the time of the decision.
    """
    dims = dict(group)
    for silence in silences:
        if silence.rule is not None and not fnmatch.fnmatchcase(rule, silence.rule):
            continue
        if all(
            name in dims and fnmatch.fnmatchcase(dims[name], pattern)
            for name, pattern in silence.matchers.items()
        ):
            return silence
    return None
