"""Exact-match response cache in Django's cache (shared through Redis when set).

The key covers the model, the messages, the tools and the parameters, and the user
unless LLM_CACHE_SCOPE is "global". Only whole, successful answers are stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

from agents.errors import STORE_ERRORS
from agents.events import CallContext

logger = logging.getLogger(__name__)


def enabled(context: CallContext) -> bool:
    return settings.LLM_CACHE_TTL > 0 and not context.bypass_cache


def key_for(
    context: CallContext, model: str, messages: list[dict[str, Any]], **parameters: Any
) -> str | None:
    """The cache key of one request, as seen by whoever may share its answer (None when
    the cache is off for it: the key costs a hash of the whole prompt)."""
    if not enabled(context):
        return None
    scope = "global" if settings.LLM_CACHE_SCOPE == "global" else f"user:{context.user_id}"
    request = {"model": model, "messages": messages, **parameters}
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode())
    return f"llm:response:{scope}:{digest.hexdigest()}"


def get(key: str | None) -> dict[str, Any] | None:
    """The answer stored under `key` (None: the cache is off for this call), unless the
    cache is down: it only saves money, so a call goes upstream without it."""
    if key is None:
        return None
    try:
        return cache.get(key)
    except STORE_ERRORS as exc:
        logger.warning("Response cache unavailable, asking upstream: %s", exc)
        return None


def put(key: str, answer: dict[str, Any]) -> None:
    try:
        cache.set(key, answer, timeout=settings.LLM_CACHE_TTL)
    except STORE_ERRORS as exc:
        logger.warning("Response cache unavailable, answer not stored: %s", exc)
