"""Every form a secret may take in a message, so one redaction catches them all.

A token read from a file or env var often carries surrounding whitespace (a trailing
newline) that the code strips before use; libraries then show it URL-quoted (a webhook
URL in an error), escaped as ``repr``/JSON would, or base64-encoded (SMTP AUTH, HTTP
Basic). Matching only the raw value misses all of these.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MIN_FORM = 4
"""Forms shorter than this are left out: they would redact ordinary text."""


def secret_forms(secret: str) -> list[str]:
    """``secret`` as is and stripped, each URL-quoted (``%2F`` and ``+`` styles),
    escaped as ``repr``/bytes ``repr``/JSON show it, and in base64; longest first."""
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        if not value:
            continue
        forms.update(
            (
                value,
                quote(value, safe=""),
                quote(value),
                quote_plus(value),
                value.encode("unicode_escape").decode("ascii"),
                json.dumps(value)[1:-1],
                repr(value)[1:-1],
                repr(value.encode())[2:-1],
                base64.b64encode(value.encode()).decode(),
                base64.b64encode(value.encode()).decode().rstrip("="),
                base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
            )
        )
    return sorted((f for f in forms if len(f) >= MIN_FORM), key=lambda f: (-len(f), f))


def all_forms(secrets: Iterable[str]) -> list[str]:
    """``secret_forms`` of every secret, deduplicated, longest first."""
    found: set[str] = set()
    for secret in secrets:
        found.update(secret_forms(secret))
    return sorted(found, key=lambda f: (-len(f), f))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by ``***``."""
    for form in all_forms(secrets):
        text = text.replace(form, "***")
    return text
