"""Escaping of untrusted billing text (customer names, SKUs, descriptions) per medium.

Slack mrkdwn has no backslash escape: ``&``, ``<`` and ``>`` become entities (so
``<!channel>`` and ``<https://evil|click>`` are shown, never parsed), and the
formatting characters ``* _ ~ ` `` are fenced with zero-width spaces (where they could
format) so a name like
``*x*`` cannot bold, strike or open a code span. HTML uses ``html.escape``. Mail
headers get no untrusted text unless it went through ``header_safe``.

Every function here also removes the bidirectional embedding, override and isolate
controls (U+202A..U+202E, U+2066..U+2069), so a name cannot reverse how the text
around it reads (``BIDI_CONTROLS``).
"""

from __future__ import annotations

import html
import unicodedata

ZWSP = "\u200b"
_SLACK_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SLACK_FORMATTING = frozenset("*_~`")
HEADER_MAX = 200
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embedding, override and isolate controls: removed from all rendered untrusted text."""
_NO_BIDI = {ord(c): None for c in BIDI_CONTROLS}


def strip_bidi(text: str) -> str:
    """``text`` without the characters of ``BIDI_CONTROLS``."""
    return str(text).translate(_NO_BIDI)


def _drop_controls(text: str, replacement: str = " ") -> str:
    """Control and line/paragraph separator characters replaced (tab and newline too)."""
    out = []
    for ch in strip_bidi(text):
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp") or ch in "\u2028\u2029\u0085":
            out.append(replacement)
        else:
            out.append(ch)
    return "".join(out)


def slack_text(text: str) -> str:
    """Escape ``text`` for a Slack ``plain_text`` object: only ``&``, ``<``, ``>``."""
    return "".join(_SLACK_ENTITIES.get(ch, ch) for ch in _drop_controls(str(text)))


def slack_mrkdwn(text: str) -> str:
    """Escape ``text`` for a Slack ``mrkdwn`` object: entities plus inert formatting.

    A formatting character between two letters or digits (``line_item``) cannot open or
    close a span and is left alone; elsewhere it is fenced with zero-width spaces.
    Newlines are flattened too, so untrusted text cannot start a quote (``>``) or list.
    """
    flat = _drop_controls(str(text))
    out = []
    for i, ch in enumerate(flat):
        if ch in _SLACK_ENTITIES:
            out.append(_SLACK_ENTITIES[ch])
        elif ch in _SLACK_FORMATTING and not (
            ch != "`" and 0 < i < len(flat) - 1 and flat[i - 1].isalnum() and flat[i + 1].isalnum()
        ):
            out.append(f"{ZWSP}{ch}{ZWSP}")
        else:
            out.append(ch)
    return "".join(out)


def plain_text(text: str) -> str:
    """Untrusted text for a plain-text body: one line, no control characters."""
    return _drop_controls(str(text))


def html_text(text: str) -> str:
    """Escape ``text`` for HTML element content and quoted attribute values."""
    return html.escape(strip_bidi(text), quote=True)


def header_safe(text: str, limit: int = HEADER_MAX) -> str:
    """A single-line mail header value: no CR/LF or control characters, at most ``limit``.

    Runs of whitespace collapse to one space; an over-long value is cut and ends in ``…``.
    """
    flat = " ".join(_drop_controls(str(text)).split())
    if len(flat) > limit:
        flat = flat[: max(0, limit - 1)].rstrip() + "…"
    return flat
