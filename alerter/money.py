"""Money at the edges: exact Decimal parsing and human formatting.

Amounts from billing data are bounded: ``|amount| < MAX_AMOUNT`` (10^15 money units).
Anything larger is bad data (a 40-digit number, ``1e308``), rejected where it is read
so that one absurd value fails only its own customer or chunk, and never reaches
Decimal arithmetic that could overflow or detection as an infinite float.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

CENTS = Decimal("0.01")
MAX_AMOUNT = Decimal("1e15")
"""Money amounts must be smaller than this in absolute value (in money units)."""
MAX_QUANTITY = Decimal("1e18")
"""Usage quantities must be smaller than this in absolute value."""
_WIDE = Context(prec=400, Emax=999_999, Emin=-999_999)


def check_amount(value: Decimal, limit: Decimal = MAX_AMOUNT) -> Decimal:
    """``value`` if finite and ``|value| < limit``; else ``ValueError`` (no arithmetic is
    done on the value before the check, so no ``decimal`` signal can escape)."""
    if not value.is_finite():
        raise ValueError("not a finite amount")
    if value.adjusted() >= 18 or abs(value) >= limit:
        raise ValueError(f"amount out of range (|x| >= {limit:.0e})")
    return value


def parse_amount(text: object) -> Decimal:
    """Parse a finite decimal number exactly; raises ValueError naming the bad text."""
    if isinstance(text, bool):
        raise ValueError(f"not a decimal amount: {text!r}")
    if isinstance(text, int | Decimal):
        value = Decimal(text)
    elif isinstance(text, float):
        value = Decimal(repr(text))
    elif isinstance(text, str):
        stripped = text.strip()
        try:
            value = Decimal(stripped)
        except (InvalidOperation, ValueError):
            raise ValueError(f"not a decimal amount: {_short(text)}") from None
    else:
        raise ValueError(f"not a decimal amount: {_short(text)}")
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {_short(text)}")
    try:
        return check_amount(value)
    except ValueError as exc:
        raise ValueError(f"{exc}: {_short(text)}") from None


def _short(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def to_decimal(value: float) -> Decimal:
    """A float from detection back to a Decimal, rounded to 6 places.

    Works for every finite float (even 1.8e308); raises ``ValueError`` for inf or NaN,
    which must never be shown as an amount.
    """
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite amount: {number!r}")
    return Decimal(repr(number)).quantize(
        Decimal("0.000001"), rounding=ROUND_HALF_EVEN, context=_WIDE
    )


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """``$1,234.56`` for USD, ``1,234.56 EUR`` otherwise; 2 places, sign kept."""
    rounded = amount.quantize(CENTS, rounding=ROUND_HALF_EVEN)
    sign = "-" if rounded < 0 else ""
    body = f"{abs(rounded):,.2f}"
    if currency.upper() == "USD":
        return f"{sign}${body}"
    return f"{sign}{body} {currency}"
