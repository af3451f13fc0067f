"""Model profiles: seeded from settings, learned from refusals, edited in the admin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from agents import profiles
from agents.models import ModelPrice, ModelProfile


@pytest.fixture
def staff_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user("staff", is_staff=True, is_superuser=True))
    return client


def test_profiles_are_seeded_from_settings(db, settings):
    settings.LLM_FREE_MODELS = ["qwen3:8b"]
    settings.LLM_MODEL_ALIASES = {"team-fast": "gpt-4o-mini", "fast": "gpt-4o-mini"}
    profiles.seed_all()
    assert ModelProfile.objects.get(name="qwen3:8b").free
    assert sorted(ModelProfile.objects.get(name="gpt-4o-mini").aliases) == ["fast", "team-fast"]


def test_a_learned_refusal_is_visible_and_editable_in_the_admin(db, staff_client):
    profiles.learn("gemma2:2b", profiles.TOOLS, "gemma2:2b does not support tools")
    ModelPrice.objects.create(
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        valid_from="2024-01-01",
    )
    profiles.get_or_seed("gpt-4o-mini")
    listing = staff_client.get("/admin/agents/modelprofile/").content.decode()
    assert "gemma2:2b" in listing and "unpriced" in listing and "0.1500 / 0.6000" in listing
    learned = ModelProfile.objects.get(name="gemma2:2b")
    page = staff_client.get(f"/admin/agents/modelprofile/{learned.pk}/change/").content.decode()
    assert "does not support tools" in page


def test_only_a_sent_capability_can_be_refused():
    message = "Unrecognized request argument supplied: stream_options"
    assert profiles.refused_capability(message, None, {"stream_options", "streaming"}) == (
        "stream_options"
    )
    assert profiles.refused_capability(message, None, {"streaming"}) is None
    assert profiles.refused_capability("string too long", None, {"tools", "streaming"}) is None
