"""The conversation websocket, against the real ASGI stack and the wire fake."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from conversations.services import create_conversation
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

FINISHED = 'hx-swap-oob="outerHTML"'


def finished_frame(frames: list[str]) -> str:
    return next(f for f in frames if f.startswith("<article") and FINISHED in f)


async def test_reply_streams_in_batched_frames_and_is_saved(fake_upstream, user, conversation):
    fake_upstream.add(Reply(text="one two three four five six", token_delay=0.01))
    socket, connected = await open_socket(user, conversation.pk)
    assert connected
    await socket.send_json_to({"message": "Hello there"})
    frames = await receive_until(socket, "message--assistant message--complete")
    await socket.disconnect()

    assert "Hello there" in frames[0]  # the user's message shows first
    deltas = [f for f in frames if f.startswith('<div id="msg-') and "beforeend" in f]
    assert deltas and "one" in deltas[0]
    assert len(deltas) < 6  # batched, not one frame per token
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.status == Message.Status.COMPLETE
    assert reply.content == "one two three four five six"
    assert reply.completion_tokens == 6
    sent = fake_upstream.requests[0]
    assert sent["messages"][0] == {"role": "system", "content": conversation.system_prompt}
    assert sent["messages"][-1] == {"role": "user", "content": "Hello there"}
    assert sent["stream_options"] == {"include_usage": True}


async def test_final_frame_renders_sanitized_markdown(fake_upstream, user, conversation):
    fake_upstream.add(
        Reply(text='**bold** <img src=x onerror="alert(1)"> [x](javascript:alert(1))')
    )
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "render"})
    frames = await receive_until(socket, "message--assistant message--complete")
    await socket.disconnect()

    final = finished_frame(frames)
    assert "<strong>bold</strong>" in final
    assert "<img" not in final
    assert "javascript:" not in final.replace("[x](javascript:alert(1))", "")


async def test_stop_keeps_partial_text(fake_upstream, user, conversation):
    fake_upstream.add(Reply(tokens=["partial "] * 200, token_delay=0.02))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "go long"})
    await receive_until(socket, "partial")
    await socket.send_json_to({"action": "stop"})
    frames = await receive_until(socket, "message--stopped")
    await socket.disconnect()

    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.status == Message.Status.STOPPED
    assert reply.content.startswith("partial ")
    assert len(reply.content) < len("partial ") * 200
    assert "Stopped" in finished_frame(frames)


async def test_two_sockets_see_the_same_stream(fake_upstream, user, conversation):
    fake_upstream.add(Reply(text="shared reply text", token_delay=0.01))
    first, _ = await open_socket(user, conversation.pk)
    second, _ = await open_socket(user, conversation.pk)
    await first.send_json_to({"message": "both tabs"})
    frames_a = await receive_until(first, "message--assistant message--complete")
    frames_b = await receive_until(second, "message--assistant message--complete")
    await first.disconnect()
    await second.disconnect()

    assert "both tabs" in frames_b[0]
    assert "shared reply text" in finished_frame(frames_a)
    assert "shared reply text" in finished_frame(frames_b)


async def test_reconnect_mid_reply_gets_text_so_far_then_live_deltas(
    fake_upstream, user, conversation
):
    fake_upstream.add(Reply(tokens=[f"t{i} " for i in range(40)], token_delay=0.03))
    first, _ = await open_socket(user, conversation.pk)
    await first.send_json_to({"message": "long one"})
    await receive_until(first, "t3 ")
    await first.disconnect()  # the tab is reloaded

    second, connected = await open_socket(user, conversation.pk)
    assert connected
    snapshot = await receive_until(second, 'hx-swap-oob="innerHTML"')
    assert "t0 t1 t2 t3 " in snapshot[-1]
    frames = await receive_until(second, "message--assistant message--complete")
    await second.disconnect()

    assert "t39" in finished_frame(frames)
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.content == "".join(f"t{i} " for i in range(40))


async def test_upstream_error_keeps_users_message_and_shows_clear_error(
    fake_upstream, user, conversation
):
    fake_upstream.add(Reply(status=500, error_message="boom"))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "please answer"})
    frames = await receive_until(socket, "message--failed")
    await socket.disconnect()

    assert "The model server had an error." in finished_frame(frames)
    saved = [m async for m in Message.objects.filter(conversation=conversation)]
    assert (saved[0].role, saved[0].content) == ("user", "please answer")
    assert saved[1].status == Message.Status.FAILED


async def test_stream_cut_midway_keeps_streamed_text(fake_upstream, user, conversation):
    fake_upstream.add(Reply(text="kept words then gone", cut_after=2))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "cut me"})
    await receive_until(socket, "message--failed")
    await socket.disconnect()

    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.status == Message.Status.FAILED
    assert reply.content == "kept words"
    assert "cut off" in reply.error


async def test_empty_and_oversized_messages_are_refused_before_any_upstream_call(
    fake_upstream, user, conversation, settings
):
    settings.CHAT_MAX_MESSAGE_CHARS = 50
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "   "})
    empty = await socket.receive_from()
    await socket.send_json_to({"message": "x" * 51})
    too_long = await socket.receive_from()
    await socket.disconnect()

    assert "Type a message first." in empty
    assert "the limit is 50" in too_long
    assert fake_upstream.requests == []
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_anonymous_socket_is_refused(user, conversation):
    socket, connected = await open_socket(None, conversation.pk)
    assert not connected
    await socket.disconnect()


async def test_other_users_conversation_socket_is_refused(other_user, conversation):
    socket, connected = await open_socket(other_user, conversation.pk)
    assert not connected
    await socket.disconnect()


@pytest.mark.parametrize("origin", ["http://evil.example", None])
async def test_foreign_or_missing_origin_is_refused(user, conversation, origin):
    socket, connected = await open_socket(user, conversation.pk, origin=origin)
    assert not connected
    await socket.disconnect()


async def test_demo_model_answers_with_no_key(user, settings):
    assert settings.LLM_DEMO  # no OPENAI_API_KEY and no OPENAI_BASE_URL in the test env
    conversation = await sync_to_async(create_conversation)(user)
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "hello demo"})
    frames = await receive_until(socket, "message--assistant message--complete")
    await socket.disconnect()

    final = finished_frame(frames)
    assert conversation.model == "demo"
    assert "Demo model (offline)" in final
    assert "<pre><code" in final


async def test_a_reconnecting_tab_gets_the_text_once_and_other_tabs_none_case_9(
    fake_upstream, user, conversation
):
    fake_upstream.add(Reply(tokens=[f"t{i} " for i in range(40)], token_delay=0.03))
    staying, _ = await open_socket(user, conversation.pk)
    await staying.send_json_to({"message": "long one"})
    await receive_until(staying, "t3 ")
    for _ in range(3):  # a flaky connection reconnects three times
        again, _ = await open_socket(user, conversation.pk)
        assert "t0 t1 t2 t3 " in (await receive_until(again, 'hx-swap-oob="innerHTML"'))[-1]
        await again.disconnect()
    frames = await receive_until(staying, "message--assistant message--complete")
    await staying.disconnect()

    assert not [f for f in frames if 'hx-swap-oob="innerHTML"' in f and "t0 t1" in f]
    assert "t39" in finished_frame(frames)


async def test_a_tab_that_stops_reading_is_dropped_and_the_reply_goes_on_case_9(
    fake_upstream, user, conversation, settings
):
    settings.CHAT_SOCKET_UNREAD_LIMIT = 8000
    fake_upstream.add(Reply(tokens=[f"word{i} " for i in range(300)], token_delay=0.002))
    reader, _ = await open_socket(user, conversation.pk)
    silent, _ = await open_socket(user, conversation.pk)  # never says it read anything
    await reader.send_json_to({"message": "a long answer please"})

    frames: list[str] = []
    async with asyncio.timeout(20):
        while not frames or "message--assistant message--complete" not in frames[-1]:
            frames.append(await reader.receive_from(timeout=10))
            await reader.send_json_to({"action": "ack", "read": len(frames[-1])})
    closed = None
    while closed is None:
        output = await silent.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            closed = output["code"]
    await reader.disconnect()

    assert closed == 4408
    assert "word299" in finished_frame(frames)
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.status == Message.Status.COMPLETE


async def test_closed_paragraphs_arrive_rendered_before_the_reply_ends(
    fake_upstream, user, conversation
):
    tokens = ["A **bold** start.", "\n\n", "Still ", "<b>open</b>", *["more "] * 10]
    fake_upstream.add(Reply(tokens=tokens, token_delay=0.03))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "format as you go"})
    frames = await receive_until(socket, "message--assistant message--complete")
    await socket.disconnect()

    live = [f for f in frames if f.startswith('<div id="msg-')]
    rendered = next(f for f in live if "beforebegin" in f)
    assert "<p>A <strong>bold</strong> start.</p>" in rendered
    assert frames.index(rendered) < frames.index(finished_frame(frames))
    assert "&lt;b&gt;open&lt;/b&gt;" in "".join(live)  # the open block: escaped text


async def test_a_reconnecting_tab_gets_the_closed_blocks_rendered(
    fake_upstream, user, conversation
):
    tokens = ["Para **one**.\n\n", *[f"t{i} " for i in range(40)]]
    fake_upstream.add(Reply(tokens=tokens, token_delay=0.03))
    first, _ = await open_socket(user, conversation.pk)
    await first.send_json_to({"message": "long one"})
    await receive_until(first, "t3 ")
    await first.disconnect()

    second, _ = await open_socket(user, conversation.pk)
    snapshot = (await receive_until(second, 'hx-swap-oob="innerHTML"'))[-1]
    await receive_until(second, "message--assistant message--complete")
    await second.disconnect()
    assert "<p>Para <strong>one</strong>.</p>" in snapshot
    assert "t3 " in snapshot.split("message__tail")[1]


async def test_an_action_of_the_wrong_shape_is_a_message_not_a_crash(
    fake_upstream, user, conversation
):
    fake_upstream.add(Reply(text="Fine."))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"action": ["stop"], "message": "Still a message"})
    await receive_until(socket, "message--assistant message--complete")
    await socket.disconnect()
    assert fake_upstream.requests[0]["messages"][-1]["content"] == "Still a message"
