"""Regenerate, edit-and-resend and model-written titles, over the real websocket."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.http import Http404

from agents.prompts import TITLE_INSTRUCTION
from conversations import editing
from conversations.models import Conversation, Message
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

COMPLETE = "message--assistant message--complete"


async def first_exchange(socket, fake_upstream, answer: str = "First answer.") -> None:
    fake_upstream.add(Reply(text=answer), Reply(text="A Scripted Title"))
    await socket.send_json_to({"message": "Plan a trip to Rome"})
    await receive_until(socket, COMPLETE)
    await receive_until(socket, "A Scripted Title")  # the after-reply title frame


async def test_regenerate_replaces_the_last_reply_with_a_fresh_answer(
    fake_upstream, user, conversation
):
    socket, _ = await open_socket(user, conversation.pk)
    await first_exchange(socket, fake_upstream)
    old = await Message.objects.aget(conversation=conversation, role="assistant")
    fake_upstream.add(Reply(text="Second answer."))
    await socket.send_json_to({"action": "regenerate"})
    frames = await receive_until(socket, COMPLETE)
    await socket.disconnect()

    assert f'id="msg-{old.pk}" hx-swap-oob="delete"' in frames[0]  # every tab drops it
    replies = [m async for m in conversation.messages.filter(role="assistant")]
    assert [r.content for r in replies] == ["Second answer."]
    assert await conversation.messages.filter(role="user").acount() == 1
    resent = fake_upstream.requests[-1]["messages"]
    assert resent[-1] == {"role": "user", "content": "Plan a trip to Rome"}
    assert "First answer." not in str(resent)


async def test_edit_last_message_resends_the_new_text_and_replaces_the_reply(
    fake_upstream, user, conversation
):
    socket, _ = await open_socket(user, conversation.pk)
    await first_exchange(socket, fake_upstream)
    question = await Message.objects.aget(conversation=conversation, role="user")
    fake_upstream.add(Reply(text="Answer about Paris."))
    await socket.send_json_to(
        {"action": "edit", "message_id": str(question.pk), "message": "Plan a trip to Paris"}
    )
    frames = await receive_until(socket, COMPLETE)
    await socket.disconnect()

    await question.arefresh_from_db()
    assert question.content == "Plan a trip to Paris"
    assert "Plan a trip to Paris" in frames[0]
    contents = [m.content async for m in conversation.messages.all()]
    assert contents == ["Plan a trip to Paris", "Answer about Paris."]
    chat_requests = [r for r in fake_upstream.requests if r.get("stream")]
    assert chat_requests[-1]["messages"][-1]["content"] == "Plan a trip to Paris"


async def test_only_the_last_user_message_can_be_edited(fake_upstream, user, conversation):
    socket, _ = await open_socket(user, conversation.pk)
    await first_exchange(socket, fake_upstream)
    first = await Message.objects.aget(conversation=conversation, role="user")
    fake_upstream.add(Reply(text="Second answer."))
    await socket.send_json_to({"message": "And Florence?"})
    await receive_until(socket, COMPLETE)
    await socket.send_json_to({"action": "edit", "message_id": first.pk, "message": "Rewritten"})
    frames = await receive_until(socket, "composer-error")
    await socket.disconnect()

    assert "Only the last message" in frames[-1]
    await first.arefresh_from_db()
    assert first.content == "Plan a trip to Rome"
    assert await conversation.messages.acount() == 4


async def test_regenerate_is_refused_while_a_reply_streams(fake_upstream, user, conversation):
    fake_upstream.add(Reply(tokens=["slow "] * 100, token_delay=0.02))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "Go"})
    await receive_until(socket, "slow")
    await socket.send_json_to({"action": "regenerate"})
    frames = await receive_until(socket, "composer-error")
    await socket.send_json_to({"action": "stop"})
    await receive_until(socket, "message--stopped")
    await socket.disconnect()

    assert "Wait for the current reply" in frames[-1]
    assert await conversation.messages.filter(role="assistant").acount() == 1


async def test_another_user_cannot_restart_a_conversation(conversation, other_user):
    with pytest.raises(Http404):
        await sync_to_async(editing.restart_turn)(
            other_user, conversation.pk, message_id=None, text="pwned"
        )


async def test_restarting_an_empty_conversation_is_refused(user, conversation):
    with pytest.raises(ValidationError):
        await sync_to_async(editing.restart_turn)(user, conversation.pk, message_id=None, text=None)


async def test_first_exchange_gets_a_title_from_the_model_and_every_tab_sees_it(
    fake_upstream, user, conversation
):
    socket, _ = await open_socket(user, conversation.pk)
    fake_upstream.add(Reply(text="First answer."), Reply(text="A Scripted Title"))
    await socket.send_json_to({"message": "Plan a trip to Rome"})
    await receive_until(socket, COMPLETE)
    frames = await receive_until(socket, "A Scripted Title")
    await socket.disconnect()

    await conversation.arefresh_from_db()
    assert conversation.title == "A Scripted Title"
    assert 'id="conversation-title"' in frames[-1]
    title_call = fake_upstream.requests[-1]
    assert not title_call.get("stream")
    assert title_call["messages"][0]["content"] == TITLE_INSTRUCTION
    assert "Plan a trip to Rome" in title_call["messages"][1]["content"]
    assert "First answer." in title_call["messages"][1]["content"]


async def test_a_renamed_conversation_keeps_its_name(fake_upstream, user, conversation):
    fake_upstream.add(Reply(text="Answer.", token_delay=0.05), Reply(text="Model Title"))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "Hello"})
    await receive_until(socket, "message--streaming")
    await Conversation.objects.filter(pk=conversation.pk).aupdate(title="My own name")
    await receive_until(socket, COMPLETE)
    await asyncio.sleep(0.3)  # let the after-reply work run
    await socket.disconnect()

    await conversation.arefresh_from_db()
    assert conversation.title == "My own name"
    assert all(r.get("stream") for r in fake_upstream.requests)  # no title call at all


async def test_a_failed_title_call_keeps_the_automatic_title(fake_upstream, user, conversation):
    fake_upstream.add(Reply(text="Answer."), Reply(status=500))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "Tell me about owls"})
    await receive_until(socket, COMPLETE)
    for _ in range(50):
        if len(fake_upstream.requests) == 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    await socket.disconnect()

    await conversation.arefresh_from_db()
    assert len(fake_upstream.requests) == 2
    assert conversation.title == "Tell me about owls"


async def test_demo_model_titles_the_conversation_offline(user, settings):
    from conversations.services import create_conversation

    assert settings.LLM_DEMO
    conversation = await sync_to_async(create_conversation)(user)
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "how do owls sleep at night"})
    await receive_until(socket, COMPLETE)
    await receive_until(socket, 'id="conversation-title"')
    await socket.disconnect()

    await conversation.arefresh_from_db()
    assert conversation.title == "How Do Owls Sleep At"


async def test_regenerate_bypasses_the_response_cache(fake_upstream, user, conversation, settings):
    settings.LLM_CACHE_TTL = 60
    socket, _ = await open_socket(user, conversation.pk)
    await first_exchange(socket, fake_upstream)
    asked = len([r for r in fake_upstream.requests if r.get("stream")])
    fake_upstream.add(Reply(text="A fresh answer, not the cached one."))
    await socket.send_json_to({"action": "regenerate"})
    frames = await receive_until(socket, COMPLETE)
    await socket.disconnect()

    assert len([r for r in fake_upstream.requests if r.get("stream")]) == asked + 1
    assert any("A fresh answer, not the cached one." in f for f in frames)
