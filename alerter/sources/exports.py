"""Which data files make up an export now: plain globs, AWS Data Exports, Azure exports.

- ``files``: every data file (``.csv``, ``.csv.gz``, ``.gz``, ``.parquet``) matching the
  glob, or under the folder ``path`` names.
- ``aws``: AWS Data Exports (CUR 2.0, FOCUS 1.0/1.2) under the export's root
  ``<prefix>/<export>/``. A delivery counts only once its
  ``metadata/<partition>/.../<export>-Manifest.json`` exists; the manifest's
  ``dataFiles`` are the files of the delivery. For each billing period (the
  ``BILLING_PERIOD=YYYY-MM`` partition) only the newest manifest is read, so a newer
  delivery replaces the older one (its changed sums become revisions).
- ``azure``: Azure Cost Management exports: a ``manifest.json`` per run, listing its
  ``blobs``; for each exported date range (``runInfo.startDate``/``endDate``) the newest
  run counts. An export that overwrites its files in place is read again when their
  etag changes.
- ``auto`` (default): ``files`` for a glob; otherwise ``aws`` or ``azure`` when manifests
  of that kind are under ``path``, else ``files``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from alerter.sources.objectstore import ObjectInfo, ObjectStore, has_glob

Layout = Literal["auto", "files", "aws", "azure"]
DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet", ".snappy.parquet", ".gz.parquet")
_PERIOD = re.compile(r"BILLING_PERIOD=([0-9]{4}-[0-9]{2})")
_AZURE_RANGE = re.compile(r"/([0-9]{8}-[0-9]{8})/")
MAX_MANIFEST_BYTES = 50 * 1024 * 1024


@dataclass
class Resolved:
    """The data files to read now, and what went wrong finding them."""

    files: list[ObjectInfo] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    deliveries: dict[str, str] = field(default_factory=dict)
    """Period -> the manifest read for it (manifest layouts only)."""
    period_of: dict[str, str] = field(default_factory=dict)
    """Data file URL -> the billing period its delivery is for (manifest layouts only)."""
    unread: list[str | None] = field(default_factory=list)
    """Periods whose delivery could not be read (None: a manifest of unknown period):
    their windows are unknown, not zero."""


def is_data_file(url: str) -> bool:
    lowered = url.lower()
    return lowered.endswith(DATA_SUFFIXES) and not lowered.endswith("manifest.json")


def resolve(store: ObjectStore, path: str, layout: Layout) -> Resolved:
    """The files of the export at ``path`` (see the module docstring). Raises
    ``SourceError`` only when listing itself fails."""
    if has_glob(path):
        if layout in ("aws", "azure"):
            return Resolved(
                errors=[f"{path}: an {layout} export path must be its root, not a glob"]
            )
        return Resolved(files=[o for o in store.glob(path) if is_data_file(o.url)])
    listing = store.find(path)
    manifests = [o for o in listing if o.url.lower().endswith("manifest.json")]
    if layout == "auto" and not manifests:
        # An export whose first delivery is still being written has no manifest yet:
        # its folder layout says it is one, and nothing is read until the manifest.
        if any(_PERIOD.search(o.url) for o in listing):
            layout = "aws"
        elif any(_AZURE_RANGE.search(o.url) for o in listing):
            layout = "azure"
    if layout == "files" or (layout == "auto" and not manifests):
        return Resolved(files=[o for o in listing if is_data_file(o.url)])
    by_url = {o.url: o for o in listing}
    parsed: list[tuple[ObjectInfo, dict[str, Any]]] = []
    errors: list[str] = []
    unread: list[str | None] = []
    for m in manifests:
        if m.size > MAX_MANIFEST_BYTES:
            errors.append(f"{m.url}: manifest larger than {MAX_MANIFEST_BYTES} bytes, skipped")
            unread.append(_url_period(m.url))
            continue
        try:
            doc = json.loads(store.read(m.url))
        except (ValueError, UnicodeDecodeError) as exc:
            errors.append(f"{m.url}: not a JSON manifest: {exc}")
            unread.append(_url_period(m.url))
            continue
        if isinstance(doc, dict):
            parsed.append((m, doc))
        else:
            errors.append(f"{m.url}: a manifest must be a JSON object")
            unread.append(_url_period(m.url))
    kind = layout
    if kind == "auto":
        kind = "aws" if any("dataFiles" in d for _, d in parsed) else "azure"
    reader = _aws if kind == "aws" else _azure
    out = reader(store, path, parsed, by_url, errors)
    out.unread.extend(unread)
    return out


def _url_period(url: str) -> str | None:
    """The billing period a manifest's path names (AWS ``BILLING_PERIOD=YYYY-MM``, an
    Azure ``YYYYMMDD-YYYYMMDD`` folder), or None."""
    found = _PERIOD.search(url) or _AZURE_RANGE.search(url)
    return found.group(1) if found else None


def _newest(
    candidates: Mapping[str, list[tuple[tuple[str, float, str], ObjectInfo, list[str]]]],
    by_url: Mapping[str, ObjectInfo],
    errors: list[str],
) -> Resolved:
    out = Resolved(errors=errors)
    for period in sorted(candidates):
        _, manifest, files = max(candidates[period], key=lambda c: c[0])
        missing = [f for f in files if f not in by_url]
        if missing:
            out.errors.append(
                f"{manifest.url}: delivery for {period} lists {len(missing)} file(s) that are "
                f"not there (first: {missing[0]}); period not read"
            )
            out.unread.append(period)
            continue
        out.deliveries[period] = manifest.url
        out.files.extend(by_url[f] for f in files)
        out.period_of.update((f, period) for f in files)
    return out


def _aws(
    store: ObjectStore,
    root: str,
    parsed: list[tuple[ObjectInfo, dict[str, Any]]],
    by_url: Mapping[str, ObjectInfo],
    errors: list[str],
) -> Resolved:
    candidates: dict[str, list[tuple[tuple[str, float, str], ObjectInfo, list[str]]]] = {}
    bad: list[str | None] = []
    for m, doc in parsed:
        files = doc.get("dataFiles")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            errors.append(f"{m.url}: dataFiles must be a list of URLs")
            bad.append(_aws_period(m, doc))
            continue
        period = _aws_period(m, doc)
        candidates.setdefault(period, []).append(
            (
                (str(doc.get("executionTime") or ""), m.modified, m.url),
                m,
                [_norm(store, f) for f in files],
            )
        )
    out = _newest(candidates, by_url, errors)
    out.unread.extend(bad)
    return out


def _azure(
    store: ObjectStore,
    root: str,
    parsed: list[tuple[ObjectInfo, dict[str, Any]]],
    by_url: Mapping[str, ObjectInfo],
    errors: list[str],
) -> Resolved:
    container = store.url(root.split("://", 1)[-1].split("/", 1)[0].split("@", 1)[0])
    if store.protocol == "file":
        container = ""
    candidates: dict[str, list[tuple[tuple[str, float, str], ObjectInfo, list[str]]]] = {}
    bad: list[str | None] = []
    for m, doc in parsed:
        blobs = doc.get("blobs")
        if not isinstance(blobs, list) or not all(
            isinstance(b, dict) and isinstance(b.get("blobName"), str) for b in blobs
        ):
            errors.append(f"{m.url}: blobs must be a list of objects with a blobName")
            bad.append(_azure_period(m, doc))
            continue
        run = doc.get("runInfo") if isinstance(doc.get("runInfo"), dict) else {}
        assert isinstance(run, dict)
        period = _azure_period(m, doc)
        folder = m.url.rsplit("/", 1)[0]
        files = []
        for b in blobs:
            name = str(b["blobName"]).lstrip("/")
            url = f"{container}/{name}" if container else name
            if url not in by_url:  # some writers list names relative to the run folder
                url = f"{folder}/{name.rsplit('/', 1)[-1]}"
            files.append(url)
        stamp = str(run.get("submittedTime") or "")
        candidates.setdefault(period, []).append(((stamp, m.modified, m.url), m, files))
    out = _newest(candidates, by_url, errors)
    out.unread.extend(bad)
    return out


def _aws_period(m: ObjectInfo, doc: Mapping[str, Any]) -> str:
    """The billing period of an AWS manifest: its ``BILLING_PERIOD=`` partition, else
    the manifest's ``billingPeriod``."""
    found = _PERIOD.search(m.url)
    return found.group(1) if found else _period_of(doc)


def _azure_period(m: ObjectInfo, doc: Mapping[str, Any]) -> str:
    """The date range of an Azure export run: ``runInfo``'s dates, else the run folder's
    ``YYYYMMDD-YYYYMMDD``, else the folder itself (a period of unknown dates)."""
    run = doc.get("runInfo")
    if isinstance(run, dict) and run.get("startDate"):
        return f"{run.get('startDate')}..{run.get('endDate')}"
    found = _AZURE_RANGE.search(m.url)
    return found.group(1) if found else m.url.rsplit("/", 2)[0]


def _norm(store: ObjectStore, url: str) -> str:
    if "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{store.protocol}://{rest}" if scheme.lower() in ("s3", "s3a") else url
    return store.url(url)


def _period_of(doc: Mapping[str, Any]) -> str:
    period = doc.get("billingPeriod")
    if isinstance(period, dict):
        return f"{period.get('start', '')}..{period.get('end', '')}"
    return str(period or "")


def period_range(period: str | None) -> tuple[datetime, datetime] | None:
    """The UTC span ``[start, end)`` a billing period names: ``YYYY-MM`` (a month),
    ``YYYYMMDD-YYYYMMDD`` (Azure, inclusive end day) or ``start..end`` (ISO dates or
    times, as AWS's ``billingPeriod`` (end exclusive) and Azure's ``runInfo`` (end
    inclusive) give them: the end is widened by a day, as the span is used for what is
    unknown); None when it names none of these."""
    if not period:
        return None
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}", period):
            start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
            nxt = (start + timedelta(days=32)).replace(day=1)
            return start, nxt
        if re.fullmatch(r"[0-9]{8}-[0-9]{8}", period):
            a, b = period.split("-")
            start = datetime.strptime(a, "%Y%m%d").replace(tzinfo=UTC)
            end = datetime.strptime(b, "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=1)
            return (start, end) if end > start else None
        if ".." in period:
            a, b = period.split("..", 1)
            start, end = _instant(a), _instant(b) + timedelta(days=1)
            return (start, end) if end > start else None
    except ValueError:
        return None
    return None


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
