"""The site holds against misuse: foreign origins, formula injection, floods of writes
and of guessed passwords."""

import asyncio
import threading

import pytest
from django.urls import reverse

from agents.models import UsageRecord
from conversations.models import Conversation, Message
from conversations.services import create_conversation
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://testserver", True),
        ("http://testserver:9999", False),
        ("https://testserver", False),
        ("http://127.0.0.1", False),
        ("http://evil.example", False),
        (None, False),
    ],
)
async def test_websocket_origin_must_match_scheme_host_and_port_case_11(
    user, conversation, origin, allowed
):
    socket, connected = await open_socket(user, conversation.pk, origin=origin)
    await socket.disconnect()
    assert connected is allowed


@pytest.mark.django_db
def test_write_rate_limits_case_13_new_conversations(logged_in, user, other_user, settings):
    settings.CHAT_CONVERSATIONS_PER_MINUTE = 3
    url = reverse("conversations:create")
    statuses = [logged_in.post(url).status_code for _ in range(4)]
    refused = logged_in.post(url)
    assert statuses[:3] == [302, 302, 302] and refused.status_code == 400
    assert "Too many new conversations (the limit is 3 a minute)" in refused.content.decode()
    assert Conversation.objects.filter(owner=user).count() == 3
    create_conversation(other_user)  # others are not held back


@pytest.mark.django_db(transaction=True)
async def test_write_rate_limits_case_13_messages(fake_upstream, user, conversation, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    socket, _ = await open_socket(user, conversation.pk)
    for text in ("one", "two"):
        await socket.send_json_to({"message": text})
        await receive_until(socket, "message--assistant message--complete")
    await socket.send_json_to({"message": "three"})
    frames = await receive_until(socket, "the limit is 2 a minute")
    await socket.disconnect()
    assert "Too many messages" in frames[-1]
    assert await Message.objects.filter(conversation=conversation).acount() == 4


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_login_is_throttled_case_14(client, make_user, settings, url):
    settings.LOGIN_RATE = "5/5m"
    make_user("alice", is_staff=True)
    for attempt in range(20):
        client.post(url, {"username": "alice", "password": f"guess-{attempt}"})
    response = client.post(url, {"username": "alice", "password": "pw-for-tests"})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_password_reset_mail_is_throttled_case_14(client, make_user, settings, mailoutbox):
    settings.PASSWORD_RESET_RATE = "3/h"
    make_user("alice", email="alice@example.com")
    statuses = [
        client.post("/accounts/password_reset/", {"email": "alice@example.com"}).status_code
        for _ in range(20)
    ]
    assert len(mailoutbox) == 3
    assert statuses[:3] == [302, 302, 302] and set(statuses[3:]) == {429}


@pytest.mark.django_db
def test_pages_send_a_strict_content_security_policy_case_15(logged_in, conversation):
    for url in ["/", conversation.get_absolute_url(), "/accounts/login/"]:
        policy = logged_in.get(url)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy


@pytest.mark.django_db(transaction=True)
async def test_deleting_a_conversation_mid_reply_keeps_its_usage_case_5(
    fake_upstream, user, conversation
):
    answering = threading.Event()
    fake_upstream.add(Reply(text="A reply nobody will read.", wait_for=answering))
    kept_id, title = conversation.pk, conversation.title
    socket, _ = await open_socket(user, kept_id)
    await socket.send_json_to({"message": "Hello"})
    while not fake_upstream.requests:
        await asyncio.sleep(0.01)
    await conversation.adelete()
    answering.set()
    for _ in range(200):
        if await UsageRecord.objects.filter(conversation_ref=kept_id).aexists():
            break
        await asyncio.sleep(0.025)
    await socket.disconnect()
    row = await UsageRecord.objects.aget(conversation_ref=kept_id)
    assert (row.user_id, row.conversation_id, row.conversation_title) == (user.pk, None, title)
    assert row.outcome == "ok" and row.completion_tokens > 0
