"""Detectors: the registry of detection methods, keyed by the ``type`` used in rule files."""

from __future__ import annotations

from alerter.detect.base import Detector
from alerter.detect.change import ChangeDetector
from alerter.detect.cost import CostDetector
from alerter.detect.forecast import ForecastDetector
from alerter.detect.new_spend import NewSpendDetector
from alerter.detect.seasonal import SeasonalDetector
from alerter.detect.threshold import ThresholdDetector
from alerter.detect.zscore import ZScoreDetector

DETECTORS: dict[str, type[Detector]] = {
    "threshold": ThresholdDetector,
    "change": ChangeDetector,
    "zscore": ZScoreDetector,
    "seasonal": SeasonalDetector,
    "cost": CostDetector,
    "forecast": ForecastDetector,
    "new_spend": NewSpendDetector,
}
