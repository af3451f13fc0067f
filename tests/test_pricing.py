"""Calls are priced by the model the request was sent to, to the fraction of a cent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agents import gateway
from agents.models import ModelPrice, UsageRecord
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "hi"}]
USAGE = {"prompt_tokens": 1234, "completion_tokens": 567, "total_tokens": 1801}
# 1234 input and 567 output tokens at each model's price per million.
MINI = Decimal("0.0005253")  # 1234 * 0.15 + 567 * 0.60
FULL = Decimal("0.008755")  # 1234 * 2.50 + 567 * 10.00


@pytest.fixture(autouse=True)
def prices(transactional_db):
    for model, prompt, completion in [
        ("gpt-4o-mini", "0.15", "0.60"),
        ("gpt-4o", "2.50", "10.00"),
        ("gpt-3.5-turbo", "0.50", "1.50"),
    ]:
        ModelPrice.objects.create(
            model=model,
            valid_from="2024-01-01",
            input_per_million=Decimal(prompt),
            output_per_million=Decimal(completion),
        )


async def cost_of_call(model: str) -> Decimal | None:
    async for _ in gateway.stream_chat(HI, model=model):
        pass
    record = await UsageRecord.objects.order_by("-id").afirst()
    return record.cost


async def test_a_fallback_answer_is_priced_by_the_model_it_was_sent_to(fake_upstream, settings):
    settings.LLM_FALLBACK_MODELS = ["gpt-4o-mini"]
    settings.LLM_MAX_RETRIES = 0
    fake_upstream.add(Reply(status=503), Reply(model="gpt-4o-mini-2024-07-18", usage=USAGE))
    assert await cost_of_call("gpt-4o") == MINI
    assert [r["model"] for r in fake_upstream.requests] == ["gpt-4o", "gpt-4o-mini"]


async def test_a_dated_version_of_the_model_asked_is_priced_as_it(fake_upstream):
    fake_upstream.add(Reply(model="gpt-4o-mini-2024-07-18", usage=USAGE))
    assert await cost_of_call("gpt-4o-mini") == MINI


async def test_a_dated_version_with_its_own_price_gets_that_price(fake_upstream):
    await ModelPrice.objects.acreate(
        model="gpt-4o-2024-05-13",
        valid_from="2024-01-01",
        input_per_million=Decimal("5.00"),
        output_per_million=Decimal("15.00"),
    )
    fake_upstream.add(Reply(model="gpt-4o-2024-05-13", usage=USAGE))
    assert await cost_of_call("gpt-4o") == Decimal("0.014675")  # 1234 * 5 + 567 * 15


async def test_a_foreign_reported_name_never_changes_the_price(fake_upstream):
    fake_upstream.add(Reply(model="gpt-3.5-turbo", usage=USAGE))
    assert await cost_of_call("gpt-4o-mini") == MINI
    fake_upstream.add(Reply(model="gpt-4o-mini-2024-07-18", usage=USAGE))
    assert await cost_of_call("gpt-4o") == FULL  # not a dated gpt-4o, so gpt-4o's price
    record = await UsageRecord.objects.order_by("-id").afirst()
    assert record.model_served == "gpt-4o-mini-2024-07-18"


async def test_an_alias_the_request_was_sent_to_is_priced_as_its_model(fake_upstream, settings):
    settings.LLM_MODEL_ALIASES = {"team-fast": "gpt-4o-mini"}
    fake_upstream.add(Reply(model="team-fast", usage=USAGE))
    assert await cost_of_call("team-fast") == MINI


async def test_a_reported_alias_is_priced_as_its_model(fake_upstream, settings):
    settings.LLM_MODEL_ALIASES = {"prod-4o-deployment": "gpt-4o"}
    fake_upstream.add(Reply(model="prod-4o-deployment", usage=USAGE))
    assert await cost_of_call("my-router") == FULL


async def test_an_unknown_model_stays_unpriced(fake_upstream):
    fake_upstream.add(Reply(model="gpt-3.5-turbo", usage=USAGE))
    assert await cost_of_call("mystery-model") is None


async def test_a_free_local_model_costs_nothing_whatever_it_reports(fake_upstream, settings):
    settings.LLM_FREE_MODELS = ["qwen3:8b"]
    wire = Path(__file__).parent / "wire" / "llamacpp_stream.sse"
    fake_upstream.add(Reply.from_wire(wire))  # reports gpt-3.5-turbo, a million tokens each
    assert await cost_of_call("qwen3:8b") == Decimal(0)
    fake_upstream.add(Reply.from_wire(wire))
    assert await cost_of_call("gpt-4o-mini") == Decimal("0.75")  # not free: its own price
