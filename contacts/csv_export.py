"""Contacts as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from chatsite.csv_cells import safe_row
from contacts.models import Contact

HEADER = ["name", "email", "phone", "company", "created_at"]


def contacts_csv(contacts: Iterable[Contact]) -> str:
    """The CSV text: a header row, then one row per contact."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for contact in contacts:
        row = [contact.name, contact.email, contact.phone, contact.company]
        writer.writerow(safe_row([*row, contact.created_at.isoformat()]))
    return out.getvalue()
