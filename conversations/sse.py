"""Server-sent events: POST a message, read the reply as it streams.

For API clients (a personal token, `Authorization: Bearer …`) and for browsers where
websockets are blocked (the session, CSRF-checked). The reply runs as the same task a
websocket turn starts; this door only listens to the conversation's group and writes
`data: {"content": …}` events, one usage event, then `data: [DONE]`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from agents.tokens import user_for_token
from conversations import live, services

BEARER = "Bearer "
LIVE_UNAVAILABLE = "Live updates are unavailable right now, so nothing was sent. Try again shortly."
STREAM_CUT = "Live updates stopped mid-reply. The reply goes on and is saved in the conversation."


@csrf_exempt  # checked in `_authenticate` for the session; a bearer token is not ambient
@require_POST
async def stream_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Start a turn in the user's conversation and stream the reply as SSE."""
    user, refusal = await _authenticate(request)
    if refusal is not None:
        return refusal
    conversation = await sync_to_async(services.get_conversation_for_user)(user, conversation_id)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    # Listen before the turn starts, so not even the first delta is missed; a reply
    # nobody could stream is not started.
    if not await live.join(conversation.group_name, channel):
        return JsonResponse({"error": LIVE_UNAVAILABLE}, status=503, headers={"Retry-After": "30"})
    try:
        turn = await services.start_turn(user, conversation.pk, _message_text(request))
    except ValidationError as exc:
        await live.leave(conversation.group_name, channel)
        return JsonResponse({"error": exc.messages[0]}, status=400)
    events = _events(layer, channel, conversation.group_name, turn.reply.pk)
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


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload)}\n\n"


async def _events(layer, channel: str, group: str, reply_id: int) -> AsyncIterator[str]:
    try:
        while True:
            try:
                event = await layer.receive(channel)
            except live.LAYER_ERRORS:
                # The reply goes on and is saved; only this stream of it ends here.
                yield _sse({"error": STREAM_CUT})
                yield "data: [DONE]\n\n"
                return
            if event.get("message_id", event.get("reply", {}).get("id")) != reply_id:
                continue
            if event["type"] == "turn.delta":
                yield _sse({"content": event["text"]})
            elif event["type"] == "turn.waiting":
                yield ": waiting for capacity\n\n"  # a comment: clients skip it
            elif event["type"] == "turn.finished":
                for line in _ending(event["reply"]):
                    yield line
                return
    finally:
        await live.leave(group, channel)


def _ending(reply: dict[str, Any]) -> list[str]:
    """An error event when the reply failed, the usage event, then [DONE]."""
    lines = [_sse({"error": reply["error"]})] if reply.get("error") else []
    usage = {
        "prompt_tokens": reply.get("prompt_tokens"),
        "completion_tokens": reply.get("completion_tokens"),
        "cost": reply.get("cost"),
        "model": reply.get("model"),
        "status": reply["status"],
    }
    return [*lines, _sse({"usage": usage}), "data: [DONE]\n\n"]
