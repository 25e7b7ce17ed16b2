"""The web UI for the on-call person: incidents, silences, sources and rules, explain.

Off unless ``[alerter.http] ui = true``; mounted on the daemon's HTTP server under
``/ui``. ``alerter/web/data.py`` is its only access to the state.
"""

from __future__ import annotations

from alerter.web.app import WebUI

__all__ = ["WebUI"]
