"""What a user sees of usage in the chat: progress while streaming, tokens, cost and
the serving model when done, the conversation's total, waiting and blocked turns."""

from decimal import Decimal

import pytest

from agents.models import ModelPrice, UsageRecord, UserBudget
from conversations.models import Message
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)
ENDINGS = ("complete", "failed", "stopped")


@pytest.fixture(autouse=True)
def prices(transactional_db):
    for model, prompt, completion in [("gpt-4o-mini", "0.15", "0.60"), ("gpt-4o", "2.50", "10")]:
        ModelPrice.objects.get_or_create(
            model=model,
            valid_from="2024-01-01",
            defaults={"input_per_million": prompt, "output_per_million": completion},
        )


async def chat(user, conversation, text: str = "Hello") -> list[str]:
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": text})
    frames = await receive_until(socket, "message--assistant message--streaming")
    while not any(f"message--assistant message--{end}" in frames[-1] for end in ENDINGS):
        frames += await receive_until(socket, "message--assistant message--")
    await socket.disconnect()
    return frames


async def test_streaming_reply_shows_a_live_token_count_then_exact_usage_and_cost(
    fake_upstream, user, conversation
):
    usage = {"prompt_tokens": 10_000, "completion_tokens": 4}
    fake_upstream.add(Reply(tokens=["a ", "b ", "c ", "d"], token_delay=0.06, usage=usage))
    frames = await chat(user, conversation)
    progress = [f for f in frames if "-progress" in f and "token" in f]
    assert progress and "1 token · " in progress[0]
    final = next(f for f in frames if "message--assistant message--complete" in f)
    # 10,000 input at 0.15 + 4 output at 0.60, per million tokens.
    assert "10000 + 4 tokens · $0.0015024" in final
    assert "$0.0015024 so far" in "".join(frames)
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.cost == Decimal("0.0015024")
    record = await UsageRecord.objects.aget()
    assert (record.message_id, record.conversation_id) == (reply.pk, conversation.pk)


async def test_reply_served_by_a_fallback_model_names_it(
    fake_upstream, settings, user, conversation
):
    settings.LLM_FALLBACK_MODELS = ["gpt-4o"]
    fake_upstream.add(Reply(status=503), Reply(text="served elsewhere"))
    frames = await chat(user, conversation)
    final = next(f for f in frames if "message--assistant message--complete" in f)
    assert 'title="The model that served this reply">gpt-4o<' in final
    assert (await Message.objects.aget(role="assistant")).model == "gpt-4o"


async def test_unpriced_model_is_shown_as_unpriced(fake_upstream, user, conversation):
    await ModelPrice.objects.all().adelete()
    frames = await chat(user, conversation)
    final = next(f for f in frames if "message--assistant message--complete" in f)
    assert "tokens · unpriced" in final
    assert "1 unpriced call" in "".join(frames)


async def test_over_budget_turn_keeps_the_message_and_explains(fake_upstream, user, conversation):
    await UserBudget.objects.acreate(user=user, monthly_usd=0)
    frames = await chat(user, conversation, "Still saved?")
    assert fake_upstream.requests == []
    assert "used this month&#x27;s model budget" in "".join(frames)
    user_message = await Message.objects.aget(conversation=conversation, role="user")
    assert user_message.content == "Still saved?"


async def test_rate_limited_turn_says_when_to_retry(fake_upstream, settings, user, conversation):
    settings.LLM_USER_RPM = 1
    await chat(user, conversation, "first")
    frames = await chat(user, conversation, "second")
    assert "Try again in" in "".join(frames)
    assert len(fake_upstream.requests) == 1


async def test_waiting_for_capacity_is_shown_in_the_chat(
    fake_upstream, settings, user, conversation
):
    settings.LLM_GLOBAL_RPM = 1
    settings.LLM_RATE_WINDOW = 1
    settings.LLM_GLOBAL_WAIT_MAX = 5
    seen = "".join([f for _ in range(3) for f in await chat(user, conversation, "again")])
    assert "Waiting for capacity" in seen
