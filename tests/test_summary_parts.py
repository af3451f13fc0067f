"""Summaries piece by piece: the prompt, the fold plan, the budget, the page, the admin,
Clear history and the demo model's summaries."""

import pytest
from django.urls import reverse

from agents import memory
from agents.events import CallContext
from conversations.models import Message, Summary
from conversations.services import prompt_messages
from conversations.summaries import plan_fold

pytestmark = pytest.mark.django_db


def add_messages(conversation, *texts: str) -> list[Message]:
    """Alternating user and assistant messages, in order."""
    roles = ["user", "assistant"]
    return [
        conversation.messages.create(role=roles[i % 2], content=text)
        for i, text in enumerate(texts)
    ]


def test_prompt_is_system_prompt_then_summary_then_recent_messages(conversation):
    old = add_messages(conversation, "old question", "old answer")
    recent = add_messages(conversation, "recent question", "recent answer", "new question")
    conversation.summaries.create(up_to_message_id=old[-1].pk, text="They talked of old things.")
    conversation.summaries.create(
        up_to_message_id=recent[-1].pk, status=Summary.Status.FAILED, error="down"
    )

    sent = prompt_messages(conversation, before_id=recent[-1].pk + 1)

    assert sent[0] == {"role": "system", "content": conversation.system_prompt}
    assert sent[1]["role"] == "system"
    assert sent[1]["content"] == f"{memory.SUMMARY_HEADING}\nThey talked of old things."
    assert [m["content"] for m in sent[2:]] == [
        "recent question",
        "recent answer",
        "new question",
    ]


def test_prompt_stays_bounded_while_summaries_keep_failing(conversation, settings):
    settings.CHAT_HISTORY_TOKENS = 500
    messages = add_messages(conversation, *[f"{i} " + "x" * 400 for i in range(30)])
    conversation.summaries.create(up_to_message_id=messages[9].pk, status="failed", error="x")

    sent = prompt_messages(conversation, before_id=messages[-1].pk + 1)

    assert sent[0]["role"] == "system" and sent[1]["role"] != "system"
    assert [m["content"] for m in sent[1:]] == [m.content for m in messages[-9:]]


def test_history_within_budget_is_not_folded(conversation, settings):
    settings.CHAT_HISTORY_TOKENS = 1000
    add_messages(conversation, *["short"] * 20)
    assert plan_fold(conversation) is None


def test_history_over_the_message_cap_folds_its_older_half(conversation, settings):
    settings.CHAT_HISTORY_TOKENS = 1000
    messages = add_messages(conversation, *[f"message {i}" for i in range(21)])

    plan = plan_fold(conversation)

    assert [entry.id for entry in plan.entries] == [m.pk for m in messages[:11]]
    assert plan.previous == ""


def test_history_over_the_token_budget_folds_until_the_rest_fits_half(conversation, settings):
    settings.CHAT_HISTORY_TOKENS = 200
    messages = add_messages(conversation, *["x" * 200] * 6)  # 54 tokens each

    plan = plan_fold(conversation)

    assert [entry.id for entry in plan.entries] == [m.pk for m in messages[:5]]


def test_fold_never_reaches_past_a_reply_still_being_written(conversation, settings):
    settings.CHAT_HISTORY_MAX_MESSAGES = 2
    first = add_messages(conversation, "one", "two")
    conversation.messages.create(role="user", content="three")
    conversation.messages.create(role="assistant", content="fo", status="streaming")
    add_messages(conversation, "five", "six")

    plan = plan_fold(conversation)

    assert [entry.id for entry in plan.entries] == [m.pk for m in first] + [first[-1].pk + 1]


def test_default_budget_is_a_quarter_of_the_context_window_at_most_8000(settings):
    assert memory.history_budget("gpt-4o-mini") == 8000
    assert memory.history_budget("gpt-3.5-turbo") == 4096
    assert memory.history_budget("llama3.2") == 2048  # unknown: an 8k window is assumed
    settings.LLM_CONTEXT_WINDOW = 4000
    assert memory.history_budget("llama3.2") == 1000
    settings.CHAT_HISTORY_TOKENS = 300
    assert memory.history_budget("gpt-4o") == 300


def test_page_shows_every_message_and_a_marker_where_the_summary_ends(logged_in, conversation):
    messages = add_messages(conversation, "first q", "first a", "second q", "second a")
    conversation.summaries.create(up_to_message_id=messages[1].pk, text="Earlier: **first** q.")

    html = logged_in.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()

    for text in ("first q", "first a", "second q", "second a"):
        assert text in html
    marker = html.index('class="summary-marker"')
    assert (
        html.index(f'id="msg-{messages[1].pk}"') < marker < html.index(f'id="msg-{messages[2].pk}"')
    )
    assert "<details" in html[marker - 40 : marker]
    assert "<strong>first</strong>" in html[marker:]


def test_marker_sanitizes_the_summary_text(logged_in, conversation):
    (message,) = add_messages(conversation, "hi")
    conversation.summaries.create(
        up_to_message_id=message.pk, text='<script>alert(1)</script><img src=x onerror="x()">'
    )
    html = logged_in.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()
    assert "<script>alert" not in html and "<img" not in html


def test_page_without_a_summary_has_no_marker(logged_in, conversation):
    add_messages(conversation, "hi", "hello")
    html = logged_in.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()
    assert "summary-marker" not in html


def test_clear_history_also_clears_summaries(logged_in, conversation):
    (message,) = add_messages(conversation, "hi")
    conversation.summaries.create(up_to_message_id=message.pk, text="A summary.")
    conversation.summaries.create(up_to_message_id=message.pk, status="failed", error="x")

    logged_in.post(reverse("conversations:clear", args=[conversation.pk]))

    assert not conversation.summaries.exists()
    assert prompt_messages(conversation, before_id=10**9) == [
        {"role": "system", "content": conversation.system_prompt}
    ]


def test_other_user_cannot_clear_someone_elses_summaries(client, conversation, other_user):
    (message,) = add_messages(conversation, "hi")
    conversation.summaries.create(up_to_message_id=message.pk, text="Private summary.")
    client.force_login(other_user)
    response = client.post(reverse("conversations:clear", args=[conversation.pk]))
    assert response.status_code == 404
    assert conversation.summaries.count() == 1


def test_admin_shows_summaries_per_conversation_with_their_range(client, conversation, make_user):
    (message,) = add_messages(conversation, "hi")
    conversation.summaries.create(up_to_message_id=message.pk, text="Kept the facts.", model="m1")
    conversation.summaries.create(
        up_to_message_id=message.pk, status="failed", error="The model server had an error."
    )
    client.force_login(make_user("staff", is_staff=True, is_superuser=True))

    changelist = client.get(reverse("admin:conversations_summary_changelist")).content.decode()
    change = client.get(
        reverse("admin:conversations_conversation_change", args=[conversation.pk])
    ).content.decode()

    assert f"messages up to #{message.pk}" in changelist
    assert "Failed" in changelist and "Complete" in changelist
    assert "Kept the facts." in change
    assert "The model server had an error." in change


async def test_demo_model_summary_keeps_first_sentence_of_each_user_message(settings):
    assert settings.LLM_DEMO
    entries = [
        memory.Entry(1, "user", "My name is Ada. I like tea."),
        memory.Entry(2, "assistant", "Nice to meet you, Ada."),
        memory.Entry(3, "user", "I live in Lisbon! Since 2020."),
    ]
    context = CallContext(purpose="summary")

    first = await memory.summarise("", entries, model="demo", context=context)
    later = [memory.Entry(4, "user", "My cat is Pixel. She is grey.")]
    second = await memory.summarise(first.text, later, model="demo", context=context)

    assert first.text == "The user said:\n- My name is Ada.\n- I live in Lisbon!"
    assert second.text == (
        "The user said:\n- My name is Ada.\n- I live in Lisbon!\n- My cat is Pixel."
    )
    assert first.usage.prompt_tokens > 0


def test_fold_leaves_a_turn_started_meanwhile_whole(conversation, settings):
    settings.CHAT_HISTORY_MAX_MESSAGES = 1
    first, reply = add_messages(conversation, "one", "two")
    started = conversation.messages.create(role="user", content="three")
    conversation.messages.create(role="assistant", content="fo", status="streaming")

    plan = plan_fold(conversation, through=reply.pk)

    assert [entry.id for entry in plan.entries] == [first.pk]
    assert started.pk > plan.up_to


async def test_demo_model_summary_follows_the_length_instruction(settings):
    settings.CHAT_HISTORY_TOKENS = 100  # a summary of at most 50 words
    entries = [memory.Entry(i, "user", f"Fact number {i} is short. More.") for i in range(20)]

    result = await memory.summarise("", entries, model="demo", context=CallContext())

    assert len(result.text.split()) <= 50 + 3 + 10  # heading and bullets included
    assert "- Fact number 19 is short." in result.text
    assert "- Fact number 0 is short." not in result.text
