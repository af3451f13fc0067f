"""What a call cost, priced by the model the request was sent to.

The name a server reports changes the price only when it is a dated version of the
model asked (gpt-4o-mini-2024-07-18 for gpt-4o-mini) or an alias on a profile: servers
report all sorts (llama.cpp says gpt-3.5-turbo whatever it runs), and a user's budget
must not follow them. A free profile costs 0; a model without a price stays unpriced.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from agents import profiles
from agents.events import Usage
from agents.models import ModelPrice
from chatsite import db

FREE = "free"


async def cost_of(usage: Usage, sent: str, reported: str = "") -> Decimal | None:
    """USD for `usage` of a request sent to `sent` and answered as `reported`; 0 for
    the offline demo model and free profiles; None when unpriced."""
    if settings.LLM_DEMO:
        return Decimal(0)
    return await db.run(cost_on, usage, sent, reported)


def cost_on(usage: Usage, sent: str, reported: str, day: date | None = None) -> Decimal | None:
    """USD for `usage` at the prices valid on `day` (today by default); None when
    unpriced. The offline demo model is priced by `cost_of` alone."""
    return cost_by(price_rule(sent, reported, day), usage)


def price_rule(sent: str, reported: str, day: date | None = None) -> ModelPrice | str | None:
    """What prices a call: a `ModelPrice`, FREE (a free profile), or None (unpriced)."""
    known = profiles.catalog()
    day = day or timezone.localdate()
    for name in pricing_names(sent, reported, known):
        profile = known.profiles.get(name)
        if profile is not None and profile.free:
            return FREE
        price = known.price_for(name, day)
        if price is not None:
            return price
    return None


def cost_by(rule: ModelPrice | str | None, usage: Usage) -> Decimal | None:
    """USD for `usage` under `rule` (see `price_rule`)."""
    if rule is None or rule == FREE:
        return None if rule is None else Decimal(0)
    return rule.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens)


def pricing_names(sent: str, reported: str, known: profiles.Catalog | None = None) -> list[str]:
    """The names whose price may apply, most specific first."""
    by_alias = (known or profiles.catalog()).by_alias
    names = []
    if reported and reported != sent:
        if is_dated_version(reported, sent):
            names.append(reported)
        elif reported in by_alias:
            names.append(by_alias[reported])
    if sent in by_alias:
        names.append(by_alias[sent])
    names.append(sent)
    return names


def price_for(model: str, day: date | None = None) -> ModelPrice | None:
    """The price valid on `day` (today by default) for exactly `model`."""
    return profiles.catalog().price_for(model, day or timezone.localdate())


_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4}|\d{8})")


def is_dated_version(reported: str, sent: str) -> bool:
    """Whether `reported` is `sent` with a date appended (gpt-4o-mini-2024-07-18)."""
    return reported.startswith(f"{sent}-") and bool(_DATED.fullmatch(reported[len(sent) :]))
