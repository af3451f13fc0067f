"""The fallback chain: which models to try, and which errors are worth another model."""

from __future__ import annotations

from django.conf import settings

from agents.errors import GatewayError


def chain(model: str) -> list[str]:
    """The asked model first, then LLM_FALLBACK_MODELS in order, each once."""
    models = [model]
    for other in settings.LLM_FALLBACK_MODELS:
        if other not in models:
            models.append(other)
    return models


def worth_trying_next(error: GatewayError) -> bool:
    """Rate limits, 5xx, timeouts, connection errors and unknown models may work
    elsewhere; a 400 or an auth error would fail the same way on any model."""
    return error.retryable and error.status not in (400, 401, 403, 422)
