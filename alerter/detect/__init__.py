"""Detectors: the registry of detection methods, keyed by the ``type`` used in rule files."""

from __future__ import annotations

from alerter.detect.base import Detector
from alerter.detect.change import ChangeDetector
from alerter.detect.threshold import ThresholdDetector

DETECTORS: dict[str, type[Detector]] = {
    "threshold": ThresholdDetector,
    "change": ChangeDetector,
}
