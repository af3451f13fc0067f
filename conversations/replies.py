"""A turn's reply being generated: a task that streams every round of the agent loop to
every open tab, and to any other door following the turn (the SSE endpoint).

It belongs to no socket. Deltas go to the conversation's group in frames batched by
`frames.FrameBatcher`; the text is checkpointed every `checkpoint_interval` and written
once more when each message of the turn ends. Every event carries the turn's id (the id
of the user message that opened it). Only `conversations.turns` starts a run.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from agents import loop
from agents.errors import GatewayError
from agents.events import (
    CallContext,
    ConfirmationNeeded,
    Finished,
    Notice,
    ReasoningDelta,
    RoundCapReached,
    TextDelta,
    ToolResult,
    ToolRound,
    Usage,
    Waiting,
)
from agents.tokens import estimate_prompt_tokens, estimate_tokens
from agents.tools import ToolContext
from chatsite import db
from chatsite.compiled import Update
from chatsite.money import plain
from conversations import background, confirmations, ledger, live, tool_turns
from conversations.blocks import StreamedMarkdown
from conversations.facts import ReplyFacts
from conversations.frames import FrameBatcher, FramePolicy
from conversations.models import Conversation, Message
from conversations.rendering import render_markdown

logger = logging.getLogger(__name__)

# How long a reply waits for its control listener to end before cancelling it.
CONTROL_CLOSE_TIMEOUT = 5.0

# How often a reply tries to reach its own listener through a full inbox (about 3 s).
CONTROL_SEND_ATTEMPTS = 6

# How often a reply's control listener retries while the channel layer is down.
LAYER_RETRY_INTERVAL = 1.0

# What the user is told when the model stopped for a reason other than being done.
ENDING_NOTICES = {
    "length": "The answer reached the model's length limit and was cut short.",
    "content_filter": "The model's server filtered this answer; it may be incomplete.",
}

# Strong references to running replies and their helpers, so the loop does not drop them.
_running: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
    """Run `coro` as a task that outlives the request or socket that started it."""
    # A fresh context: a reply started by an HTTP request must not use that request's
    # sync executor, which is gone once the response has been sent.
    task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


# The messages this process is writing now: its sweeper never takes them for dead, even
# when a busy moment delays their checkpoints.
_writing: set[int] = set()


def writing() -> frozenset[int]:
    """Ids of the messages replies of this process are generating now."""
    return frozenset(_writing)


def running_tasks() -> set[asyncio.Task]:
    """Replies and after-reply work still running in this process."""
    return {task for task in _running if not task.done()}


def forget_tasks() -> None:
    """Drop the references to every task (their event loop is closed, as between tests)."""
    _running.clear()


class Phase(enum.Enum):
    """Where a reply is in its life; `_move` allows only the transitions listed."""

    STREAMING = "streaming"  # the model is answering (tool rounds included)
    STOPPING = "stopping"  # the owner asked to stop: the generation is being cancelled
    CLOSING = "closing"  # the end is being written: control messages change nothing
    DONE = "done"


_MOVES = {
    Phase.STREAMING: {Phase.STOPPING, Phase.CLOSING},
    Phase.STOPPING: {Phase.CLOSING},
    Phase.CLOSING: {Phase.DONE},
    Phase.DONE: set(),
}


class TurnState(enum.StrEnum):
    """What a finished message means for its turn (sent with `turn.finished`)."""

    CONTINUES = "continues"  # another round of the same turn follows
    WAITING = "waiting"  # the turn waits for the owner's decision on an action
    DONE = "done"  # the turn is over


@dataclass(frozen=True, slots=True)
class ReplyOptions:
    """Everything a run needs from settings, read once when the turn starts."""

    frames: FramePolicy
    checkpoint_interval: float
    bypass_cache: bool = False  # a regenerated reply must not come from a cache

    @classmethod
    def from_settings(cls, *, bypass_cache: bool = False) -> ReplyOptions:
        policy = FramePolicy(
            interval=settings.CHAT_FRAME_INTERVAL,
            max_tokens=settings.CHAT_FRAME_TOKENS,
            max_wait=settings.CHAT_FRAME_MAX_WAIT,
        )
        return cls(policy, settings.CHAT_CHECKPOINT_INTERVAL, bypass_cache)


@dataclass(frozen=True, slots=True)
class RoundsEnd:
    """How the agent loop ended: a notice for the reply, and whether it waits."""

    notice: str = ""
    waiting: bool = False


def start(
    conversation: Conversation,
    reply: Message,
    history: list[dict],
    *,
    turn_id: int,
    options: ReplyOptions,
    tool_context: ToolContext | None = None,
) -> asyncio.Task:
    """Start generating `reply` (status streaming) for the turn `turn_id`; the tools
    get `tool_context` (the conversation's, when not given)."""
    run = ReplyRun(conversation, reply, history, turn_id, options, tool_context)
    return spawn(run.run())


class ReplyRun:
    """One turn's generation, from its first round to its last message's status."""

    def __init__(
        self,
        conversation: Conversation,
        reply: Message,
        history: list[dict],
        turn_id: int,
        options: ReplyOptions,
        tool_context: ToolContext | None = None,
    ) -> None:
        self.conversation = conversation
        self.tool_context = tool_context or tool_turns.tool_context(conversation)
        self.reply = reply
        self.history = history
        self.turn_id = turn_id
        self.options = options
        self.layer = get_channel_layer()
        self.batcher = FrameBatcher(options.frames)
        # What the tabs show formatted; a reply asked to go on starts from its text.
        self.markdown = StreamedMarkdown.resumed(reply.content)
        if reply.content:  # asked to go on: the tabs already show what it said
            self.batcher.parts, self.batcher.sent = [reply.content], 1
        self.thinking = FrameBatcher(options.frames)  # reasoning, shown apart
        self.thinking_since: float | None = None
        self.wake = asyncio.Event()
        self.phase = Phase.STREAMING
        self.started = time.monotonic()

    def _move(self, to: Phase) -> None:
        if to not in _MOVES[self.phase]:
            raise RuntimeError(f"A reply cannot go from {self.phase.value} to {to.value}.")
        self.phase = to

    async def run(self) -> None:
        _writing.add(self.reply.pk)
        try:
            await self._run()
        finally:
            _writing.discard(self.reply.pk)

    async def _run(self) -> None:
        control = await self.layer.new_channel()
        await live.join(self.conversation.control_group_name, control)
        listener = spawn(self._listen(control, asyncio.current_task()))
        helpers = [spawn(self._pump()), spawn(self._checkpoint())]
        status, end = Message.Status.COMPLETE, RoundsEnd()
        try:
            end = await self._generate()
        except GatewayError as exc:
            status, end = Message.Status.FAILED, RoundsEnd(exc.display)
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()
            stopped = self.phase is Phase.STOPPING
            status = Message.Status.STOPPED if stopped else Message.Status.INTERRUPTED
        except Exception:
            logger.exception("Reply %s failed", self.reply.pk)
            status, end = Message.Status.FAILED, RoundsEnd("Something went wrong while answering.")
        finally:
            self._move(Phase.CLOSING)
            for helper in helpers:
                helper.cancel()
            await self._close_control(control, listener)
        state = TurnState.WAITING if end.waiting else TurnState.DONE
        try:
            await self._finish(status, end.notice, state)
        except Exception:
            # The database is the truth: a reply it could not write ends as interrupted
            # (the sweeper marks it) with its last checkpoint; the task still ends.
            logger.exception("Could not write the end of reply %s", self.reply.pk)
        self._move(Phase.DONE)

    def _context(self) -> CallContext:
        """Who the next model call is for; its usage row points at the current message."""
        return CallContext(
            purpose="chat",
            user_id=self.conversation.owner_id,
            conversation_id=self.conversation.pk,
            bypass_cache=self.options.bypass_cache,
            message_id=self.reply.pk,
        )

    async def _generate(self) -> RoundsEnd:
        """Run the agent loop, every round of it, to its end."""
        waiting = False
        events = loop.run_agent(
            self.history,
            model=self.conversation.model,
            context=self._context(),
            tool_context=self.tool_context,
            next_round=self._next_round,
        )
        async for event in events:
            if isinstance(event, TextDelta):
                self._add_text(event.text)
            elif isinstance(event, ReasoningDelta):
                self._add_reasoning(event.text)
            elif isinstance(event, Notice):
                await self._notice(event.text)
            elif isinstance(event, Usage):
                continue  # the message's usage is read from its rows when it ends
            elif isinstance(event, Finished):
                await self._ended(event)
            elif isinstance(event, Waiting):
                await self._send("turn.waiting", seconds=event.seconds)
            elif isinstance(event, RoundCapReached):
                return RoundsEnd(
                    f"Stopped after {event.rounds} rounds of tool calls without an answer."
                )
            else:
                waiting = await self._on_tool_event(event) or waiting
        return RoundsEnd(waiting=waiting)

    async def _ended(self, finished: Finished) -> None:
        self.reply.model = finished.model
        self.reply.finish_reason = finished.finish_reason or ""
        if finished.finish_reason in ENDING_NOTICES:
            await self._notice(ENDING_NOTICES[finished.finish_reason])

    async def _notice(self, text: str) -> None:
        """Something the user should know about this reply: shown now, kept with it."""
        if text not in self.reply.notices:
            self.reply.notice = "\n".join([*self.reply.notices, text])
            await self._send("turn.notice", text=text)

    def _add_reasoning(self, text: str) -> None:
        now = time.monotonic()
        self.thinking_since = self.thinking_since or now
        self.reply.reasoning_seconds = round(now - self.thinking_since, 1)
        if self.thinking.add(text, now):
            self.wake.set()
        elif self.thinking.waiting == 1:
            asyncio.get_running_loop().call_later(self.options.frames.max_wait, self.wake.set)

    async def _on_tool_event(self, event: object) -> bool:
        """Tool rounds: store the calls, show each result or card. True for a card."""
        if isinstance(event, ToolRound):
            self.reply.tool_calls = [loop.call_dict(c) for c in event.calls]
            await db.run(
                Message.objects.filter(pk=self.reply.pk).update, tool_calls=self.reply.tool_calls
            )
        elif isinstance(event, ToolResult):
            await tool_turns.record_result(self.conversation, event, turn_id=self.turn_id)
        elif isinstance(event, ConfirmationNeeded):
            await confirmations.request(self.conversation, self.reply, event, turn_id=self.turn_id)
            return True
        return False

    async def _next_round(self) -> CallContext:
        """Every call of the round is answered: end this message, open the next one."""
        await self._finish(Message.Status.COMPLETE, "", TurnState.CONTINUES)
        _writing.discard(self.reply.pk)
        self.reply = await db.run(tool_turns.open_reply, self.conversation)
        _writing.add(self.reply.pk)
        self.batcher.restart()
        self.markdown = StreamedMarkdown()
        self.thinking.restart()
        self.thinking_since = None
        await self._send("turn.resumed", reply=self.reply.as_event())
        return self._context()

    def _add_text(self, text: str) -> None:
        now = time.monotonic()
        if self.batcher.add(text, now):
            self.wake.set()
        elif self.batcher.waiting == 1:
            delay = self.options.frames.max_wait
            asyncio.get_running_loop().call_later(delay, self.wake.set)

    async def _pump(self) -> None:
        """Send new text to the group, at most one frame per frame interval."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            now = time.monotonic()
            if self.thinking.due(now):
                seconds = self.reply.reasoning_seconds
                await self._send("turn.reasoning", text=self.thinking.take(), seconds=seconds)
            if not self.batcher.due(now):
                continue
            if self.batcher.waiting:
                await self._send_delta()
            if self.batcher.snapshot_to:
                await self._send_snapshots()
            await asyncio.sleep(self.options.frames.interval)

    async def _send_delta(self) -> None:
        """The text not yet sent; with the HTML of the markdown blocks it closed (once
        for every tab: rendering and sanitizing happen here, not per socket)."""
        text = self.batcher.take()
        html = self.markdown.feed(text)
        closed = {"html": html, "tail": self.markdown.tail} if html else {}
        await self._send("turn.delta", text=text, **closed, **self._progress())

    async def _send_snapshots(self) -> None:
        """The text so far to each socket that asked, and to it alone: a reconnect
        costs one copy of the text, not one per open tab."""
        channels, text = self.batcher.take_snapshot()
        cut = self.markdown.rendered  # as the later frames expect the tab to show it
        event = {"type": "turn.snapshot", "turn": self.turn_id, "message_id": self.reply.pk}
        event |= {"text": text, "html": render_markdown(text[:cut]), "tail": text[cut:]}
        for channel in channels:
            await live.send_to(channel, event)

    def _progress(self) -> dict[str, Any]:
        tokens = len(self.batcher.parts)
        return {"tokens": tokens, "elapsed": round(time.monotonic() - self.started, 1)}

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
            if self.phase is not Phase.STREAMING:
                continue
            if message["type"] == "reply.stop":
                self._move(Phase.STOPPING)
                task.cancel()
            elif message["type"] == "reply.sync" and message.get("reply_to"):
                self.batcher.snapshot_to.add(message["reply_to"])
                self.wake.set()

    async def _close_control(self, channel: str, listener: asyncio.Task) -> None:
        """End the listener by a message, not by cancelling it: with channels-redis, a
        receive cancelled mid-read can drop a message meant for another consumer of this
        process (such as a tab's confirmation card). A full inbox is waited out for a
        moment; only a layer that stays down or full makes it a cancel."""
        try:
            await self._send_to_self(channel, {"type": "reply.done"})
            await asyncio.wait_for(asyncio.shield(listener), CONTROL_CLOSE_TIMEOUT)
        except (*live.LAYER_ERRORS, ChannelFull, TimeoutError):
            listener.cancel()
        await live.leave(self.conversation.control_group_name, channel)

    async def _send_to_self(self, channel: str, message: dict) -> None:
        for attempt in range(CONTROL_SEND_ATTEMPTS):
            try:
                await self.layer.send(channel, message)
                return
            except ChannelFull:
                if attempt == CONTROL_SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)  # the process's consumers drain it

    async def _checkpoint(self) -> None:
        """Save the text so far now and then; the write also serves as a heartbeat."""
        while True:
            await asyncio.sleep(self.options.checkpoint_interval)
            await db.run(
                Message.objects.filter(pk=self.reply.pk).update,
                content=self.batcher.text,
                updated_at=timezone.now(),
            )

    async def _send(self, event_type: str, **data: Any) -> None:
        await live.broadcast(
            self.conversation.group_name,
            {"type": event_type, "turn": self.turn_id, "message_id": self.reply.pk, **data},
        )

    async def _finish(self, status: str, error: str, state: TurnState) -> None:
        """Write the current message's end and tell every door what it means."""
        if self.thinking.waiting:
            seconds = self.reply.reasoning_seconds
            await self._send("turn.reasoning", text=self.thinking.take(), seconds=seconds)
        if self.batcher.waiting:
            # Text still waiting for its frame goes out first: delta-only listeners (the
            # SSE endpoint) must receive every token, not only the final render.
            await self._send_delta()
        reply = self.reply
        reply.content, reply.status, reply.error = self.batcher.text, status, error
        reply.reasoning = self.thinking.text
        reply.updated_at = timezone.now()
        turn = None if state is TurnState.CONTINUES else self.turn_id
        total, usage = await db.run(_save_final, reply, self.conversation.pk, turn)
        await self._send(
            "turn.finished",
            reply=reply.as_event(),
            # The body as the tabs show it from now on, rendered once for all of them
            # from the blocks already rendered while it streamed.
            html=self.markdown.final_html(reply.content),
            state=state.value,
            usage=usage,
            conversation_cost={"total": plain(total["total"]), "unpriced": total["unpriced"]},
        )
        if state is not TurnState.CONTINUES and status == Message.Status.COMPLETE:
            spawn(background.after_reply(self.conversation.pk, reply.pk, self._facts()))

    def _facts(self) -> ReplyFacts:
        sent = self.history[1:]  # after the system prompt: any summary, then the messages
        return ReplyFacts(
            model=self.conversation.model,
            first_turn=[m["role"] for m in sent].count("user") <= 1
            and all(m["role"] != "system" for m in sent),
            classified=self.conversation.classification_state
            != Conversation.ClassificationState.NONE,
            history_tokens=estimate_prompt_tokens(sent) + estimate_tokens(self.batcher.text),
            history_messages=len(sent) + 1,
        )


def _save_final(
    reply: Message, conversation_id: int, turn_id: int | None
) -> tuple[dict, dict | None]:
    """Write the message's end state with its usage from the ledger; return the
    conversation's cost so far and, when the turn ends, the turn's usage. One trip to
    the database thread for all."""
    total, usage = ledger.message_end(reply, conversation_id, turn_id)
    # An update, not a save: the conversation may have been deleted meanwhile.
    _FINAL.run(reply.pk, *(getattr(reply, name) for name in FINAL_FIELDS))
    return total, usage


# What a message's end writes, by one UPDATE built once (chatsite/compiled.py).
FINAL_FIELDS = (
    "content",
    "status",
    "error",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "usage_estimated",
    "tool_calls",
    "reasoning",
    "reasoning_seconds",
    "finish_reason",
    "notice",
    "updated_at",
)
_FINAL = Update(Message, FINAL_FIELDS)
