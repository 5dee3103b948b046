"""Amounts as the provider writes them: decimal strings in, decimal strings out.

Never a float: money is ``Decimal`` from text, and goes back as plain text without an
exponent (``docs/explanation/provider-api.rst``, "Amounts").
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .exceptions import InvalidResponse


def format_amount(amount: Decimal | str | int) -> str:
    """A decimal as the provider wants it: a plain string, never an exponent or a float."""
    if isinstance(amount, float):
        raise TypeError("amounts must be Decimal or str, never float")
    value = Decimal(str(amount))
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# What an amount may look like on the wire: ASCII digits, a point, an exponent. Python's
# Decimal would also take "1_000", " 1 ", "NaN" or digits of other scripts.
_AMOUNT_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?", re.ASCII)


def parse_amount(value: Any) -> Decimal | None:
    """A provider amount (a decimal string, or a JSON number) as a finite Decimal.

    None when absent; ``InvalidResponse`` for anything else, e.g. booleans, lists,
    ``"NaN"``, ``"1e999999999"``. Floats are taken by their shortest repr, never by
    their binary value.
    """
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)  # never build a Decimal from a binary float
    elif isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _AMOUNT_TEXT.fullmatch(value):
        raise InvalidResponse(f"not a decimal amount: {str(value)[:60]!r}")
    try:
        result = Decimal(value)
    except ArithmeticError as exc:  # pragma: no cover - the pattern rules it out
        raise InvalidResponse(f"not a decimal amount: {value[:60]!r}") from exc
    if not result.is_finite():  # pragma: no cover - the pattern rules it out
        raise InvalidResponse(f"not a finite amount: {value[:60]!r}")
    return result
