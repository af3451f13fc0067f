"""What a user sees of real servers' replies in the chat: reasoning in its own block,
notices for cut or filtered answers, Continue for a cut one, and no background work
after a reply that did not complete. Replayed byte for byte from tests/wire/."""

from __future__ import annotations

from pathlib import Path

import pytest

from conversations.models import Conversation, Message
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

WIRE = Path(__file__).parent / "wire"
DONE = "message--assistant message--complete"


def sample(name: str) -> Reply:
    return Reply.from_wire(WIRE / name)


async def chat(user, conversation, text: str, until: str = DONE) -> list[str]:
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": text})
    frames = await receive_until(socket, until)
    await socket.disconnect()
    return frames


async def reply_of(conversation) -> Message:
    return await Message.objects.filter(conversation=conversation, role="assistant").alast()


@pytest.mark.parametrize("name", ["ollama_think.sse", "deepseek_reasoner.sse"])
async def test_reasoning_streams_in_its_own_block_and_stays_out_of_the_answer(
    name, fake_upstream, user, conversation
):
    fake_upstream.add(sample(name))
    frames = await chat(user, conversation, "hello")

    reply = await reply_of(conversation)
    assert reply.reasoning.strip() and reply.content.strip()
    assert "<think>" not in reply.content and reply.reasoning.strip() not in reply.content
    live = "".join(f for f in frames if "-reasoning" in f and "beforeend" in f)
    assert reply.reasoning.strip().split()[0] in live  # shown while it streamed
    final = frames[-1]
    assert 'class="thinking"' in final and "Thinking" in final
    await conversation.arefresh_from_db()
    assert "think" not in conversation.title.lower()


async def test_a_cut_answer_says_so_and_continue_goes_on_in_the_same_message(
    fake_upstream, user, conversation
):
    conversation.title = "A story"  # named by its user: no title request takes a reply
    await conversation.asave(update_fields=["title"])
    fake_upstream.add(sample("openai_length.sse"), Reply(text=" lived a fox."))
    frames = await chat(user, conversation, "tell me a story")

    assert "length limit" in frames[-1] and '"action": "continue"' in frames[-1]
    reply = await reply_of(conversation)
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"action": "continue", "message_id": reply.pk})
    frames = await receive_until(socket, "lived a fox.</p>")
    await socket.disconnect()

    await reply.arefresh_from_db()
    assert reply.content == "Once upon a time there lived a fox."
    assert await Message.objects.filter(role="assistant").acount() == 1
    sent = fake_upstream.requests[-1]["messages"]
    assert sent[-2] == {"role": "assistant", "content": "Once upon a time there"}
    assert "Continue" in sent[-1]["content"]
    assert "length limit" not in frames[-1]


async def test_a_filtered_answer_shows_a_notice(fake_upstream, user, conversation):
    fake_upstream.add(sample("azure_content_filter.sse"))
    frames = await chat(user, conversation, "how do I?")
    assert "filtered this answer" in frames[-1]
    assert "filtered" in (await reply_of(conversation)).notice


async def test_a_model_without_tools_chats_on_with_a_quiet_notice(
    fake_upstream, user, conversation
):
    fake_upstream.add(sample("ollama_no_tools.json"), Reply(text="Plain answer."))
    frames = await chat(user, conversation, "hi", until="Plain answer.</p>")
    assert any("cannot use tools" in f for f in frames)
    assert "tools" not in fake_upstream.requests[-1]


async def test_a_failed_reply_starts_no_background_work(fake_upstream, user, settings):
    from asgiref.sync import sync_to_async

    from conversations.services import create_conversation

    settings.CLASSIFY_CONVERSATIONS = True
    conversation = await sync_to_async(create_conversation)(user)
    fake_upstream.add(Reply(status=500, error_message="boom"))
    await chat(user, conversation, "please", until="message--failed")
    await conversation.arefresh_from_db()
    assert conversation.classification_state == Conversation.ClassificationState.NONE
    assert fake_upstream.structured_log == []
