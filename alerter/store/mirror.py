"""An in-memory columnar copy of one source's recent points, refreshed by write sequence.

Points of one step, aligned to it (every file and API source's windows), are held in a
series x windows grid of float64 (NaN: no point): 8 bytes a window, a new hour is one
column written in place, and the judge's frame is a slice of it. Rows of mixed steps
(a FOCUS export with daily and hourly charges) are held as sparse columns instead: 24
bytes a point, and a merge re-sorts them.
"""

from __future__ import annotations

import mmap
import sys
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from alerter.domain import SeriesKey
from alerter.store.base import StoredSeries

_SPARE_COLUMNS = 48
"""Columns allocated past the newest window, so new hours do not copy the grid."""


def _small_pages(size: int) -> npt.NDArray[np.float64]:
    """``size`` float64 in new memory of ordinary pages (Linux), else ``np.empty``.

    NumPy asks for transparent huge pages on large arrays; where the kernel then compacts
    memory to find them (``defrag = madvise``, a busy machine), touching 400 MB of a new
    array took about 1 s against 0.2 s in ordinary pages. A view's copy is written
    once, in order: huge pages buy it nothing."""
    advise = getattr(mmap, "MADV_NOHUGEPAGE", None)
    if size == 0 or advise is None:
        return np.empty(size)
    memory = mmap.mmap(-1, size * 8, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    memory.madvise(advise)
    return np.frombuffer(memory, dtype=np.float64)  # the array keeps the mapping alive


class _Probe:
    """Counts the references an array has when only an attribute and a local hold it,
    as ``SeriesMirror._handed_out`` sees its last view's array (interpreters differ)."""

    def __init__(self) -> None:
        self.last: npt.NDArray[np.float64] | None = np.empty(0)

    def refs(self) -> int:
        last = self.last
        return sys.getrefcount(last)


_UNUSED = _Probe().refs()


class SeriesMirror:
    """Points with ``start >= since`` up to write ``seq``; a stored series id's row is its
    index in ``keys``."""

    def __init__(self, since: int) -> None:
        self.since = since
        self.seq = 0
        self.keys: list[SeriesKey] = []
        self.currencies: list[str] = []
        self._lookup = np.empty(0, dtype=np.int64)  # stored id -> row, -1 if none
        # grid mode: values[row, (start - origin) // step]; ``values`` is ``_buf`` from
        # column ``_col0`` on (trimmed columns stay allocated until the grid grows)
        self.step = 0
        self.origin = 0
        self.values: npt.NDArray[np.float64] | None = None
        self._buf: npt.NDArray[np.float64] | None = None
        self._col0 = 0
        self._last_view: npt.NDArray[np.float64] | None = None
        # sparse mode (after rows of another step or phase)
        self.key_index = np.empty(0, dtype=np.int64)
        self.starts = np.empty(0, dtype=np.int64)
        self.amounts = np.empty(0, dtype=np.float64)

    @property
    def dense(self) -> bool:
        return self.step > 0

    @property
    def empty(self) -> bool:
        return self.values is None and self.starts.size == 0

    def _rows_of(
        self, ids: npt.NDArray[np.int64], names: Mapping[int, tuple[SeriesKey, str]]
    ) -> npt.NDArray[np.int64]:
        # stored ids are small dense integers: a lookup table maps them without sorting
        top = int(ids.max()) + 1
        if self._lookup.size < top:
            grown = np.full(max(top, self._lookup.size * 2), -1, dtype=np.int64)
            grown[: self._lookup.size] = self._lookup
            self._lookup = grown
        index = self._lookup[ids]
        if index.min() < 0:  # series not seen before: a slot each, in id order
            unseen = np.zeros(top, dtype=np.bool_)  # ids are dense: a mask, not a sort
            unseen[ids[index < 0]] = True
            fresh = np.flatnonzero(unseen)
            self._lookup[fresh] = np.arange(len(self.keys), len(self.keys) + fresh.size)
            for stored_id in fresh.tolist():
                key, currency = names[stored_id]
                self.keys.append(key)
                self.currencies.append(currency)
            index = self._lookup[ids]
        return index

    def merge(
        self,
        ids: npt.NDArray[np.int64],
        starts: npt.NDArray[np.int64],
        amounts: npt.NDArray[np.float64],
        seq: int,
        names: Mapping[int, tuple[SeriesKey, str]],
        step: int | None = None,
    ) -> None:
        """Add rows written after ``self.seq`` (stored ids, Unix seconds, amounts); a row
        for a (series, start) already held replaces it. ``names`` gives each id's key and
        currency; ``step`` is the window length of every row when they share one."""
        index = self._rows_of(ids, names)
        if self.empty and step:
            self._start_grid(step, int(starts[0]))
        if (
            self.dense
            and step == self.step
            and int(starts.min()) >= self.origin
            and not np.any((starts - self.origin) % self.step)
        ):
            self._place(index, starts, amounts)
        else:
            self._to_sparse()
            self._merge_sparse(index, starts, amounts)
        self.seq = max(self.seq, seq)

    def _start_grid(self, step: int, a_start: int) -> None:
        self.step = step
        self.origin = self.since - (self.since - a_start) % step

    def reserve(self, rows: int, first_start: int, last_start: int, step: int | None) -> None:
        """Make room at once for ``rows`` series and windows up to ``last_start``, when
        the rows about to be merged share window length ``step``."""
        if self.empty and step:
            self._start_grid(step, first_start)
        if self.dense and step == self.step and last_start >= self.origin:
            self._grow(rows, (last_start - self.origin) // self.step + 1)

    def _grow(self, need_rows: int, need_cols: int) -> npt.NDArray[np.float64]:
        grid = self.values
        if grid is not None and grid.shape[0] >= need_rows and grid.shape[1] >= need_cols:
            return grid
        have_rows, have_cols = (0, 0) if grid is None else grid.shape
        rows_to = max(need_rows, have_rows + have_rows // 4) if have_rows < need_rows else have_rows
        cols_to = need_cols + _SPARE_COLUMNS if have_cols < need_cols else have_cols
        bigger = np.full((rows_to, cols_to), np.nan)
        if grid is not None:
            bigger[:have_rows, :have_cols] = grid
        self.values = self._buf = bigger
        self._col0 = 0
        return bigger

    def _place(
        self,
        rows: npt.NDArray[np.int64],
        starts: npt.NDArray[np.int64],
        amounts: npt.NDArray[np.float64],
    ) -> None:
        cols = starts - self.origin
        cols //= self.step
        self._place_columns(rows, cols, amounts)

    def place_columns(
        self,
        ids: npt.NDArray[np.int64],
        cols: npt.NDArray[np.int32] | npt.NDArray[np.int64],
        amounts: npt.NDArray[np.float64],
        names: Mapping[int, tuple[SeriesKey, str]],
    ) -> None:
        """``merge`` for rows already known to be of the grid's step and phase, given as
        their window's column (``(start - origin) // step``, never negative)."""
        assert self.dense, "place_columns needs a grid"
        self._place_columns(self._rows_of(ids, names), cols, amounts)

    def _place_columns(
        self,
        rows: npt.NDArray[np.int64],
        cols: npt.NDArray[np.int32] | npt.NDArray[np.int64],
        amounts: npt.NDArray[np.float64],
    ) -> None:
        self._grow(len(self.keys), int(cols.max()) + 1)
        buf = self._buf
        assert buf is not None
        # one flat index into the (C-contiguous) buffer: about half the time of a 2-D
        # fancy assignment for the tens of millions of points of a first read
        flat = rows * buf.shape[1]
        flat += cols
        if self._col0:
            flat += self._col0
        buf.reshape(-1)[flat] = amounts  # stored rows are one per (series, start)

    def _to_sparse(self) -> None:
        if not self.dense:
            return
        grid, step = self.values, self.step
        self.step = 0
        self.values = self._buf = None
        self._col0 = 0
        if grid is None:
            return
        rows, cols = np.nonzero(~np.isnan(grid[: len(self.keys)]))
        self.key_index = rows.astype(np.int64)
        self.starts = self.origin + cols.astype(np.int64) * step
        self.amounts = grid[rows, cols]

    def _merge_sparse(
        self,
        index: npt.NDArray[np.int64],
        starts: npt.NDArray[np.int64],
        amounts: npt.NDArray[np.float64],
    ) -> None:
        if self.starts.size == 0:
            self.key_index, self.starts, self.amounts = index, starts, amounts
            return
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

    def _handed_out(self, shape: tuple[int, int]) -> npt.NDArray[np.float64]:
        """An array for a grid view: a view of the memory the previous view got when
        nothing refers to it any more (its frame was dropped with its cycle), else of new
        memory. A daemon's hourly view is the same shape every hour, and hundreds of
        megabytes of new memory cost a first touch of every page (often more than the
        copy into them). The memory kept is at most what the largest view needed."""
        size = shape[0] * shape[1]
        last = self._last_view  # every view of it (and their slices) refers to it
        if last is not None and last.size >= size and sys.getrefcount(last) == _UNUSED:
            return last[:size].reshape(shape)  # as large or larger: a late hour is narrower
        self._last_view = None
        del last
        fresh = _small_pages(size)
        self._last_view = fresh
        return fresh.reshape(shape)

    def view(self, since: int, until: int) -> StoredSeries:
        """A copy of the points with ``since <= start < until``."""
        if self.dense and self.values is not None:
            lo = max(0, -(-(since - self.origin) // self.step))
            hi = max(lo, min(self.values.shape[1], -(-(until - self.origin) // self.step)))
            part = self.values[: len(self.keys), lo:hi]
            grid = self._handed_out(part.shape)
            np.copyto(grid, part)
            return StoredSeries(
                list(self.keys),
                currencies=list(self.currencies),
                grid=grid,
                origin=self.origin + lo * self.step,
                step=self.step,
            )
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
        if self.dense and self.values is not None:
            drop = min(self.values.shape[1], max(0, (before - self.origin) // self.step))
            if drop:
                # a view: the columns dropped stay allocated until the grid next grows
                # (``_grow`` copies it then), not a copy of the whole grid every hour
                self._col0 += drop
                assert self._buf is not None
                self.values = self._buf[:, self._col0 :]
                self.origin += drop * self.step
        else:
            keep = self.starts >= before
            self.key_index, self.starts, self.amounts = (
                self.key_index[keep],
                self.starts[keep],
                self.amounts[keep],
            )
        self.since = before
