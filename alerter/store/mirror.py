"""An in-memory columnar copy of one source's recent points, refreshed by write sequence."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from alerter.domain import SeriesKey
from alerter.store.base import StoredSeries


class SeriesMirror:
    """Points with ``start >= since`` up to write ``seq``: ``key_index`` into ``keys``."""

    def __init__(self, since: int) -> None:
        self.since = since
        self.seq = 0
        self.keys: list[SeriesKey] = []
        self.currencies: list[str] = []
        self.slots: dict[int, int] = {}
        self.key_index = np.empty(0, dtype=np.int64)
        self.starts = np.empty(0, dtype=np.int64)
        self.amounts = np.empty(0, dtype=np.float64)

    def merge(
        self,
        ids: npt.NDArray[np.int64],
        starts: npt.NDArray[np.int64],
        amounts: npt.NDArray[np.float64],
        seq: int,
        names: Mapping[int, tuple[SeriesKey, str]],
    ) -> None:
        """Add rows written after ``self.seq`` (stored ids, Unix seconds, amounts); a row
        for a (series, start) already held replaces it. ``names`` gives each id's key and
        currency."""
        # stored ids are small dense integers: a lookup table maps them without sorting
        seen = np.zeros(int(ids.max()) + 1, dtype=bool)
        seen[ids] = True
        lookup = np.full(seen.size, -1, dtype=np.int64)
        for stored_id in np.flatnonzero(seen).tolist():
            slot = self.slots.get(stored_id)
            if slot is None:
                slot = self.slots[stored_id] = len(self.keys)
                key, currency = names[stored_id]
                self.keys.append(key)
                self.currencies.append(currency)
            lookup[stored_id] = slot
        index = lookup[ids]
        if self.starts.size == 0:
            self.key_index, self.starts, self.amounts = index, starts, amounts
        else:
            key_index = np.concatenate([self.key_index, index])
            start_arr = np.concatenate([self.starts, starts])
            amount_arr = np.concatenate([self.amounts, amounts])
            # keep the newest value of each (series, start): later rows win
            code = key_index * (1 << 34) + start_arr  # exact to the second until year 2514
            _, last = np.unique(code[::-1], return_index=True)
            keep = np.sort(len(code) - 1 - last)
            self.key_index, self.starts, self.amounts = (
                key_index[keep],
                start_arr[keep],
                amount_arr[keep],
            )
        self.seq = max(self.seq, seq)

    def view(self, since: int, until: int) -> StoredSeries:
        mask = (self.starts >= since) & (self.starts < until)
        if mask.all():
            return StoredSeries(
                list(self.keys), self.key_index, self.starts, self.amounts, list(self.currencies)
            )
        return StoredSeries(
            list(self.keys),
            self.key_index[mask],
            self.starts[mask],
            self.amounts[mask],
            list(self.currencies),
        )

    def trim(self, before: int) -> None:
        if before <= self.since:
            return
        keep = self.starts >= before
        self.key_index, self.starts, self.amounts = (
            self.key_index[keep],
            self.starts[keep],
            self.amounts[keep],
        )
        self.since = before
