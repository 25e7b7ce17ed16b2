"""A loopback PagerDuty Events API v2 (``POST /v2/enqueue``).

Bodies are checked field by field against a JSON Schema written from PagerDuty's Events
API v2 reference (openapiv3 ``/enqueue``): ``routing_key`` (32 characters),
``event_action`` trigger | acknowledge | resolve, ``dedup_key`` (at most 255), and on
``trigger`` a ``payload`` with ``summary`` (at most 1024), ``source``, ``severity``
critical | error | warning | info, optional ``timestamp`` (ISO 8601), ``component``,
``group``, ``class``, ``custom_details``; optional ``client``, ``client_url``, ``links``
and ``images``. Valid events answer 202 ``{"status": "success", "message": "Event
processed", "dedup_key": ...}``; invalid ones 400 ``{"status": "invalid event", ...}``.
Each alert's state is kept by ``dedup_key``.
"""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]

from tests.fakes.jsonhttp import JsonReceiver, Received

ROUTING_KEY = "R0UTINGKEYSECRET0123456789abcdef"
assert len(ROUTING_KEY) == 32

_LINK = {
    "type": "object",
    "required": ["href"],
    "additionalProperties": False,
    "properties": {"href": {"type": "string", "format": "uri"}, "text": {"type": "string"}},
}
_IMAGE = {
    "type": "object",
    "required": ["src"],
    "additionalProperties": False,
    "properties": {
        "src": {"type": "string"},
        "href": {"type": "string"},
        "alt": {"type": "string"},
    },
}
EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["routing_key", "event_action"],
    "additionalProperties": False,
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "additionalProperties": False,
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "component": {"type": "string"},
                "group": {"type": "string"},
                "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
        },
        "client": {"type": "string"},
        "client_url": {"type": "string"},
        "links": {"type": "array", "items": _LINK},
        "images": {"type": "array", "items": _IMAGE},
    },
    "allOf": [
        {
            "if": {"properties": {"event_action": {"const": "trigger"}}},
            "then": {"required": ["payload"]},
            "else": {"required": ["dedup_key"]},
        }
    ],
}
VALIDATOR = jsonschema.Draft202012Validator(
    EVENT_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


class PagerDutyFake(JsonReceiver):
    """Events API v2; ``alerts[dedup_key]`` is ``triggered`` / ``acknowledged`` / ``resolved``."""

    path = "/v2/enqueue"

    def __init__(self, routing_key: str = ROUTING_KEY) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.alerts: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []

    def answer(self, received: Received) -> tuple[int, dict[str, str], Any]:
        try:
            event = received.json
        except ValueError:
            return 400, {}, {"status": "invalid event", "message": "Malformed JSON"}
        errors = [e.message for e in VALIDATOR.iter_errors(event)]
        if not errors and event["routing_key"] != self.routing_key:
            errors = ["routing_key: no such integration"]
        if errors:
            self.rejected.append((received, "; ".join(errors)))
            return (
                400,
                {},
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            )
        key = event.get("dedup_key") or f"generated-{len(self.events)}"
        action = event["event_action"]
        state = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
        if action == "trigger" or key in self.alerts:
            self.alerts[key] = state[action]
        self.events.append(event)
        return 202, {}, {"status": "success", "message": "Event processed", "dedup_key": key}
