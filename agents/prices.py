"""What a call cost: the price table, read at call time. Unknown models stay unpriced."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from agents.events import Usage
from agents.models import ModelPrice
from chatsite import db


async def price_for(model: str, requested: str = "") -> ModelPrice | None:
    """The price valid today for `model`.

    A dated snapshot the requested alias resolved to (gpt-4o -> gpt-4o-2024-08-06) is
    priced as that alias; any other unknown model has no price, never another's.
    """
    return await db.run(_price_for, model, requested)


def _price_for(model: str, requested: str) -> ModelPrice | None:
    today = timezone.localdate()
    names = [model]
    if requested and requested != model and model.startswith(f"{requested}-"):
        names.append(requested)
    for name in names:
        price = (
            ModelPrice.objects.filter(model=name, valid_from__lte=today)
            .order_by("-valid_from")
            .first()
        )
        if price is not None:
            return price
    return None


def price_today(model: str) -> ModelPrice | None:
    """`price_for` for code already on a database thread."""
    return _price_for(model, "")


async def cost_of(usage: Usage, model: str, requested: str = "") -> Decimal | None:
    """USD for `usage` on `model`; 0 for the offline demo model; None when unpriced."""
    if settings.LLM_DEMO:
        return Decimal(0)
    price = await price_for(model, requested)
    if price is None:
        return None
    return price.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens)
