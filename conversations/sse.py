"""Server-sent events: the API door to the turn service.

For API clients (a personal token, `Authorization: Bearer …`) and for browsers where
websockets are blocked (the session, CSRF-checked). A request starts a turn (or decides
a waiting action) through `conversations.turns`, then follows that turn's events on the
conversation's group until the turn ends or pauses, and writes them as `data:` lines:

    {"turn": 7, "content": "…"}                          the reply's text, every round
    {"turn": 7, "reasoning": "…"}                        what a reasoning model thought
    {"turn": 7, "notice": "…"}                           how the reply ran (cut, filtered…)
    {"turn": 7, "tool_result": {"name", "arguments", "content"}}
    {"turn": 7, "confirmation": {"id", "tool", "summary", "expires_at", "decide_url"}}
    {"turn": 7, "error": "…"}                            a round that failed
    {"turn": 7, "usage": {…, "status": "complete" | "waiting" | …}}  once, last
    [DONE]

A turn that waits for a decision ends with status "waiting"; POSTing
`decision=confirm|cancel` to the confirmation's `decide_url` decides it (once, by the
owner) and streams the rest of the turn the same way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.tokens import user_for_token
from chatsite import db
from conversations import live, services, turns
from conversations.models import Conversation

BEARER = "Bearer "
LIVE_UNAVAILABLE = "Live updates are unavailable right now, so nothing was sent. Try again shortly."
STREAM_CUT = "Live updates stopped mid-reply. The reply goes on and is saved in the conversation."
ALREADY_DECIDED = "This action was already decided."


@csrf_exempt  # checked in `_authenticate` for the session; a bearer token is not ambient
@require_POST
async def stream_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Send a message (a new turn, or a typed yes/no) and stream the turn as SSE."""
    text = _field(request, "message")

    async def sending(user) -> turns.TurnRef:
        return await turns.send(user, conversation_id, text)

    return await _stream_turn(request, conversation_id, sending)


@csrf_exempt  # as above
@require_POST
async def decide(request: HttpRequest, conversation_id: int, confirmation_id: int) -> HttpResponse:
    """Confirm or cancel a waiting action, then stream the rest of its turn as SSE."""
    choice = _field(request, "decision")

    async def deciding(user) -> turns.TurnRef:
        decision = await turns.decide_as(user, conversation_id, confirmation_id, choice)
        if not decision.counted:
            raise AlreadyDecided(decision.confirmation.status)
        return decision.turn

    return await _stream_turn(request, conversation_id, deciding)


class AlreadyDecided(Exception):
    """The action was decided (or expired) before this request."""


async def _stream_turn(request: HttpRequest, conversation_id: int, act) -> HttpResponse:
    user, refusal = await _authenticate(request)
    if refusal is not None:
        return refusal
    conversation = await db.run(services.get_conversation_for_user, user, conversation_id)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    # Listen before the turn starts, so not even the first delta is missed; a turn
    # nobody could stream is not started.
    if not await live.join(conversation.group_name, channel):
        return JsonResponse({"error": LIVE_UNAVAILABLE}, status=503, headers={"Retry-After": "30"})
    try:
        turn = await act(user)
    except ValidationError as exc:
        await live.leave(conversation.group_name, channel)
        return JsonResponse({"error": exc.messages[0]}, status=400)
    except AlreadyDecided as exc:
        await live.leave(conversation.group_name, channel)
        return JsonResponse({"error": ALREADY_DECIDED, "status": str(exc)}, status=409)
    except BaseException:
        await live.leave(conversation.group_name, channel)
        raise
    events = _follow(layer, channel, conversation, turn)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy must not hold the stream back
    return response


async def _authenticate(request: HttpRequest) -> tuple[Any, HttpResponse | None]:
    """The user and None, or None and the response refusing the request."""
    header = request.headers.get("Authorization", "")
    if header.startswith(BEARER):
        user = await user_for_token(header.removeprefix(BEARER).strip())
        return (user, None) if user else (None, _unauthorized("Invalid or revoked token."))
    user = await request.auser()
    if not user.is_authenticated:
        return None, _unauthorized("Log in or send a personal API token.")
    rejected = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
    return (user, None) if rejected is None else (None, rejected)


def _unauthorized(reason: str) -> HttpResponse:
    response = JsonResponse({"error": reason}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="chat"'
    return response


def _message_text(request: HttpRequest) -> object:
    """The message from a form field or a JSON body {"message": …}."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None
        return body.get("message") if isinstance(body, dict) else None
    return request.POST.get("message")


def _unauthorized(reason: str) -> HttpResponse:
    response = JsonResponse({"error": reason}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="chat"'
    return response


def _field(request: HttpRequest, name: str) -> object:
    """A form field, or a key of a JSON body."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None
        return body.get(name) if isinstance(body, dict) else None
    return request.POST.get(name)


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload)}\n\n"


async def _follow(
    layer, channel: str, conversation: Conversation, turn: turns.TurnRef
) -> AsyncIterator[str]:
    """The turn's events as SSE lines, until it ends or waits for a decision."""
    try:
        if not turn.running:
            yield _sse({"turn": turn.turn_id, "usage": {"status": "waiting"}})
            yield "data: [DONE]\n\n"
            return
        while True:
            try:
                event = await layer.receive(channel)
            except live.LAYER_ERRORS:
                # The reply goes on and is saved; only this stream of it ends here.
                yield _sse({"error": STREAM_CUT})
                yield "data: [DONE]\n\n"
                return
            if event.get("turn") != turn.turn_id:
                continue
            for line in _lines(event, conversation):
                yield line
            if event["type"] == "turn.finished" and event.get("state") != "continues":
                return
    finally:
        await live.leave(conversation.group_name, channel)


def _lines(event: dict[str, Any], conversation: Conversation) -> list[str]:
    """What one group event says to an SSE client (often nothing)."""
    turn, kind = event["turn"], event["type"]
    if kind == "turn.delta":
        return [_sse({"turn": turn, "content": event["text"]})]
    if kind == "turn.reasoning":
        return [_sse({"turn": turn, "reasoning": event["text"]})]
    if kind == "turn.notice":
        return [_sse({"turn": turn, "notice": event["text"]})]
    if kind == "turn.waiting":
        return [": waiting for capacity\n\n"]  # a comment: clients skip it
    if kind == "message.appended" and event["message"]["role"] == "tool":
        message = event["message"]
        result = {
            "name": message["tool_name"],
            "arguments": message["tool_arguments"],
            "content": message["content"],
        }
        return [_sse({"turn": turn, "tool_result": result})]
    if kind == "confirmation.requested":
        return [_sse({"turn": turn, "confirmation": _card(event["confirmation"], conversation)})]
    if kind == "turn.finished":
        return _ending(event)
    return []


def _card(card: dict[str, Any], conversation: Conversation) -> dict[str, Any]:
    url = reverse("conversations:decide_stream", args=[conversation.pk, card["id"]])
    return {
        "id": card["id"],
        "tool": card["tool_name"],
        "summary": card["summary"],
        "expires_at": card["expires_at"],
        "decide_url": url,
    }


def _ending(event: dict[str, Any]) -> list[str]:
    """A round's error; at the turn's end, its usage summary, then [DONE]."""
    reply, turn, state = event["reply"], event["turn"], event.get("state", "done")
    lines = [_sse({"turn": turn, "error": reply["error"]})] if reply.get("error") else []
    if state == "continues":
        return lines
    usage = dict(event.get("usage") or {})
    usage["model"] = reply.get("model")
    usage["status"] = "waiting" if state == "waiting" else reply["status"]
    return [*lines, _sse({"turn": turn, "usage": usage}), "data: [DONE]\n\n"]
