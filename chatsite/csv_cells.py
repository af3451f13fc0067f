"""CSV cells safe to open in a spreadsheet, for every export of the site."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from chatsite.money import plain

# A cell starting with one of these is a formula to a spreadsheet; text that came from
# people or from a model must never run as one, so such cells get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, with a text that a spreadsheet would run as a formula made plain text,
    and an amount as a plain number."""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """Every cell of `row` made safe (numbers and dates pass unchanged)."""
    return [safe_cell(value) for value in row]
