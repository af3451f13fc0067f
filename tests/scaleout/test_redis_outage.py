"""Redis goes away under a scale-out process, then comes back.

The test runs a Redis server of its own on a free port (see `redis_server`), so it can
kill and restart it without touching the shared one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
import websockets

from tests.browser.conftest import free_port
from tests.fake_upstream import Reply
from tests.scaleout.conftest import Browser, Cluster, frames_until, send

DONE = "message--assistant message--complete"
UNAVAILABLE = "Live updates are unavailable"


@pytest.fixture
def outage_cluster(cluster, redis_server, tmp_path) -> Iterator[Cluster]:
    """One more process on the same data, with its own Redis for channels and cache."""
    env = cluster.env | {"REDIS_URL": redis_server.url}
    process = Cluster(env, [free_port()], tmp_path)
    process.start(0)
    yield process
    process.stop()


async def test_redis_outage_pauses_live_updates_loses_nothing_and_recovers(
    outage_cluster, redis_server, upstream
):
    tab = Browser(outage_cluster.url(0))
    conversation = tab.new_conversation("Outage")
    upstream.add(
        Reply(tokens=[f"w{i} " for i in range(60)], token_delay=0.05),
        Reply(text="Back again."),
    )
    async with tab.socket(conversation) as ws:
        await send(ws, message="Talk through an outage")
        await frames_until(ws, "w3")
        redis_server.kill()
        # The open tab is told why its live view stops, and the socket closes with a
        # code the browser reconnects on.
        frames = await frames_until(ws, UNAVAILABLE)
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 4503  # the page reconnects on it (chat.js)
    assert 'id="connection-status"' in frames[-1]

    # The reply keeps running without Redis and is saved whole (its last token is in a
    # checkpoint before its end is written: wait for the end).
    for _ in range(100):
        page = tab.http.get(f"/conversations/{conversation}/").text
        if DONE in page:
            break
        await asyncio.sleep(0.1)
    assert "Talk through an outage" in page
    assert DONE in page and "w0 w1 w2" in page and "w59" in page

    # While Redis is down, a new socket gets the same clear error instead of a bare
    # refusal.
    async with tab.socket(conversation, live=False) as ws:
        assert UNAVAILABLE in await asyncio.wait_for(ws.recv(), 10)
        with pytest.raises(websockets.ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), 10)

    # Redis returns (empty, as a restarted Redis without persistence is): the next
    # socket works and a new turn streams live again.
    redis_server.start()
    async with tab.socket(conversation) as ws:
        await asyncio.sleep(0.2)
        await send(ws, message="Are you back?")
        frames = await frames_until(ws, DONE)
    assert "Back again." in frames[-1]
    assert [body["messages"][-1]["content"] for body in upstream.requests] == [
        "Talk through an outage",
        "Are you back?",
    ]


def test_a_server_sent_stream_ends_clearly_when_redis_goes_and_is_refused_while_it_is_down(
    outage_cluster, redis_server, upstream
):
    tab = Browser(outage_cluster.url(0))
    conversation = tab.new_conversation("Outage over SSE")
    upstream.add(Reply(tokens=[f"s{i} " for i in range(40)], token_delay=0.05))
    form = {"message": "Stream through an outage", "csrfmiddlewaretoken": tab.csrf_token()}
    events = []
    with tab.http.stream("POST", f"/conversations/{conversation}/stream/", data=form) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            events.append(line)
            if "s3" in line and redis_server.process.poll() is None:
                redis_server.kill()
    assert [e for e in events if e][-1] == "data: [DONE]"
    error = json.loads(next(e for e in events if '"error"' in e).removeprefix("data: "))
    assert error["error"].startswith("Live updates stopped mid-reply")

    # The reply itself went on and is saved whole.
    for _ in range(100):
        page = tab.http.get(f"/conversations/{conversation}/").text
        if "s39" in page:
            break
        time.sleep(0.1)
    assert "message--complete" in page and "s39" in page

    # While Redis is down, a new stream is refused before anything is saved or sent.
    form["message"] = "Anyone there?"
    refused = tab.http.post(f"/conversations/{conversation}/stream/", data=form)
    assert refused.status_code == 503
    assert refused.json()["error"].startswith("Live updates are unavailable")
    assert "Anyone there?" not in tab.http.get(f"/conversations/{conversation}/").text
    assert len(upstream.requests) == 1
