"""Model profiles: what each model's server accepts, seeded from settings, learned
from the server's own refusals, and edited by staff in the admin."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from agents.models import ModelPrice, ModelProfile
from chatsite.snapshots import Snapshot

logger = logging.getLogger(__name__)

# The capabilities a request may drop and retry without, the profile field that
# records each, and what the user is told when it matters to them ("" when not).
TOOLS, STREAM_OPTIONS, STREAMING = "tools", "stream_options", "streaming"
NOTICES = {TOOLS: "This model cannot use tools, so tools are off for it."}

# How servers word a refusal of each (Ollama "... does not support tools", vLLM
# "auto" tool choice requires --enable-auto-tool-choice, older Azure api-versions
# "Unrecognized request argument supplied: stream_options", OpenAI "must be verified
# to stream this model" with param "stream"). Checked in this order: the
# stream_options refusal also mentions "stream".
_REFUSALS = (
    (STREAM_OPTIONS, re.compile(r"stream_options", re.IGNORECASE)),
    (
        TOOLS,
        re.compile(
            r"does not support tools|tool choice requires|enable-auto-tool-choice"
            r"|tools? (is|are) not supported|does not support (function|tool) calling",
            re.IGNORECASE,
        ),
    ),
    (STREAMING, re.compile(r"to stream this model|stream(ing)? is not supported", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Capabilities:
    """A profile as the gateway needs it for one call (None: unknown, so try it)."""

    name: str
    tools: bool | None = None
    parallel_tools: bool | None = None
    streaming: bool | None = None
    stream_options: bool | None = None


def refused_capability(server_message: str, param: str | None, sent: set[str]) -> str | None:
    """Which of the capabilities `sent` a 400 refused, when it says so recognisably."""
    if param == "stream" and STREAMING in sent:
        return STREAMING
    for capability, pattern in _REFUSALS:
        if capability in sent and pattern.search(server_message):
            return capability
    return None


@dataclass(frozen=True)
class Catalog:
    """Every profile and price, as read at once: what each call is sent and priced by."""

    profiles: dict[str, ModelProfile]
    prices: dict[str, list[ModelPrice]]  # per model, the newest `valid_from` first
    by_alias: dict[str, str] = field(default_factory=dict)  # alias -> profile name

    def price_for(self, model: str, day: date) -> ModelPrice | None:
        """The price valid on `day` for exactly `model`."""
        return next((p for p in self.prices.get(model, ()) if p.valid_from <= day), None)


def _read_catalog() -> Catalog:
    seed_all()
    profiles = {profile.name: profile for profile in ModelProfile.objects.all()}
    prices: dict[str, list[ModelPrice]] = {}
    for price in ModelPrice.objects.order_by("model", "-valid_from"):
        prices.setdefault(price.model, []).append(price)
    by_alias = {alias: p.name for p in profiles.values() for alias in p.aliases or ()}
    return Catalog(profiles, prices, by_alias)


# Read on every model call (its capabilities, its price, the budget's estimate): kept
# in memory until a profile or a price changes (see chatsite/snapshots.py).
_catalog = Snapshot("model-catalog", _read_catalog)
_catalog.watch(ModelProfile, ModelPrice)


def catalog() -> Catalog:
    """The profiles and prices as they are now (from memory unless one changed)."""
    return _catalog.get()


def capabilities(name: str) -> Capabilities:
    """The profile of `name` for one call; created from settings when first needed.

    A profile that cannot be read (the database is busy or away) is no reason to fail
    the call: it goes out as if nothing were known, and a refusal is learned later.
    """
    try:
        profile = catalog().profiles.get(name) or get_or_seed(name)
    except DatabaseError:
        logger.warning("The profile of %s could not be read; sending the call as is", name)
        return Capabilities(name=name)
    return Capabilities(
        name=profile.name,
        tools=profile.tools,
        parallel_tools=profile.parallel_tools,
        streaming=profile.streaming,
        stream_options=profile.stream_options,
    )


def get_or_seed(name: str) -> ModelProfile:
    """The profile named `name`, created with what settings say about it if missing."""
    aliases = [a for a, model in settings.LLM_MODEL_ALIASES.items() if model == name]
    profile, _ = ModelProfile.objects.get_or_create(
        name=name, defaults={"free": name in settings.LLM_FREE_MODELS, "aliases": aliases}
    )
    return profile


def seed_all() -> None:
    """Profiles for every model settings name, so aliases are known before first use."""
    names = [settings.LLM_MODEL, *settings.LLM_MODELS, *settings.LLM_FALLBACK_MODELS]
    names += list(settings.LLM_MODEL_ALIASES.values()) + list(settings.LLM_FREE_MODELS)
    existing = set(ModelProfile.objects.filter(name__in=names).values_list("name", flat=True))
    for name in dict.fromkeys(names):
        if name not in existing:
            get_or_seed(name)


def learn(name: str, capability: str, server_message: str) -> None:
    """Record that `name`'s server refused `capability`, and in its own words why."""
    profile = get_or_seed(name)
    setattr(profile, capability, False)
    note = f"{timezone.now():%Y-%m-%d %H:%M} no {capability}: {server_message[:200]}"
    profile.learned = f"{profile.learned}\n{note}".strip()
    profile.save(update_fields=[capability, "learned", "updated_at"])
