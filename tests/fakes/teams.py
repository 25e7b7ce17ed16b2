"""A loopback Microsoft Teams Workflows webhook ("post to a channel when a webhook
request is received").

The body must be a ``message`` whose attachments are Adaptive Cards
(``application/vnd.microsoft.card.adaptive``), checked field by field with a JSON Schema
written from the published Adaptive Card schema 1.5 (adaptivecards.io/schemas): the
card's ``type``/``version``/``body``/``actions`` and, strictly (unknown properties
rejected), the elements alerter uses — ``TextBlock``, ``RichTextBlock`` with
``TextRun`` inlines, ``FactSet``/``Fact``, ``Image``, ``Action.OpenUrl`` — with the
schema's enums for ``weight``, ``size``, ``color`` and image ``size``. Bodies over
28 KB answer 413 (Teams' message size limit); valid ones 202 Accepted.
"""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]

from tests.fakes.jsonhttp import JsonReceiver, Received

SECRET_PATH = "/workflows/SECRET-sig-0123456789/triggers/manual/paths/invoke"
SIZE_LIMIT = 28 * 1024

_COLORS = {"enum": ["Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"]}
_WEIGHT = {"enum": ["Default", "Lighter", "Bolder"]}
_FONT_SIZE = {"enum": ["Default", "Small", "Medium", "Large", "ExtraLarge"]}
_SPACING = {"enum": ["None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"]}
_COMMON = {"id": {"type": "string"}, "spacing": _SPACING, "separator": {"type": "boolean"}}

TEXT_BLOCK = {
    "type": "object",
    "required": ["type", "text"],
    "additionalProperties": False,
    "properties": {
        **_COMMON,
        "type": {"const": "TextBlock"},
        "text": {"type": "string"},
        "color": _COLORS,
        "weight": _WEIGHT,
        "size": _FONT_SIZE,
        "isSubtle": {"type": "boolean"},
        "wrap": {"type": "boolean"},
        "maxLines": {"type": "integer", "minimum": 1},
        "fontType": {"enum": ["Default", "Monospace"]},
        "horizontalAlignment": {"enum": ["Left", "Center", "Right"]},
    },
}
TEXT_RUN = {
    "type": "object",
    "required": ["type", "text"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "TextRun"},
        "text": {"type": "string"},
        "color": _COLORS,
        "weight": _WEIGHT,
        "size": _FONT_SIZE,
        "isSubtle": {"type": "boolean"},
        "italic": {"type": "boolean"},
        "strikethrough": {"type": "boolean"},
        "fontType": {"enum": ["Default", "Monospace"]},
    },
}
RICH_TEXT_BLOCK = {
    "type": "object",
    "required": ["type", "inlines"],
    "additionalProperties": False,
    "properties": {
        **_COMMON,
        "type": {"const": "RichTextBlock"},
        "inlines": {"type": "array", "items": {"anyOf": [TEXT_RUN, {"type": "string"}]}},
    },
}
FACT_SET = {
    "type": "object",
    "required": ["type", "facts"],
    "additionalProperties": False,
    "properties": {
        **_COMMON,
        "type": {"const": "FactSet"},
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["title", "value"],
                "additionalProperties": False,
                "properties": {"title": {"type": "string"}, "value": {"type": "string"}},
            },
        },
    },
}
IMAGE = {
    "type": "object",
    "required": ["type", "url"],
    "additionalProperties": False,
    "properties": {
        **_COMMON,
        "type": {"const": "Image"},
        "url": {"type": "string", "pattern": r"^(https?://|data:image/(png|jpeg|gif);base64,)"},
        "altText": {"type": "string"},
        "size": {"enum": ["Auto", "Stretch", "Small", "Medium", "Large"]},
        "style": {"enum": ["Default", "Person"]},
    },
}
OPEN_URL = {
    "type": "object",
    "required": ["type", "url"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "Action.OpenUrl"},
        "url": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "id": {"type": "string"},
    },
}
CARD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["type", "version", "body"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"const": "http://adaptivecards.io/schemas/adaptive-card.json"},
        "type": {"const": "AdaptiveCard"},
        "version": {"const": "1.5"},
        "body": {
            "type": "array",
            "minItems": 1,
            "items": {"oneOf": [TEXT_BLOCK, RICH_TEXT_BLOCK, FACT_SET, IMAGE]},
        },
        "actions": {"type": "array", "items": OPEN_URL},
        "msteams": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"width": {"const": "Full"}},
        },
        "fallbackText": {"type": "string"},
        "lang": {"type": "string"},
    },
}
MESSAGE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["type", "attachments"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "message"},
        "attachments": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["contentType", "content"],
                "additionalProperties": False,
                "properties": {
                    "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                    "contentUrl": {"type": "null"},
                    "content": CARD_SCHEMA,
                },
            },
        },
    },
}
VALIDATOR = jsonschema.Draft202012Validator(
    MESSAGE_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def problems(body: Any) -> list[str]:
    """Schema violations of a Workflows message body (empty when valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(body)
    ]


class TeamsFake(JsonReceiver):
    """Records cards; ``cards`` holds the valid ones in order."""

    path = SECRET_PATH

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, Any]] = []

    def answer(self, received: Received) -> tuple[int, dict[str, str], Any]:
        if len(received.body) > SIZE_LIMIT:
            self.rejected.append((received, "too large"))
            return 413, {}, {"error": {"code": "RequestEntityTooLarge"}}
        try:
            body = received.json
        except ValueError:
            return 400, {}, {"error": {"code": "InvalidRequestContent"}}
        errors = problems(body)
        if errors:
            self.rejected.append((received, "; ".join(errors)))
            return 400, {}, {"error": {"code": "InvalidRequestContent", "message": errors[0]}}
        self.cards.extend(a["content"] for a in body["attachments"])
        return 202, {}, {}
