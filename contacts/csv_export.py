"""Contacts as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from contacts.models import Contact

HEADER = ["name", "email", "phone", "company", "created_at"]
# A cell starting with one of these is a formula to a spreadsheet; extracted text must
# never run as one, so such cells get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def contacts_csv(contacts: Iterable[Contact]) -> str:
    """The CSV text: a header row, then one row per contact."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for contact in contacts:
        row = [contact.name, contact.email, contact.phone, contact.company]
        writer.writerow([*map(safe_cell, row), contact.created_at.isoformat()])
    return out.getvalue()
