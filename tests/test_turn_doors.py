"""One table of turns, run through both doors: the websocket and the SSE endpoint.

Each door is driven as its clients drive it (a websocket frame, an HTTP POST read as a
stream) against the real ASGI application, the real SDK and the wire fake; both must
show the same turn.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client

from accounts.tokens import issue_token
from conversations.models import Message, ToolConfirmation
from payments.models import Payment
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

CARD = "confirmation--pending"


def call(name: str, **arguments) -> dict[str, str]:
    return {"id": f"call_{name}", "name": name, "arguments": json.dumps(arguments)}


@dataclass
class Seen:
    """What a client of a door saw of one turn."""

    text: str = ""  # every round's text, in order
    tool_results: list[str] = field(default_factory=list)
    cards: list[int] = field(default_factory=list)  # confirmation ids asking for a decision
    refused: str = ""  # the reason a message was not taken
    status: int = 200


class SocketDoor:
    name = "websocket"

    def __init__(self, user, conversation) -> None:
        self.user, self.conversation = user, conversation

    async def send(self, text: str, until: str) -> Seen:
        return await self._act({"message": text}, until)

    async def decide(self, confirmation_id: int, approve: bool, until: str) -> Seen:
        action = "confirm" if approve else "cancel"
        return await self._act({"action": action, "confirmation": confirmation_id}, until)

    async def _act(self, frame: dict, until: str) -> Seen:
        socket, connected = await open_socket(self.user, self.conversation.pk)
        assert connected
        await socket.send_json_to(frame)
        frames = await receive_until(socket, until)
        if until == CARD:
            frames += await receive_until(socket, "message--complete")
        await socket.disconnect()
        return _seen_in_frames(frames)


def _seen_in_frames(frames: list[str]) -> Seen:
    seen = Seen()
    for frame in frames:
        if 'id="composer-error"' in frame:
            seen.refused = re.sub(r"<[^>]+>", "", frame).strip()
        seen.tool_results += re.findall(r"<dt>Result</dt><dd><pre>([^<]*)</pre>", frame)
        seen.cards += [int(i) for i in re.findall(r'"confirmation": (\d+)', frame)][:1]
        seen.text += "".join(re.findall(r'class="message__delta"[^>]*>([^<]*)<', frame))
        seen.text += " ".join(re.findall(r"<p>([^<]*)</p>", frame))
    return seen


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class SseDoor:
    name = "sse"

    def __init__(self, user, conversation) -> None:
        self.user, self.conversation = user, conversation
        self.token = ""

    async def send(self, text: str, until: str) -> Seen:
        url = f"/conversations/{self.conversation.pk}/stream/"
        return await self._post(url, {"message": text})

    async def decide(self, confirmation_id: int, approve: bool, until: str) -> Seen:
        url = f"/conversations/{self.conversation.pk}/confirmations/{confirmation_id}/stream/"
        return await self._post(url, {"decision": "confirm" if approve else "cancel"})

    async def _post(self, url: str, body: dict) -> Seen:
        if not self.token:
            _, self.token = await sync_to_async(issue_token)(self.user, "tests")
        response = await AsyncClient().post(
            url, body, content_type="application/json", headers=bearer(self.token)
        )
        if response.status_code != 200:
            return Seen(refused=json.loads(response.content)["error"], status=response.status_code)
        lines = [line async for line in response.streaming_content]
        return _seen_in_events(b"".join(lines).decode())


def _seen_in_events(stream: str) -> Seen:
    seen = Seen()
    payloads = [line[6:] for line in stream.split("\n") if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    for event in map(json.loads, payloads[:-1]):
        seen.text += event.get("content", "")
        if "tool_result" in event:
            seen.tool_results.append(event["tool_result"]["content"])
        if "confirmation" in event:
            seen.cards.append(event["confirmation"]["id"])
        seen.refused = event.get("error", seen.refused)
    seen.usage = json.loads(payloads[-2])["usage"]  # type: ignore[attr-defined]
    return seen


DOORS = [SocketDoor, SseDoor]


@pytest.fixture(params=DOORS, ids=lambda door: door.name)
def door(request, user, conversation):
    return request.param(user, conversation)


async def test_a_two_round_tool_turn_streams_every_round_and_the_final_answer(door, fake_upstream):
    fake_upstream.add(
        Reply(text="Let me work that out.", tool_calls=[call("calculate", expression="17*23")]),
        Reply(text="17 times 23 is 391."),
    )
    seen = await door.send("what is 17*23", until="17 times 23 is 391.</p>")

    assert "Let me work that out." in seen.text
    assert "17 times 23 is 391." in seen.text
    assert seen.tool_results == ["391"]
    if isinstance(door, SseDoor):
        assert (seen.usage["status"], seen.usage["rounds"]) == ("complete", 2)
        assert seen.usage["completion_tokens"] > 0


async def test_a_turn_that_needs_a_confirmation_pauses_and_resumes_once(
    door, fake_upstream, user, conversation
):
    pay = call("make_payment", recipient="Alice", amount="5", currency="EUR", memo="lunch")
    fake_upstream.add(Reply(text="I will pay Alice.", tool_calls=[pay]), Reply(text="Paid Alice."))

    paused = await door.send("pay Alice 5 EUR", until=CARD)
    card = await ToolConfirmation.objects.aget(status="pending")
    assert paused.cards == [card.pk]
    assert "I will pay Alice." in paused.text
    if isinstance(door, SseDoor):
        assert paused.usage["status"] == "waiting"
    assert await Payment.objects.acount() == 0

    resumed = await door.decide(card.pk, approve=True, until="Paid Alice.</p>")
    assert "Paid Alice." in resumed.text
    assert await Payment.objects.acount() == 1

    again = await door.decide(card.pk, approve=True, until="confirmation--executed")
    assert await Payment.objects.acount() == 1
    assert len(fake_upstream.requests) == 2
    if isinstance(door, SseDoor):
        assert again.status == 409


async def test_a_new_message_while_an_action_waits_gets_the_same_answer(door, fake_upstream):
    email = call("send_email", to="bob@example.com", subject="Hi", body="Lunch?")
    fake_upstream.add(Reply(text="", tool_calls=[email]))
    await door.send("email Bob", until=CARD)

    seen = await door.send("something else", until='id="composer-error"')

    assert seen.refused.startswith("An action is waiting for your decision")
    assert len(fake_upstream.requests) == 1
    assert not await Message.objects.filter(content="something else").aexists()


async def test_typing_yes_decides_the_waiting_action_and_streams_the_rest(
    door, fake_upstream, conversation
):
    email = call("send_email", to="bob@example.com", subject="Hi", body="Lunch?")
    fake_upstream.add(Reply(text="", tool_calls=[email]), Reply(text="Sent it."))
    await door.send("email Bob", until=CARD)

    seen = await door.send("yes", until="Sent it.</p>")

    assert "Sent it." in seen.text
    card = await ToolConfirmation.objects.aget()
    assert card.status == ToolConfirmation.Status.EXECUTED


async def test_only_the_owner_can_decide_over_sse(fake_upstream, user, other_user, conversation):
    pay = call("make_payment", recipient="Alice", amount="5", currency="EUR", memo="lunch")
    fake_upstream.add(Reply(text="", tool_calls=[pay]))
    await SseDoor(user, conversation).send("pay", until=CARD)
    card = await ToolConfirmation.objects.aget()

    mallory = Client()
    await sync_to_async(mallory.force_login)(other_user)
    url = f"/conversations/{conversation.pk}/confirmations/{card.pk}/stream/"
    _, token = await sync_to_async(issue_token)(other_user, "theirs")
    response = await AsyncClient().post(
        url, {"decision": "confirm"}, content_type="application/json", headers=bearer(token)
    )

    assert response.status_code == 404
    await card.arefresh_from_db()
    assert card.status == ToolConfirmation.Status.PENDING
    assert await Payment.objects.acount() == 0
