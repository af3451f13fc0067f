"""Pages and forms, through Django's test client."""

import pytest
from django.test import Client
from django.urls import reverse

from conversations import turns
from conversations.models import Conversation, Message
from conversations.services import create_conversation

pytestmark = pytest.mark.django_db


def conversation_urls(conversation: Conversation) -> list[tuple[str, str]]:
    pk = conversation.pk
    return [
        ("get", reverse("conversations:detail", args=[pk])),
        ("post", reverse("conversations:rename", args=[pk])),
        ("post", reverse("conversations:delete", args=[pk])),
        ("post", reverse("conversations:clear", args=[pk])),
    ]


def test_every_page_requires_login(conversation):
    client = Client()
    for method, url in [("get", "/"), *conversation_urls(conversation)]:
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_other_users_conversation_is_404_everywhere_and_untouched(conversation, other_user):
    conversation.messages.create(role="user", content="private")
    client = Client()
    client.force_login(other_user)
    for method, url in conversation_urls(conversation):
        assert getattr(client, method)(url, {"title": "pwned"}).status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == Conversation.DEFAULT_TITLE
    assert conversation.messages.count() == 1


def test_sidebar_lists_only_own_conversations_newest_first_and_paginates(user, other_user):
    for index in range(23):
        create_conversation(user, title=f"Mine {index}")
    create_conversation(other_user, title="Not mine")
    client = Client()
    client.force_login(user)
    first = client.get("/").content.decode()
    assert "Mine 22" in first and "Mine 3" in first and "Mine 2<" not in first
    assert "Not mine" not in first
    second = client.get("/?page=2").content.decode()
    assert "Mine 2<" in second and "Mine 0" in second


def test_new_conversation_uses_default_system_prompt_and_chosen_model(logged_in, settings):
    settings.LLM_MODELS = ["demo", "other-model"]
    response = logged_in.post(reverse("conversations:create"), {"model": "other-model"})
    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == conversation.get_absolute_url()
    assert conversation.system_prompt == "You are a helpful assistant."
    assert conversation.model == "other-model"


def test_new_conversation_refuses_a_model_not_offered(logged_in):
    response = logged_in.post(reverse("conversations:create"), {"model": "gpt-evil"})
    assert response.status_code == 400
    assert not Conversation.objects.exists()


def test_rename_with_htmx_returns_the_header_partial(logged_in, conversation):
    url = reverse("conversations:rename", args=[conversation.pk])
    response = logged_in.post(url, {"title": "  Trip   plans "}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<header id="conversation-header"')
    assert "Trip plans" in body and "<html" not in body
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans"


def test_clear_history_keeps_system_prompt(logged_in, conversation):
    conversation.messages.create(role="user", content="hello")
    conversation.messages.create(role="assistant", content="hi")
    logged_in.post(reverse("conversations:clear", args=[conversation.pk]))
    conversation.refresh_from_db()
    assert conversation.messages.count() == 0
    assert conversation.system_prompt == "You are a helpful assistant."


def test_delete_removes_conversation_and_messages(logged_in, conversation):
    conversation.messages.create(role="user", content="hello")
    response = logged_in.post(
        reverse("conversations:delete", args=[conversation.pk]), headers={"HX-Request": "true"}
    )
    assert response["HX-Redirect"] == "/"
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_post_without_csrf_token_is_refused(user, conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("conversations:delete", args=[conversation.pk]))
    assert response.status_code == 403
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_detail_renders_history_as_sanitized_markdown(logged_in, conversation):
    conversation.messages.create(role="user", content="<b>typed</b>")
    conversation.messages.create(
        role="assistant", content="**done** <img src=x onerror=alert(1)> <div id='composer'>x</div>"
    )
    body = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert "&lt;b&gt;typed&lt;/b&gt;" in body
    assert "<strong>done</strong>" in body
    assert "<img src=x" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
    assert body.count('id="composer"') == 1


def test_page_shows_reply_of_a_dead_process_as_interrupted_without_writing(
    logged_in, conversation, settings
):
    settings.CHAT_STALE_AFTER = 0
    conversation.messages.create(role="user", content="hello")
    reply = conversation.messages.create(role="assistant", content="half", status="streaming")
    body = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert "Interrupted" in body and "half" in body
    reply.refresh_from_db()
    assert reply.status == Message.Status.STREAMING  # the sweeper writes it, not a GET


def test_sweeper_marks_reply_of_a_dead_process_as_interrupted(conversation, settings):
    settings.CHAT_STALE_AFTER = 0
    reply = conversation.messages.create(role="assistant", content="half", status="streaming")
    assert [m.pk for m in turns.recover_dead_replies()] == [reply.pk]
    reply.refresh_from_db()
    assert (reply.status, reply.content) == (Message.Status.INTERRUPTED, "half")
    assert turns.recover_dead_replies() == []


def test_demo_model_is_labelled_in_the_ui(logged_in, conversation):
    body = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert "Demo model (offline)" in body


def test_admin_lists_conversations_with_message_counts(client, conversation, make_user):
    conversation.messages.create(role="user", content="hello")
    staff = make_user("staff", is_staff=True, is_superuser=True)
    client.force_login(staff)
    changelist = client.get(reverse("admin:conversations_conversation_changelist"))
    assert changelist.status_code == 200
    assert "New conversation" in changelist.content.decode()
    change = client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    assert "hello" in change.content.decode()


def test_login_page_and_logout(client, user):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-for-tests"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_input_limits_case_2_every_typed_text_states_its_limit(logged_in, user, settings):
    settings.CHAT_MAX_SYSTEM_PROMPT_CHARS = 1000
    huge = "x" * 2_400_000
    response = logged_in.post(reverse("conversations:create"), {"system_prompt": huge})
    assert response.status_code == 400
    assert "the limit is 1,000" in response.content.decode()
    assert not Conversation.objects.exists()

    response = logged_in.post(reverse("accounts:settings"), {"default_system_prompt": huge})
    assert response.status_code == 400
    assert "the limit is 1,000" in response.content.decode()
    assert user.profile.default_system_prompt == ""

    conversation = create_conversation(user, title="Kept")
    url = reverse("conversations:rename", args=[conversation.pk])
    response = logged_in.post(url, {"title": "t" * 250}, follow=True)
    assert "the limit is 200" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.title == "Kept"

    response = logged_in.post(reverse("tokens:list"), {"name": "n" * 101}, follow=True)
    assert "the limit is 100" in response.content.decode()
    assert not user.api_tokens.exists()


def test_the_sweeper_never_takes_a_reply_this_process_is_writing_for_dead(conversation, settings):
    settings.CHAT_STALE_AFTER = 0
    busy = conversation.messages.create(role="assistant", content="slow", status="streaming")
    assert turns.recover_dead_replies(alive=frozenset({busy.pk})) == []
    busy.refresh_from_db()
    assert busy.status == Message.Status.STREAMING
