"""Scale-out: two Daphne processes share one Redis channel layer and one PostgreSQL."""

import asyncio
import json
import re

from tests.fake_upstream import Reply
from tests.scaleout.conftest import Browser, frames_until, send

DONE = "message--assistant message--complete"


async def test_a_tab_on_each_process_sees_the_same_reply_stream(cluster, upstream):
    upstream.add(Reply(tokens=[f"w{i} " for i in range(30)], token_delay=0.02))
    tab_a, tab_b = Browser(cluster.url(0)), Browser(cluster.url(1))
    conversation = tab_a.new_conversation()
    async with tab_a.socket(conversation) as ws_a, tab_b.socket(conversation) as ws_b:
        await asyncio.sleep(0.3)
        await send(ws_a, message="Hello from process A")
        frames_a, frames_b = await asyncio.gather(
            frames_until(ws_a, DONE), frames_until(ws_b, DONE)
        )
    assert "Hello from process A" in frames_b[0]
    deltas_b = [f for f in frames_b if f.startswith('<div id="msg-')]
    assert deltas_b, "process B relayed live deltas, not only the final frame"
    assert "w29" in frames_a[-1] and "w29" in frames_b[-1]


async def test_stop_on_process_b_stops_a_reply_generating_on_process_a(cluster, upstream):
    upstream.add(Reply(tokens=[f"long{i} " for i in range(400)], token_delay=0.02))
    tab_a, tab_b = Browser(cluster.url(0)), Browser(cluster.url(1))
    conversation = tab_a.new_conversation()
    async with tab_a.socket(conversation) as ws_a, tab_b.socket(conversation) as ws_b:
        await asyncio.sleep(0.3)
        await send(ws_a, message="Write a lot")
        await frames_until(ws_b, "long5")
        await send(ws_b, action="stop")
        frames = await frames_until(ws_a, "message--stopped")
    assert "long5" in frames[-1] and "long399" not in frames[-1]
    page = tab_b.http.get(f"/conversations/{conversation}/").text
    assert "message--stopped" in page


async def test_killed_process_leaves_the_reply_interrupted_with_its_text(cluster, upstream):
    upstream.add(Reply(tokens=[f"cut{i} " for i in range(400)], token_delay=0.02))
    tab = Browser(cluster.url(0))
    conversation = tab.new_conversation()
    async with tab.socket(conversation) as ws:
        await send(ws, message="Keep talking")
        await frames_until(ws, "cut40")
        cluster.kill(0)
    other = Browser(cluster.url(1))
    await asyncio.sleep(3)  # past CHAT_STALE_AFTER: the last checkpoint is old now
    page = other.http.get(f"/conversations/{conversation}/").text
    cluster.start(0)
    assert "message--interrupted" in page
    assert "cut10" in page


async def test_confirmation_created_on_a_is_approved_on_b_and_the_turn_resumes(cluster, upstream):
    tab_a, tab_b = Browser(cluster.url(0)), Browser(cluster.url(1))
    doomed = tab_a.new_conversation()
    conversation = tab_a.new_conversation()
    arguments = json.dumps({"conversation_id": doomed})
    upstream.add(
        Reply(text="", tool_calls=[{"name": "delete_conversation", "arguments": arguments}]),
        Reply(text="It is deleted."),
    )
    async with tab_a.socket(conversation) as ws_a, tab_b.socket(conversation) as ws_b:
        await asyncio.sleep(0.3)
        await send(ws_a, message="Delete my other conversation")
        frames_a = await frames_until(ws_a, "confirmation__buttons")
        card = frames_a[-1]
        confirmation = int(re.search(r'"confirmation": (\d+)', card).group(1))
        assert tab_a.http.get(f"/conversations/{doomed}/").status_code == 200
        await send(ws_b, action="confirm", confirmation=confirmation)
        frames = await frames_until(ws_b, "It is deleted.")
    assert any("confirmation--executed" in f for f in frames)
    assert tab_b.http.get(f"/conversations/{doomed}/").status_code == 404


async def test_the_per_user_rate_limit_counts_requests_on_both_processes(limited_cluster, upstream):
    tab_a, tab_b = Browser(limited_cluster.url(0)), Browser(limited_cluster.url(1))
    first, second = tab_a.new_conversation("First"), tab_a.new_conversation("Second")
    upstream.add(Reply(text="Answer one."), Reply(text="Answer two."), Reply(text="Never sent."))
    async with tab_a.socket(first) as ws_a:
        await send(ws_a, message="one")
        await frames_until(ws_a, DONE)
    async with tab_b.socket(second) as ws_b:
        await send(ws_b, message="two")
        await frames_until(ws_b, DONE)
        await send(ws_b, message="three")
        frames = await frames_until(ws_b, "message--failed")
    # Process B has seen two requests of its own: only a shared count refuses the third.
    assert "sending requests too fast (limit 2 per minute)" in frames[-1]
    assert [body["messages"][-1]["content"] for body in upstream.requests] == ["one", "two"]
