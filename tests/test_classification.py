"""Conversation classification: in the background after the first reply, on request,
and in the admin; failures leave a visible failed state and store nothing half-valid."""

import pytest
from django.test import Client
from django.urls import reverse

from conversations import background
from conversations.models import Conversation, Message
from conversations.services import create_conversation
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

BILLING = {"category": "billing", "confidence": 0.9, "reasoning": "Asks about an invoice."}
HX = {"HX-Request": "true"}


def first_index(frames: list[str], marker: str) -> int:
    return next(i for i, frame in enumerate(frames) if marker in frame)


@pytest.mark.django_db(transaction=True)
async def test_first_message_is_classified_after_the_reply_streamed(
    fake_upstream, user, conversation
):
    fake_upstream.add(Reply(text="one two three four", token_delay=0.01))
    fake_upstream.add_structured(Reply.structured(BILLING))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "Where is my invoice?"})
    frames = await receive_until(socket, "badge--billing")
    await socket.disconnect()

    first_token = first_index(frames, "beforeend")
    finished = first_index(frames, "message--assistant message--complete")
    classifying = first_index(frames, "Classifying")
    assert first_token < finished < classifying < first_index(frames, "badge--billing")
    assert "Billing · 90%" in frames[-1]
    chat = fake_upstream.requests[0]  # the title request may follow at any moment
    (classify,) = fake_upstream.structured_requests("Classification")
    assert chat.get("stream") and "response_format" not in chat
    assert classify["response_format"]["json_schema"]["name"] == "Classification"
    assert "User: Where is my invoice?" in classify["messages"][-1]["content"]
    assert "Assistant: one two three four" in classify["messages"][-1]["content"]
    saved = await Conversation.objects.aget(pk=conversation.pk)
    assert (saved.category, saved.confidence, saved.classification_state) == (
        "billing",
        0.9,
        "done",
    )
    assert saved.classification_reasoning == "Asks about an invoice."


@pytest.mark.django_db(transaction=True)
async def test_background_classification_failure_shows_a_failed_state(
    fake_upstream, user, conversation
):
    fake_upstream.add(Reply(text="ok"))
    fake_upstream.add_structured(Reply(refusal="I won't classify this."))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "hello"})
    frames = await receive_until(socket, "Classification failed")
    await socket.disconnect()

    assert "The model declined: I won&#x27;t classify this." in frames[-1]
    saved = await Conversation.objects.aget(pk=conversation.pk)
    assert saved.classification_state == "failed"
    assert (saved.category, saved.confidence) == ("", None)


@pytest.mark.django_db(transaction=True)
async def test_only_the_first_reply_starts_a_classification(fake_upstream, conversation):
    fake_upstream.add_structured(Reply.structured(BILLING), Reply.structured(BILLING))
    first = await conversation.messages.acreate(role=Message.Role.USER, content="invoice")
    await background.after_reply(conversation.pk, first.pk)
    second = await conversation.messages.acreate(role=Message.Role.USER, content="more")
    await background.after_reply(conversation.pk, second.pk)
    assert len(fake_upstream.structured_requests("Classification")) == 1


@pytest.mark.django_db(transaction=True)
async def test_background_classification_can_be_switched_off(settings, fake_upstream, conversation):
    settings.CLASSIFY_CONVERSATIONS = False
    message = await conversation.messages.acreate(role=Message.Role.USER, content="invoice")
    await background.after_reply(conversation.pk, message.pk)
    assert fake_upstream.requests == fake_upstream.structured_log == []


def test_owner_can_classify_again_on_request(logged_in, conversation, fake_upstream):
    conversation.messages.create(role=Message.Role.USER, content="The app crashes")
    fake_upstream.add_structured(
        Reply.structured({"category": "technical", "confidence": 0.62, "reasoning": "Crash."})
    )
    response = logged_in.post(reverse("conversations:classify", args=[conversation.pk]), headers=HX)
    page = response.content.decode()
    assert "Technical · 62%" in page and "Classify again" in page
    conversation.refresh_from_db()
    assert (conversation.category, conversation.confidence) == ("technical", 0.62)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(refusal="No."), "The model declined: No."),
        (Reply(text="{not json"), "did not fit the expected format"),
        (
            Reply.structured({"category": "billing", "confidence": 1.7, "reasoning": "x"}),
            "did not fit the expected format",
        ),
        (
            Reply.structured({"category": "sales", "confidence": 0.5, "reasoning": "x"}),
            "did not fit the expected format",
        ),
        (Reply(status=503), "The model server had an error."),
    ],
    ids=["refusal", "invalid-json", "confidence-out-of-range", "unknown-category", "upstream"],
)
def test_failed_classification_keeps_the_last_good_result(
    logged_in, conversation, fake_upstream, reply, error
):
    Conversation.objects.filter(pk=conversation.pk).update(
        category="general", confidence=0.6, classification_state="done"
    )
    fake_upstream.add_structured(reply)
    response = logged_in.post(reverse("conversations:classify", args=[conversation.pk]), headers=HX)
    assert "Classification failed" in response.content.decode()
    assert error in response.content.decode()
    conversation.refresh_from_db()
    assert (conversation.category, conversation.confidence) == ("general", 0.6)
    assert conversation.classification_state == "failed"
    assert error in conversation.classification_error.replace("&#x27;", "'")


def test_other_user_cannot_classify_a_conversation(client, other_user, conversation, fake_upstream):
    client.force_login(other_user)
    response = client.post(reverse("conversations:classify", args=[conversation.pk]))
    assert response.status_code == 404
    assert fake_upstream.requests == fake_upstream.structured_log == []


def test_badge_shows_on_the_conversation_page(logged_in, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(
        category="complaint", confidence=0.85, classification_state="done"
    )
    page = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert "badge--complaint" in page and "Complaint · 85%" in page


@pytest.fixture
def staff(make_user) -> Client:
    client = Client()
    client.force_login(make_user("staff", is_staff=True, is_superuser=True))
    return client


def classified(owner, title: str, category: str, confidence: float) -> Conversation:
    conversation = create_conversation(owner, title=title)
    Conversation.objects.filter(pk=conversation.pk).update(
        category=category, confidence=confidence, classification_state="done"
    )
    return conversation


def test_admin_filters_by_category_and_confidence_range(staff, user):
    classified(user, "Invoice sure", "billing", 0.95)
    classified(user, "Invoice unsure", "billing", 0.3)
    classified(user, "Crash report", "technical", 0.9)
    url = reverse("admin:conversations_conversation_changelist")

    def titles(**query) -> set[str]:
        page = staff.get(url, query).content.decode()
        return {t for t in ("Invoice sure", "Invoice unsure", "Crash report") if t in page}

    assert titles(category="billing") == {"Invoice sure", "Invoice unsure"}
    assert titles(confidence="high") == {"Invoice sure", "Crash report"}
    assert titles(category="billing", confidence="low") == {"Invoice unsure"}
    assert titles(confidence="medium") == set()


def test_admin_action_reclassifies_the_selection(staff, user, fake_upstream):
    chosen = classified(user, "Chosen", "general", 0.5)
    chosen.messages.create(role=Message.Role.USER, content="refund please")
    left = classified(user, "Left alone", "general", 0.5)
    fake_upstream.add_structured(Reply.structured(BILLING))
    response = staff.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "reclassify", "_selected_action": [chosen.pk]},
        follow=True,
    )
    assert "Re-classified 1 conversation(s)." in response.content.decode()
    chosen.refresh_from_db()
    left.refresh_from_db()
    assert (chosen.category, chosen.confidence) == ("billing", 0.9)
    assert (left.category, left.confidence) == ("general", 0.5)
    (request,) = fake_upstream.structured_requests("Classification")
    assert "User: refund please" in request["messages"][-1]["content"]


def test_confidence_outside_0_to_1_cannot_be_stored(conversation):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Conversation.objects.filter(pk=conversation.pk).update(confidence=1.5)


def test_a_classification_stuck_pending_can_be_asked_again(logged_in, conversation, fake_upstream):
    Conversation.objects.filter(pk=conversation.pk).update(classification_state="pending")
    page = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert "Classifying…" in page and "Classify again" in page
    fake_upstream.add_structured(Reply.structured(BILLING))
    logged_in.post(reverse("conversations:classify", args=[conversation.pk]), headers=HX)
    conversation.refresh_from_db()
    assert (conversation.classification_state, conversation.category) == ("done", "billing")
