"""alerter: cost anomaly alerting for billing APIs and FOCUS cost exports."""

__version__ = "0.1.0"
