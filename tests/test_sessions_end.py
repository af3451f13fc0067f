"""An open websocket stops working when its session ends: logout, a new password or a
deactivation close it, and every message re-checks the session first."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.test import Client

from conversations.models import Message
from tests.conftest import open_socket
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)
UNAUTHENTICATED = 4401


async def signed_in_socket(user, conversation) -> tuple[WebsocketCommunicator, Client]:
    """A socket in a session the test can end (the client that logged in)."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    socket, connected = await open_socket(user, conversation.pk, client=client)
    assert connected
    return socket, client


async def closed_with(socket: WebsocketCommunicator) -> int | None:
    while True:
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")


async def test_logging_out_closes_the_open_socket_case_8(user, conversation):
    socket, client = await signed_in_socket(user, conversation)
    await sync_to_async(client.post)("/accounts/logout/")
    assert await closed_with(socket) == UNAUTHENTICATED


async def test_a_new_password_closes_the_open_socket_case_8(user, conversation):
    socket, _ = await signed_in_socket(user, conversation)

    def change_password() -> None:
        user.set_password("a-brand-new-password-42")
        user.save()

    await sync_to_async(change_password)()
    assert await closed_with(socket) == UNAUTHENTICATED


async def test_deactivation_closes_the_open_socket_case_8(user, conversation):
    socket, _ = await signed_in_socket(user, conversation)
    user.is_active = False
    await sync_to_async(user.save)()
    assert await closed_with(socket) == UNAUTHENTICATED


async def test_each_message_rechecks_the_session_first_case_8(user, conversation, fake_upstream):
    socket, _ = await signed_in_socket(user, conversation)
    # Deactivated without any signal (a bulk update): only the re-check can notice.
    await get_user_model().objects.filter(pk=user.pk).aupdate(is_active=False)
    await socket.send_json_to({"message": "still here?"})
    assert await closed_with(socket) == UNAUTHENTICATED
    assert not await Message.objects.filter(content="still here?").aexists()
    assert fake_upstream.requests == []


async def test_a_session_that_counted_is_read_again_for_each_message_case_8(
    user, conversation, fake_upstream
):
    """A message that counted leaves its session remembered; a password changed later
    without any signal (a bulk update) still closes the socket at the next message."""
    socket, _ = await signed_in_socket(user, conversation)
    fake_upstream.add(Reply(text="Hello"))
    await socket.send_json_to({"message": "first"})
    assert await finished(socket)
    new_hash = make_password("changed-behind-the-app-77")
    await get_user_model().objects.filter(pk=user.pk).aupdate(password=new_hash)
    await socket.send_json_to({"message": "second"})
    assert await closed_with(socket) == UNAUTHENTICATED
    assert not await Message.objects.filter(content="second").aexists()
    assert len(fake_upstream.requests) == 1


async def test_other_actions_recheck_the_session_first_case_8(user, conversation):
    socket, _ = await signed_in_socket(user, conversation)
    await Session.objects.all().adelete()  # signed out behind the app's back
    await socket.send_json_to({"action": "stop"})
    assert await closed_with(socket) == UNAUTHENTICATED


async def finished(socket: WebsocketCommunicator) -> bool:
    while True:
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return False
        if "message--assistant message--complete" in output.get("text", ""):
            return True
