"""Length limits on text people type, stated in the error when passed."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def check_length(text: str, *, what: str, limit: int) -> str:
    """`text` when it is at most `limit` characters, else a `ValidationError` naming
    `what` was too long, by how much, and the limit."""
    if len(text) > limit:
        raise ValidationError(
            f"{what} is too long ({len(text):,} characters; the limit is {limit:,}).",
            code="max_length",
        )
    return text
