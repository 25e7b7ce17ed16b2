"""Money at the edges: exact Decimal parsing and human formatting."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

CENTS = Decimal("0.01")


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
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {text!r}") from None
    else:
        raise ValueError(f"not a decimal amount: {text!r}")
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    return value


def to_decimal(value: float) -> Decimal:
    """A float from detection back to a Decimal, rounded to 6 places."""
    return Decimal(repr(float(value))).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """``$1,234.56`` for USD, ``1,234.56 EUR`` otherwise; 2 places, sign kept."""
    rounded = amount.quantize(CENTS, rounding=ROUND_HALF_EVEN)
    sign = "-" if rounded < 0 else ""
    body = f"{abs(rounded):,.2f}"
    if currency.upper() == "USD":
        return f"{sign}${body}"
    return f"{sign}{body} {currency}"
