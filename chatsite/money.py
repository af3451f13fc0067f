"""Amounts of money as people and programs read them."""

from __future__ import annotations

from decimal import Decimal


def plain(value: Decimal | None) -> str | None:
    """`value` as a plain decimal number ("0.00000000", never "0E-8"); None stays None."""
    return None if value is None else format(value, "f")
