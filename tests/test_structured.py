"""Structured outputs through the gateway, against json_schema answers on the wire."""

import pytest

from agents import gateway, structured
from agents.errors import GatewayError, InvalidOutput, Refused
from agents.events import CallContext
from agents.structured import Category, Classification, ContactList
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "Write to Ann Lee at ann@example.com"}]
CONTEXT = CallContext(purpose="extract", user_id=1)


async def parse(schema):
    return await gateway.parse(MESSAGES, model="gpt-4o-mini", context=CONTEXT, schema=schema)


async def test_parse_returns_a_validated_instance_and_usage(fake_upstream):
    fake_upstream.add_structured(
        Reply.structured(
            {"contacts": [{"name": "Ann Lee", "email": "ann@example.com", "phone": None,
                           "company": None}]},
            usage={"prompt_tokens": 30, "completion_tokens": 12},
        )
    )  # fmt: skip
    result = await parse(ContactList)
    assert result.value.contacts[0].name == "Ann Lee"
    assert result.value.contacts[0].email == "ann@example.com"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (30, 12)
    assert result.model == "gpt-4o-mini"


async def test_parse_sends_a_strict_json_schema_response_format(fake_upstream):
    fake_upstream.add_structured(
        Reply.structured({"category": "billing", "confidence": 0.9, "reasoning": "invoice"})
    )
    await parse(Classification)
    (request,) = fake_upstream.structured_requests("Classification")
    schema = request["response_format"]["json_schema"]
    assert request["response_format"]["type"] == "json_schema"
    assert schema["strict"] is True
    category = schema["schema"]["$defs"]["Category"]
    assert sorted(category["enum"]) == ["billing", "complaint", "general", "technical"]
    assert not request.get("stream")


async def test_refusal_raises_refused_with_the_models_words(fake_upstream):
    fake_upstream.add_structured(Reply(refusal="I can't help with that."))
    with pytest.raises(Refused) as caught:
        await parse(ContactList)
    assert caught.value.outcome == "refused"
    assert "I can't help with that." in caught.value.message


async def test_invalid_json_raises_invalid_output(fake_upstream):
    fake_upstream.add_structured(Reply(text='{"contacts": [{"name": "Ann'))
    with pytest.raises(InvalidOutput) as caught:
        await parse(ContactList)
    assert caught.value.outcome == "invalid"
    assert caught.value.message == "The model's answer did not fit the expected format."


@pytest.mark.parametrize(
    "payload",
    [
        {"category": "billing", "confidence": 1.5, "reasoning": "too sure"},
        {"category": "billing", "confidence": -0.1, "reasoning": "negative"},
        {"category": "sales", "confidence": 0.5, "reasoning": "unknown category"},
        {"category": "billing", "confidence": 0.5},
    ],
    ids=["confidence-above-1", "confidence-below-0", "unknown-category", "missing-reasoning"],
)
async def test_schema_violations_are_invalid_output_not_values(fake_upstream, payload):
    fake_upstream.add_structured(Reply.structured(payload))
    with pytest.raises(InvalidOutput):
        await parse(Classification)


async def test_upstream_error_in_parse_is_a_gateway_error(fake_upstream):
    fake_upstream.add_structured(Reply(status=500, error_message="boom"))
    with pytest.raises(GatewayError) as caught:
        await parse(Classification)
    assert not isinstance(caught.value, InvalidOutput | Refused)
    assert caught.value.message == "The model server had an error."
    assert caught.value.retryable


async def test_extract_contacts_drops_entries_with_nothing_in_them(fake_upstream):
    empty = {"name": None, "email": None, "phone": None, "company": None}
    ann = {**empty, "email": "ann@example.com"}
    fake_upstream.add_structured(Reply.structured({"contacts": [empty, ann]}))
    found = await structured.extract_contacts("text", model="gpt-4o-mini", context=CONTEXT)
    assert [c.email for c in found] == ["ann@example.com"]


async def test_classify_returns_the_category_choice(fake_upstream):
    fake_upstream.add_structured(
        Reply.structured({"category": "complaint", "confidence": 0.75, "reasoning": "angry"})
    )
    result = await structured.classify("You: awful", model="gpt-4o-mini", context=CONTEXT)
    assert result.category is Category.COMPLAINT
    assert result.confidence == 0.75


async def test_demo_model_extracts_contacts_by_pattern(settings):
    settings.LLM_DEMO = True
    text = (
        "Meet Jane Doe from Acme Corp, jane.doe@acme.example, +1 555 123 4567.\n"
        "Invoices go to billing@initech.example"
    )
    found = await structured.extract_contacts(text, model="demo", context=CONTEXT)
    assert [(c.name, c.email, c.phone, c.company) for c in found] == [
        ("Jane Doe", "jane.doe@acme.example", "+1 555 123 4567", "Acme Corp"),
        (None, "billing@initech.example", None, None),
    ]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I was charged twice and need a refund for the invoice", Category.BILLING),
        ("The server throws an error when I install it", Category.TECHNICAL),
        ("This is unacceptable, the worst service ever", Category.COMPLAINT),
        ("What a lovely day", Category.GENERAL),
    ],
)
async def test_demo_model_classifies_by_keywords(settings, text, category):
    settings.LLM_DEMO = True
    first = await structured.classify(text, model="demo", context=CONTEXT)
    again = await structured.classify(text, model="demo", context=CONTEXT)
    assert first.category is category
    assert 0 < first.confidence <= 1 and first.reasoning
    assert again == first


async def test_demo_classification_reads_only_what_the_user_said(settings):
    settings.LLM_DEMO = True
    text = (
        "User: What a lovely day\n\nAssistant: Here is some code.\n\n"
        "It has an error, a bug and an API."
    )
    result = await structured.classify(text, model="demo", context=CONTEXT)
    assert result.category is Category.GENERAL


async def test_structured_calls_are_recorded_as_usage_with_their_outcome(fake_upstream, user):
    from agents.models import UsageRecord

    fake_upstream.add_structured(Reply(refusal="I can't help with that."))
    context = CallContext(purpose="extract", user_id=user.pk)
    with pytest.raises(Refused):
        await gateway.parse(
            [{"role": "user", "content": "x"}], model="gpt-4o", context=context, schema=ContactList
        )
    record = await UsageRecord.objects.aget()
    assert (record.purpose, record.outcome, record.user_id) == ("extract", "refused", user.pk)
