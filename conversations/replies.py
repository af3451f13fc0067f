"""A reply being generated: a task that streams the model's answer to every open tab.

It belongs to no socket. Deltas go to the conversation's group in batched frames (the
first at once, then at most one per CHAT_FRAME_INTERVAL); the text is checkpointed to
the database every CHAT_CHECKPOINT_INTERVAL and written once more when it ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Coroutine
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from agents import loop
from agents.errors import GatewayError
from agents.events import (
    CallContext,
    ConfirmationNeeded,
    Finished,
    NextRound,
    RoundCapReached,
    TextDelta,
    ToolResult,
    ToolRound,
    Usage,
    Waiting,
)
from agents.models import UsageRecord
from agents.usage import estimate_prompt_tokens, estimate_tokens
from chatsite import db
from conversations import background, confirmations, live, tool_turns
from conversations.models import Conversation, Message

logger = logging.getLogger(__name__)

# How long a reply waits for its control listener to end before cancelling it.
CONTROL_CLOSE_TIMEOUT = 5.0

# How often a reply's control listener retries while the channel layer is down.
LAYER_RETRY_INTERVAL = 1.0

# Strong references to running replies, so the event loop does not drop them.
_running: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
    # A fresh context: a reply started by an HTTP request must not use that request's
    # sync executor, which is gone once the response has been sent.
    task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


def start_reply(
    conversation: Conversation, reply: Message, history: list[dict], *, bypass_cache: bool = False
) -> asyncio.Task:
    run = ReplyRun(conversation, reply, history)
    run.bypass_cache = bypass_cache
    return spawn(run.run())


class ReplyRun:
    """One reply from start to its final status."""

    def __init__(self, conversation: Conversation, reply: Message, history: list[dict]):
        self.conversation = conversation
        self.reply = reply
        self.history = history
        self.layer = get_channel_layer()
        self.parts: list[str] = []  # every delta received: their count is the live count
        self.sent = 0  # how many of `parts` have gone to the group
        self.wake = asyncio.Event()
        self.resync = False
        self.stop_requested = False
        self.closing = False  # the reply is ending: control messages change nothing now
        self.bypass_cache = False  # a regenerated reply must not come from a cache
        self.started = time.monotonic()
        self.oldest_waiting = 0.0  # when the oldest delta not yet sent arrived

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def run(self) -> None:
        control = await self.layer.new_channel()
        await live.join(self.conversation.control_group_name, control)
        listener = spawn(self._listen(control, asyncio.current_task()))
        helpers = [spawn(self._pump()), spawn(self._checkpoint())]
        status, error = Message.Status.COMPLETE, ""
        try:
            error = await self._generate()
        except GatewayError as exc:
            status, error = Message.Status.FAILED, exc.display
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()
            status = Message.Status.STOPPED if self.stop_requested else Message.Status.INTERRUPTED
        except Exception:
            logger.exception("Reply %s failed", self.reply.pk)
            status, error = Message.Status.FAILED, "Something went wrong while answering."
        finally:
            for helper in helpers:
                helper.cancel()
            await self._close_control(control, listener)
        await self._finish(status, error)

    async def _generate(self) -> str:
        """Run the agent loop; returns a notice for the reply ("" when all went well)."""
        context = CallContext(
            purpose="chat",
            user_id=self.conversation.owner_id,
            conversation_id=self.conversation.pk,
            bypass_cache=self.bypass_cache,
            message_id=self.reply.pk,
        )
        events = loop.run_agent(
            self.history,
            model=self.conversation.model,
            context=context,
            tool_context=tool_turns.tool_context(self.conversation),
        )
        async for event in events:
            if isinstance(event, TextDelta):
                self._add_text(event.text)
            elif isinstance(event, Usage):
                self.reply.prompt_tokens = event.prompt_tokens
                self.reply.completion_tokens = event.completion_tokens
                self.reply.cost = event.cost
            elif isinstance(event, Finished):
                self.reply.model = event.model
            elif isinstance(event, Waiting):
                await self._send("turn.waiting", seconds=event.seconds)
            elif isinstance(event, RoundCapReached):
                return f"Stopped after {event.rounds} rounds of tool calls without an answer."
            else:
                await self._on_tool_event(event)
        return ""

    async def _on_tool_event(self, event: object) -> None:
        """Tool rounds: store the calls, show each result or card, then a fresh reply."""
        if isinstance(event, ToolRound):
            self.reply.tool_calls = [loop.call_dict(c) for c in event.calls]
            await db.run(
                Message.objects.filter(pk=self.reply.pk).update, tool_calls=self.reply.tool_calls
            )
        elif isinstance(event, ToolResult):
            await tool_turns.record_result(self.conversation, event)
        elif isinstance(event, ConfirmationNeeded):
            await confirmations.request(self.conversation, self.reply, event)
        elif isinstance(event, NextRound):
            await self._finish(Message.Status.COMPLETE, "", final=False)
            self.reply = await tool_turns.open_reply(self.conversation)
            self.parts, self.sent = [], 0
            await live.broadcast(
                self.conversation.group_name,
                {"type": "turn.resumed", "reply": self.reply.as_event()},
            )

    def _add_text(self, text: str) -> None:
        """Keep a delta and decide when the pump sends: the first at once; later ones
        once CHAT_FRAME_TOKENS wait, or the oldest waiting one is CHAT_FRAME_MAX_WAIT old.
        A fast stream thus costs a frame per few tokens, a slow one stays live."""
        self.parts.append(text)
        waiting = len(self.parts) - self.sent
        if len(self.parts) == 1 or waiting >= settings.CHAT_FRAME_TOKENS:
            self.wake.set()
        elif waiting == 1:
            self.oldest_waiting = time.monotonic()
            asyncio.get_running_loop().call_later(settings.CHAT_FRAME_MAX_WAIT, self.wake.set)

    def _frame_due(self) -> bool:
        waiting = len(self.parts) - self.sent
        if not waiting:
            return False
        old = time.monotonic() - self.oldest_waiting >= settings.CHAT_FRAME_MAX_WAIT * 0.9
        return self.sent == 0 or waiting >= settings.CHAT_FRAME_TOKENS or old

    async def _pump(self) -> None:
        """Send new text to the group, at most one frame per CHAT_FRAME_INTERVAL."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.resync and not self._frame_due():
                continue
            if self.resync:
                self.resync = False
                self.sent = len(self.parts)
                await self._send("turn.snapshot", text=self.text)
            elif self.sent < len(self.parts):
                delta = "".join(self.parts[self.sent :])
                self.sent = len(self.parts)
                await self._send("turn.delta", text=delta, **self._progress())
            await asyncio.sleep(settings.CHAT_FRAME_INTERVAL)

    def _progress(self) -> dict[str, Any]:
        return {"tokens": len(self.parts), "elapsed": round(time.monotonic() - self.started, 1)}

    async def _listen(self, channel: str, task: asyncio.Task) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except live.LAYER_ERRORS:
                # The layer is down. Wait, then join the group again: a restarted Redis
                # has forgotten it, and Stop must reach this reply once it is back.
                await asyncio.sleep(LAYER_RETRY_INTERVAL)
                await live.join(self.conversation.control_group_name, channel)
                continue
            if message["type"] == "reply.done":
                return
            if self.closing:
                continue
            if message["type"] == "reply.stop":
                self.stop_requested = True
                task.cancel()
            elif message["type"] == "reply.sync":
                self.resync = True
                self.wake.set()

    async def _close_control(self, channel: str, listener: asyncio.Task) -> None:
        """End the listener by a message, not by cancelling it: with channels-redis, a
        receive cancelled mid-read can drop a message meant for another consumer of this
        process (such as a tab's confirmation card)."""
        self.closing = True
        try:
            await self.layer.send(channel, {"type": "reply.done"})
            await asyncio.wait_for(asyncio.shield(listener), CONTROL_CLOSE_TIMEOUT)
        except (*live.LAYER_ERRORS, TimeoutError):
            listener.cancel()  # the layer is down: there is nothing left to drop
        await live.leave(self.conversation.control_group_name, channel)

    async def _checkpoint(self) -> None:
        """Save the text so far now and then; the write also serves as a heartbeat."""
        while True:
            await asyncio.sleep(settings.CHAT_CHECKPOINT_INTERVAL)
            await db.run(
                Message.objects.filter(pk=self.reply.pk).update,
                content=self.text,
                updated_at=timezone.now(),
            )

    async def _send(self, event_type: str, **data: Any) -> None:
        await live.broadcast(
            self.conversation.group_name,
            {"type": event_type, "message_id": self.reply.pk, **data},
        )

    async def _finish(self, status: str, error: str, *, final: bool = True) -> None:
        if self.sent < len(self.parts):
            # Text still waiting for its frame goes out first: delta-only listeners (the
            # SSE endpoint) must receive every token, not only the final render.
            rest, self.sent = "".join(self.parts[self.sent :]), len(self.parts)
            await self._send("turn.delta", text=rest, **self._progress())
        reply = self.reply
        reply.content, reply.status, reply.error = self.text, status, error
        reply.updated_at = timezone.now()
        total = await db.run(_save_final, reply, self.conversation.pk)
        await live.broadcast(
            self.conversation.group_name,
            {
                "type": "turn.finished",
                "reply": reply.as_event(),
                "conversation_cost": {"total": str(total["total"]), "unpriced": total["unpriced"]},
            },
        )
        if final:
            spawn(background.after_reply(self.conversation.pk, reply.pk, self._facts()))

    def _facts(self) -> background.ReplyFacts:
        sent = self.history[1:]  # after the system prompt: any summary, then the messages
        return background.ReplyFacts(
            model=self.conversation.model,
            first_turn=[m["role"] for m in sent].count("user") <= 1
            and all(m["role"] != "system" for m in sent),
            classified=self.conversation.classification_state
            != Conversation.ClassificationState.NONE,
            history_tokens=estimate_prompt_tokens(sent) + estimate_tokens(self.text),
            history_messages=len(sent) + 1,
        )


def _save_final(reply: Message, conversation_id: int) -> dict:
    """Write the reply's end state; return the conversation's cost so far. One trip to
    the database thread for both."""
    # An update, not a save: the conversation may have been deleted meanwhile.
    Message.objects.filter(pk=reply.pk).update(
        content=reply.content,
        status=reply.status,
        error=reply.error,
        model=reply.model,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost=reply.cost,
        tool_calls=reply.tool_calls,
        updated_at=reply.updated_at,
    )
    return UsageRecord.objects.conversation_total(conversation_id)
