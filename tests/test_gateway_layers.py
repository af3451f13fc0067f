"""The gateway's production layers against the wire fake: usage rows and exact costs,
budgets and rate limits, the response cache, the fallback chain."""

import asyncio
import inspect
import threading
from decimal import Decimal

import openai
import pytest

from agents import gateway
from agents.errors import Blocked, GatewayError, StreamCut
from agents.events import CallContext, TextDelta, Usage, Waiting
from agents.models import ModelPrice, UsageDay, UsageRecord, UserBudget
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def prices(transactional_db):
    """The seeded list prices (transactional tests start from empty tables)."""
    for model, prompt, cached, completion in [
        ("gpt-4o-mini", "0.15", "0.075", "0.60"),
        ("gpt-4o", "2.50", "1.25", "10.00"),
        ("gpt-4-turbo", "10.00", None, "30.00"),
    ]:
        ModelPrice.objects.get_or_create(
            model=model,
            valid_from="2024-01-01",
            defaults={
                "input_per_million": Decimal(prompt),
                "cached_input_per_million": cached and Decimal(cached),
                "output_per_million": Decimal(completion),
            },
        )


async def stream(context: CallContext | None = None, model: str = "gpt-4o-mini", **kw) -> list:
    messages = kw.pop("messages", HI)
    return [e async for e in gateway.stream_chat(messages, model=model, context=context, **kw)]


async def records() -> list[UsageRecord]:
    return [r async for r in UsageRecord.objects.order_by("id")]


async def test_streamed_reply_is_recorded_with_reported_tokens_and_exact_cost(fake_upstream):
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "prompt_tokens_details": {"cached_tokens": 200},
    }
    fake_upstream.add(Reply(text="a b", usage=usage))
    events = await stream(CallContext(purpose="chat"))
    (record,) = await records()
    # 800 fresh input at 0.15 + 200 cached at 0.075 + 500 output at 0.60, per million.
    assert record.cost == Decimal("0.000435")
    assert next(e for e in events if isinstance(e, Usage)).cost == Decimal("0.000435")
    assert (record.prompt_tokens, record.cached_tokens, record.completion_tokens) == (
        1000,
        200,
        500,
    )
    assert (record.outcome, record.estimated, record.purpose) == ("ok", False, "chat")
    assert record.model_requested == record.model_served == "gpt-4o-mini"


async def test_non_streamed_call_is_recorded_with_its_purpose_and_cost(fake_upstream):
    fake_upstream.add(Reply(text="t", usage={"prompt_tokens": 2000, "completion_tokens": 1000}))
    result = await gateway.complete(HI, model="gpt-4o", context=CallContext(purpose="summary"))
    (record,) = await records()
    assert record.cost == result.usage.cost == Decimal("0.015")
    assert record.purpose == "summary"
    assert "stream" not in fake_upstream.requests[0]


async def test_a_dated_snapshot_is_priced_as_the_alias_that_resolved_to_it(fake_upstream):
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 0}
    fake_upstream.add(Reply(model="gpt-4o-mini-2024-07-18", usage=usage))
    await stream()
    (record,) = await records()
    assert (record.model_served, record.cost) == ("gpt-4o-mini-2024-07-18", Decimal("0.15"))


async def test_a_model_without_a_price_is_recorded_unpriced_not_guessed(fake_upstream):
    fake_upstream.add(Reply(usage={"prompt_tokens": 10, "completion_tokens": 10}))
    events = await stream(model="gpt-4o-mini-custom-finetune")
    (record,) = await records()
    assert record.cost is None and record.completion_tokens == 10
    assert next(e for e in events if isinstance(e, Usage)).cost is None


async def test_stopped_stream_is_recorded_as_stopped_with_estimated_usage(fake_upstream):
    fake_upstream.add(Reply(text="one two three four five six", token_delay=0.05))
    seen = []
    stream_ = gateway.stream_chat(HI, model="gpt-4o-mini", context=CallContext())
    async for event in stream_:
        if isinstance(event, TextDelta):
            seen.append(event.text)
        if len(seen) == 2:
            break
    await stream_.aclose()
    (record,) = await records()
    assert (record.outcome, record.estimated) == ("stopped", True)
    assert record.completion_tokens == 2  # "one two" is 7 characters, about 2 tokens
    assert record.cost is not None and record.cost > 0


async def test_cut_stream_is_recorded_as_cut_with_estimated_usage(fake_upstream):
    fake_upstream.add(Reply(text="one two three", cut_after=2))
    with pytest.raises(StreamCut):
        await stream()
    (record,) = await records()
    assert (record.outcome, record.estimated) == ("cut", True)
    assert record.prompt_tokens > 0 and record.completion_tokens > 0


async def test_failed_call_is_recorded_as_an_error_that_cost_nothing(fake_upstream):
    fake_upstream.add(Reply(status=400))
    with pytest.raises(GatewayError):
        await stream(CallContext(purpose="classify"))
    (record,) = await records()
    assert (record.outcome, record.cost, record.purpose) == ("error", 0, "classify")
    assert "invalid" in record.error


async def test_demo_model_calls_cost_nothing(settings):
    settings.LLM_DEMO = True
    await stream(model="demo")
    (record,) = await records()
    assert record.cost == 0 and record.completion_tokens > 0


async def test_cache_hit_replays_the_stream_free_and_records_what_it_saved(
    fake_upstream, settings, user
):
    settings.LLM_CACHE_TTL = 60
    fake_upstream.add(
        Reply(text="cached words here", usage={"prompt_tokens": 100, "completion_tokens": 3})
    )
    context = CallContext(user_id=user.pk)
    first = await stream(context)
    second = await stream(context)
    assert len(fake_upstream.requests) == 1
    texts = [[e.text for e in run if isinstance(e, TextDelta)] for run in (first, second)]
    assert "".join(texts[1]) == "cached words here" and len(texts[1]) == 3
    miss, hit = await records()
    assert (miss.cache_hit, hit.cache_hit) == (False, True)
    assert hit.cost == 0 and hit.cost_saved == miss.cost == Decimal("0.0000168")


async def test_regenerate_bypasses_the_cache(fake_upstream, settings, user):
    settings.LLM_CACHE_TTL = 60
    await stream(CallContext(user_id=user.pk))
    await stream(CallContext(user_id=user.pk, bypass_cache=True))
    assert len(fake_upstream.requests) == 2


async def test_cache_is_scoped_per_user_by_default(fake_upstream, settings, user, other_user):
    settings.LLM_CACHE_TTL = 60
    await stream(CallContext(user_id=user.pk))
    await stream(CallContext(user_id=other_user.pk))
    assert len(fake_upstream.requests) == 2
    settings.LLM_CACHE_SCOPE = "global"
    await stream(CallContext(user_id=user.pk))
    await stream(CallContext(user_id=other_user.pk))
    assert len(fake_upstream.requests) == 3


async def test_over_budget_user_is_told_and_nothing_is_sent_upstream(fake_upstream, user):
    await UserBudget.objects.acreate(user=user, monthly_usd=Decimal("0.01"))
    await UsageRecord.objects.acreate(user=user, model_requested="gpt-4o", cost=Decimal("0.02"))
    with pytest.raises(Blocked, match="used this month's model budget"):
        await stream(CallContext(user_id=user.pk))
    assert fake_upstream.requests == []
    blocked = await UsageRecord.objects.filter(outcome="blocked").aget()
    assert blocked.cost == 0


async def test_default_budget_applies_without_an_override(fake_upstream, settings, user):
    settings.LLM_MONTHLY_BUDGET_USD = Decimal("0.50")
    await UsageRecord.objects.acreate(user=user, model_requested="gpt-4o", cost=Decimal("0.49"))
    await stream(CallContext(user_id=user.pk))
    await UsageRecord.objects.acreate(user=user, model_requested="gpt-4o", cost=Decimal("0.01"))
    with pytest.raises(Blocked):
        await stream(CallContext(user_id=user.pk))
    assert len(fake_upstream.requests) == 1


async def test_user_over_the_rate_limit_is_told_when_to_retry_and_nothing_is_sent(
    fake_upstream, settings, user, other_user
):
    settings.LLM_USER_RPM = 2
    await stream(CallContext(user_id=user.pk))
    await stream(CallContext(user_id=user.pk))
    with pytest.raises(Blocked, match=r"Try again in \d+ s") as caught:
        await stream(CallContext(user_id=user.pk))
    assert caught.value.retry_after >= 1
    await stream(CallContext(user_id=other_user.pk))  # others are not held back
    assert len(fake_upstream.requests) == 3


async def test_calls_queue_for_upstream_capacity_and_say_so(fake_upstream, settings):
    settings.LLM_GLOBAL_RPM = 1
    settings.LLM_RATE_WINDOW = 1
    settings.LLM_GLOBAL_WAIT_MAX = 5
    runs = [await stream() for _ in range(3)]
    # One request per window: of three calls at least two share a window, so one waits.
    assert any(isinstance(run[0], Waiting) for run in runs)
    assert all("".join(e.text for e in run if isinstance(e, TextDelta)) for run in runs)
    assert len(fake_upstream.requests) == 3


async def test_queue_for_capacity_fails_clearly_past_its_bound(fake_upstream, settings):
    settings.LLM_GLOBAL_RPM = 1
    settings.LLM_GLOBAL_WAIT_MAX = 0
    await stream()
    with pytest.raises(Blocked, match="at capacity"):
        await stream()
    assert len(fake_upstream.requests) == 1


@pytest.mark.parametrize(
    ("failure", "accepted"),
    [
        (Reply(status=500), False),
        (Reply(status=429), False),
        (Reply(first_token_delay=2.0), True),  # a 200, then nothing within the timeout
        (Reply(status=404), False),
    ],
    ids=["server-error", "rate-limited", "timeout", "model-not-found"],
)
async def test_fallback_model_serves_when_the_primary_fails(
    fake_upstream, settings, failure, accepted
):
    settings.LLM_FALLBACK_MODELS = ["gpt-4o"]
    settings.LLM_TIMEOUT = 0.5
    fake_upstream.add(failure, Reply(text="from the fallback"))
    events = await stream()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "from the fallback"
    assert [r["model"] for r in fake_upstream.requests] == ["gpt-4o-mini", "gpt-4o"]
    replaced, served = await records()
    assert (served.model_requested, served.model_served) == ("gpt-4o-mini", "gpt-4o")
    assert (served.outcome, served.estimated) == ("ok", False)
    # The replaced attempt has its row too: a refused one is an error of no tokens; an
    # accepted one (billable) carries an estimate of what was sent.
    assert (replaced.model_served, replaced.outcome) == ("gpt-4o-mini", "error")
    assert (replaced.estimated, replaced.prompt_tokens > 0) == (accepted, accepted)
    assert replaced.completion_tokens == 0


async def test_bad_request_does_not_fall_back(fake_upstream, settings):
    settings.LLM_FALLBACK_MODELS = ["gpt-4o"]
    fake_upstream.add(Reply(status=400))
    with pytest.raises(GatewayError, match="invalid"):
        await stream()
    assert len(fake_upstream.requests) == 1


async def test_no_fallback_once_text_reached_the_user(fake_upstream, settings):
    settings.LLM_FALLBACK_MODELS = ["gpt-4o"]
    fake_upstream.add(Reply(text="one two three", cut_after=1))
    with pytest.raises(StreamCut):
        await stream()
    assert len(fake_upstream.requests) == 1


async def test_non_streamed_call_falls_back_too(fake_upstream, settings):
    settings.LLM_FALLBACK_MODELS = ["gpt-4o"]
    fake_upstream.add(Reply(status=503), Reply(text="ok"))
    result = await gateway.complete(HI, model="gpt-4o-mini", context=CallContext())
    assert (result.text, result.model) == ("ok", "gpt-4o")


async def test_long_retry_after_fails_fast_without_sdk_retries(fake_upstream, settings):
    settings.LLM_MAX_RETRIES = 2
    settings.LLM_RETRY_AFTER_MAX = 5
    fake_upstream.add(Reply(status=429, headers={"retry-after": "120"}))
    with pytest.raises(GatewayError, match="asks to wait 120 s"):
        await stream()
    assert len(fake_upstream.requests) == 1


async def test_short_retry_after_is_retried_by_the_sdk(fake_upstream, settings):
    settings.LLM_MAX_RETRIES = 1
    fake_upstream.add(Reply(status=429, headers={"retry-after": "0.1"}), Reply(text="later"))
    events = await stream()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "later"
    assert len(fake_upstream.requests) == 2


async def test_demo_model_explains_usage_and_cost_when_asked(settings):
    settings.LLM_DEMO = True
    messages = [{"role": "user", "content": "What does this cost?"}]
    events = await stream(model="demo", messages=messages)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "Usage per user" in text and "/settings/tokens/" in text
    (record,) = await records()
    assert record.cost == 0


async def test_each_call_counts_in_its_users_day(fake_upstream, user):
    fake_upstream.add(
        Reply(usage={"prompt_tokens": 1000, "completion_tokens": 0}),
        Reply(status=500),
    )
    await stream(CallContext(user_id=user.pk))
    with pytest.raises(GatewayError):
        await stream(CallContext(user_id=user.pk))
    day = await UsageDay.objects.aget(user=user)
    assert (day.requests, day.errors, day.tokens) == (2, 1, 1000)
    assert day.cost == Decimal("0.00015")


async def test_input_limits_case_2_limiter_never_admits_a_call_larger_than_its_window(
    fake_upstream, settings
):
    settings.LLM_GLOBAL_TPM = 1000
    settings.LLM_GLOBAL_WAIT_MAX = 0
    huge = [{"role": "user", "content": "x" * 40_000}]  # about 10,000 tokens
    with pytest.raises(Blocked, match="limit is 1,000 tokens"):
        await stream(messages=huge)
    assert fake_upstream.requests == []
    events = await stream()  # the window is untouched: a small call still goes
    assert any(isinstance(e, TextDelta) for e in events)


async def test_input_limits_case_2_failed_call_gives_back_the_tokens_it_did_not_use(
    fake_upstream, settings
):
    settings.LLM_GLOBAL_TPM = 1000
    settings.LLM_GLOBAL_WAIT_MAX = 0
    settings.LLM_FALLBACK_MODELS = []
    big = [{"role": "user", "content": "x" * 3000}]  # about 750 tokens
    fake_upstream.add(Reply(status=400))
    with pytest.raises(GatewayError):
        await stream(messages=big)
    events = await stream(messages=big)  # admitted again: the failed call used nothing
    assert any(isinstance(e, TextDelta) for e in events)


async def test_budgets_hold_under_concurrency_case_4(fake_upstream, user):
    await UserBudget.objects.acreate(user=user, monthly_usd=Decimal("0.01"))
    # 1,000 prompt + 300 completion tokens of gpt-4o: $0.0055 a call.
    usage = {"prompt_tokens": 1000, "completion_tokens": 300, "total_tokens": 1300}
    fake_upstream.default = Reply(first_token_delay=0.3, usage=usage)
    context = CallContext(user_id=user.pk)
    outcomes = await asyncio.gather(
        *(stream(context, model="gpt-4o") for _ in range(20)), return_exceptions=True
    )
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    assert served and all(isinstance(o, Blocked) for o in outcomes if o not in served)
    spent = sum([r.cost async for r in UsageRecord.objects.filter(outcome="ok")], Decimal(0))
    assert spent <= Decimal("0.01") + Decimal("0.0055")  # over by one call at most
    assert len(fake_upstream.requests) == len(served)


async def test_usage_rows_survive_deleting_the_conversation_mid_reply_case_5(fake_upstream, user):
    from conversations.models import Conversation

    conversation = await Conversation.objects.acreate(owner=user, model="gpt-4o", title="Gone")
    reply = await conversation.messages.acreate(role="assistant", status="streaming")
    kept_id = conversation.pk
    context = CallContext(user_id=user.pk, conversation_id=kept_id, message_id=reply.pk)
    answering = threading.Event()
    fake_upstream.add(Reply(wait_for=answering))
    in_flight = asyncio.create_task(stream(context))
    while not fake_upstream.requests:
        await asyncio.sleep(0.01)
    await conversation.adelete()
    answering.set()
    await in_flight
    await stream(context)  # a later round of the same reply

    rows = await records()
    assert len(rows) == len(fake_upstream.requests) == 2
    assert {(r.conversation_ref, r.conversation_title, r.outcome) for r in rows} == {
        (kept_id, "Gone", "ok")
    }
    assert all(r.user_id == user.pk and r.cost > 0 for r in rows)


async def test_upstream_values_are_trimmed_to_their_columns_case_10(fake_upstream, user):
    from conversations.models import Conversation, Message

    long_name = "gpt-4o-mini-" + "x" * 150
    fake_upstream.add(Reply(model=long_name))
    await stream(CallContext(user_id=user.pk))
    served = (await records())[0].model_served
    assert len(served) == 100 and served.endswith("…") and served.startswith("gpt-4o-mini-x")

    conversation = await Conversation.objects.acreate(owner=user, model="gpt-4o")
    reply = await conversation.messages.acreate(role="assistant")
    await Message.objects.filter(pk=reply.pk).aupdate(model=long_name, error="e" * 900)
    conversation.classification_error = "The model refused: " + "r" * 600
    await conversation.asave(update_fields=["classification_error"])

    await reply.arefresh_from_db()
    await conversation.arefresh_from_db()
    assert (len(reply.model), len(reply.error)) == (100, 500)
    assert reply.error.endswith("…") and conversation.classification_error.endswith("…")
    assert len(conversation.classification_error) == 500


async def test_first_token_timeout_is_apart_from_the_read_timeout_case_15(fake_upstream, settings):
    settings.LLM_TIMEOUT = 5  # between chunks
    settings.LLM_FIRST_TOKEN_TIMEOUT = 0.5  # to the first chunk, SDK retries included
    settings.LLM_MAX_RETRIES = 2
    fake_upstream.default = Reply(first_token_delay=2.0)
    started = asyncio.get_running_loop().time()
    with pytest.raises(GatewayError, match=r"did not start answering within 0\.5 s"):
        await stream()
    assert asyncio.get_running_loop().time() - started < 1.5

    # Once the answer has started, only the read timeout applies.
    fake_upstream.default = Reply(stall_after=1, stall_seconds=1.0)
    events = await stream()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == Reply().text


def test_the_private_retry_hooks_the_client_overrides_still_exist():
    """agents/gateway.py `_Client` overrides these private SDK methods; if the SDK
    renames or reshapes them, the Retry-After cap silently stops working."""
    base = openai.AsyncOpenAI
    assert list(inspect.signature(base._should_retry).parameters) == ["self", "response"]
    hook = inspect.signature(base._parse_retry_after_header)
    assert list(hook.parameters) == ["self", "response_headers"]
    assert gateway._Client._should_retry is not base._should_retry
