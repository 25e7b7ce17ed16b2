"""Sources: the registry of billing sources, keyed by the ``type`` users write in TOML."""

from __future__ import annotations

from alerter.sources.base import Source
from alerter.sources.csv_file import CsvSource
from alerter.sources.digitalocean import DigitalOceanSource
from alerter.sources.focus import FocusSource
from alerter.sources.metronome import MetronomeSource
from alerter.sources.sql import SqlSource

SOURCES: dict[str, type[Source]] = {
    "csv": CsvSource,
    "digitalocean": DigitalOceanSource,
    "focus": FocusSource,
    "metronome": MetronomeSource,
    "sql": SqlSource,
}
