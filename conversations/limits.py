"""Write-side rate limits per user: messages sent and conversations started.

Counted with django-ratelimit in the shared cache (Redis when REDIS_URL is set), so
they hold across processes. A limit of 0 is off.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django_ratelimit.core import get_usage

from agents.errors import STORE_ERRORS


def check_message_rate(user_id: int) -> None:
    """Count one message of the user's; `ValidationError` stating the limit past it."""
    _count("chat-messages", user_id, settings.CHAT_MESSAGES_PER_MINUTE, "messages")


def check_conversation_rate(user_id: int) -> None:
    """Count one new conversation of the user's; `ValidationError` past the limit."""
    limit = settings.CHAT_CONVERSATIONS_PER_MINUTE
    _count("chat-conversations", user_id, limit, "new conversations")


def _count(group: str, user_id: int, per_minute: int, what: str) -> None:
    if not per_minute:
        return
    try:
        usage = get_usage(
            None,
            group=group,
            key=lambda _group, _request: str(user_id),
            rate=f"{per_minute}/m",
            increment=True,
        )
    except STORE_ERRORS as exc:
        # Uncounted writes could flood the database: refuse until the store is back.
        raise ValidationError(
            "Limits cannot be checked right now (the server cannot reach its shared "
            "store), so nothing was saved. Try again in a minute."
        ) from exc
    if usage and usage["should_limit"]:
        raise ValidationError(
            f"Too many {what} (the limit is {per_minute} a minute). "
            f"Try again in {max(1, usage['time_left'])} s."
        )
