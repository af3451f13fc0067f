"""Model fields shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import models

MARKER = "…"


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in a marker when it was cut."""
    return text if len(text) <= limit else text[: limit - len(MARKER)] + MARKER


class ClippedCharField(models.CharField):
    """A CharField for text the app does not control (what an upstream server sends):
    a value longer than the column is cut with a marker as it is written, by `save`,
    `create` and `QuerySet.update` alike, instead of failing the write (PostgreSQL
    refuses an over-long value; SQLite would keep it whole)."""

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if isinstance(value, str) and self.max_length:
            value = clip(value, self.max_length)
        return super().get_db_prep_save(value, connection)
