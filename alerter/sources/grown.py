"""Files that only grew: read the new end of a CSV file instead of the whole file.

A billing export that gains an hour of rows at its end should cost the rows it gained,
not a re-read of weeks of data. A file counts as grown when it is longer than when it
was last read and its fingerprint at the old length (``columnar.fingerprint``: the head
and the last 64 KiB of what was read) is unchanged; any other change is read whole, and
its changed rows become revisions as before.

The new rows are read only when they hold new windows: every window they touch starts at
or after the end of every window the source's files held before (and inside the range
asked for). Rows for an earlier window would have to be added to rows already stored, so
a grown file with such rows is read whole, as is one whose new rows DuckDB cannot read
exactly (the row reader then names the line at fault).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alerter.domain import Coverage
from alerter.sources.base import FetchResult, FileMark, FileMarks
from alerter.sources.columnar import CsvLayout, fingerprint, read_csv_windows
from alerter.timeparse import floor_time

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Growth:
    """A file that grew from ``mark.size`` bytes to ``size`` (its last whole line)."""

    path: Path
    mark: FileMark
    size: int
    mtime_ns: int


def builds_on(mark: FileMark, since: datetime) -> bool:
    """Whether a read from ``since`` may build on ``mark``: the file was read from
    ``since`` or earlier, and no window of it was left out past what was read."""
    return mark.read_since <= since and (mark.data_end is None or mark.data_end <= mark.read_until)


def grown(
    marks: FileMarks | None, source: str, files: Sequence[Path], since: datetime
) -> tuple[list[FileMark], list[Growth]] | None:
    """The marks of the unchanged files and the files that only grew, when every file is
    one or the other (read from ``since`` or earlier, nothing clipped); else None (read
    them all again: a changed file's rows become revisions). No growth: nothing changed.
    A file that gained only part of a line while no file grew is read again whole, as a
    changed file."""
    if marks is None or not files:
        return None
    known = marks.file_marks(source)
    same: list[FileMark] = []
    growths: list[Growth] = []
    partial = False
    for path in files:
        mark = known.get(str(path))
        try:
            st = path.stat()
        except OSError:
            return None
        if mark is None or not builds_on(mark, since):
            return None
        if (mark.size, mark.mtime_ns) == (st.st_size, st.st_mtime_ns):
            same.append(mark)
            continue
        if (
            mark.fingerprint is None
            or st.st_size <= mark.size
            or fingerprint(path, mark.size) != mark.fingerprint
        ):
            return None
        end = _last_line_end(path, mark.size, st.st_size)
        if end <= mark.size:  # only part of a line so far: nothing new to read yet
            partial = True
            same.append(mark)
            continue
        growths.append(Growth(path, mark, end, st.st_mtime_ns))
    return None if partial and not growths else (same, growths)


def _last_line_end(path: Path, start: int, size: int) -> int:
    """The offset just past the last newline in ``[start, size)``, or ``start``."""
    with path.open("rb") as f:
        at = size
        while at > start:
            lo = max(start, at - _CHUNK)
            f.seek(lo)
            chunk = f.read(at - lo)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                return lo + nl + 1
            at = lo
    return start


def _header(path: Path) -> bytes:
    with path.open("rb") as f:
        line = f.readline(_CHUNK)
    return line if line.endswith(b"\n") else line + b"\n"


def read_grown(
    source: str,
    same: list[FileMark],
    growths: list[Growth],
    layout: CsvLayout,
    since: datetime,
    until: datetime,
) -> FetchResult | None:
    """The new windows of the grown files, or None when they must be read whole."""
    before = [m.data_end for m in [*same, *(g.mark for g in growths)] if m.data_end]
    after = max(before) if before else None
    folder = Path(tempfile.mkdtemp(prefix="alerter-grown-"))
    try:
        parts: list[Path] = []
        for n, g in enumerate(growths):
            part = folder / f"part{n}.csv"
            with g.path.open("rb") as src, part.open("wb") as out:
                out.write(_header(g.path))
                src.seek(g.mark.size)
                left = g.size - g.mark.size
                while left > 0:
                    chunk = src.read(min(_CHUNK, left))
                    if not chunk:
                        return None  # the file shrank while being read
                    out.write(chunk)
                    left -= len(chunk)
            parts.append(part)
        got = read_csv_windows(parts, layout, since, until)
        first = floor_time(since, layout.step)
        ok = not got.fallback and all(
            start >= first and (after is None or start >= after) for start, _ in got.spans.values()
        )
        if not ok:
            if got.table is not None:
                got.table.close()
            log.info("csv_grown_read_whole source=%s files=%d", source, len(growths))
            return None
        coverage: list[Coverage] = []
        marks = list(same)
        for g, part in zip(growths, parts, strict=True):
            span = got.spans.get(part)
            data_end = g.mark.data_end
            read_to = max(until, g.mark.read_until)
            if span is not None:
                if span[1] - layout.step < until:  # its last window was read: none clipped
                    read_to = max(read_to, span[1])
                lo = max(after or span[0], first)
                hi = min(span[1], until)
                if hi > lo:
                    coverage.append(Coverage(lo, hi))
                data_end = span[1] if data_end is None else max(data_end, span[1])
            marks.append(
                FileMark(
                    str(g.path),
                    g.size,
                    g.mtime_ns,
                    None,
                    g.mark.read_since,
                    read_to,
                    data_end,
                    fingerprint(g.path, g.size),
                )
            )
        log.info(
            "csv_grown source=%s files=%d bytes=%d",
            source,
            len(growths),
            sum(g.size - g.mark.size for g in growths),
        )
        return FetchResult([], coverage, [], table=got.table, file_marks=marks)
    finally:
        # DuckDB has read the parts into its own tables before read_csv_windows returns
        shutil.rmtree(folder, ignore_errors=True)
