"""The conversation's websocket: a thin door between the browser and the services."""

from __future__ import annotations

import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from accounts.middleware import display_zone
from accounts.models import Profile
from accounts.sessions import still_signed_in, user_group
from chatsite import db
from conversations import classification, fragments, live, services, turns
from conversations.models import Conversation, Message, Summary, ToolConfirmation

logger = logging.getLogger(__name__)

# Close codes sent before the handshake completes (the browser sees a refused socket).
UNAUTHENTICATED = 4401
NOT_FOUND = 4404
# Sent when the tab has not read what it was sent (see static/js/acks.js); it reconnects.
TOO_FAR_BEHIND = 4408
# Sent after the handshake when the channel layer is down; the page reconnects after a
# pause (chat.js). A server may only send 1000 or 3000-4999 itself.
LIVE_UPDATES_UNAVAILABLE = 4503
# What a socket may send besides a message (and "ack", which only counts what it read).
OTHER_ACTIONS = {"stop", "regenerate", "continue", "edit", *turns.DECISIONS}


class ChatConsumer(AsyncJsonWebsocketConsumer):
    conversation: Conversation
    opened = False  # the handshake was accepted
    unread = 0  # characters sent that the tab has not said it read

    async def __call__(self, scope, receive, send) -> None:
        # The ASGI entry point (public): the one place that sees an exception raised
        # while the consumer waits on the channel layer, outside any handler.
        try:
            await super().__call__(scope, receive, send)
        except live.LAYER_ERRORS as exc:
            # The channel layer (Redis) went away: this socket cannot get live updates.
            logger.warning(
                "Closing a conversation socket: the channel layer is unavailable (%r)", exc
            )
            await self._live_updates_unavailable()

    async def dispatch(self, message: dict) -> None:
        # A copy of `channels.consumer.AsyncConsumer.dispatch` without its trip to the
        # database thread (`aclose_old_connections`) before every message: a group event
        # only renders a frame from the event's own data, and a received message does its
        # database work through chatsite.db, which checks its own connections. At dozens
        # of frames per reply per tab those trips queued behind real queries. Channels
        # has no public switch for it; tests/test_private_apis.py fails when the method
        # copied here changes upstream. Connects and disconnects keep the original.
        if message["type"] in ("websocket.connect", "websocket.disconnect"):
            await super().dispatch(message)
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        if not await self._open():
            return
        await self.channel_layer.group_add(self.conversation.group_name, self.channel_name)
        await self.channel_layer.group_add(user_group(self.scope["user"].pk), self.channel_name)
        await self.accept()
        self.opened = True
        # Live updates flow: the page clears any outage notice and, if it was cut off,
        # catches up on what it missed (chat.js).
        await self._send_html("conversations/_live_ok.html")
        await self._catch_up()

    async def _open(self) -> bool:
        """Load the user's conversation, or refuse the socket (not logged in, not theirs)."""
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return False
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        try:
            self.conversation, self.zone = await db.run(
                _conversation_and_zone, user, conversation_id
            )
        except Http404:
            await self.close(code=NOT_FOUND)
            return False
        return True

    async def _live_updates_unavailable(self) -> None:
        """Tell the tab why its socket closes, then close it with a code the client
        reconnects on. Its owner's messages and replies are in the database meanwhile."""
        if not self.opened:
            if not hasattr(self, "conversation") and not await self._open():
                return
            await self.accept()
        await self._send_html("conversations/_live_unavailable.html")
        await self.close(code=LIVE_UPDATES_UNAVAILABLE)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "conversation"):
            await live.leave(self.conversation.group_name, self.channel_name)
            await live.leave(user_group(self.scope["user"].pk), self.channel_name)

    def _session_counts(self) -> bool:
        """Whether the socket's session still counts (on a database thread)."""
        return still_signed_in(self.scope["session"].session_key, self.scope["user"].pk)

    async def _signed_in(self) -> bool:
        """Whether the socket's session still counts; if not, the socket closes."""
        if await db.run(self._session_counts):
            return True
        await self.close(code=UNAUTHENTICATED)
        return False

    async def session_check(self, event: dict) -> None:
        """Logout, a new password or a deactivation somewhere: check this session."""
        await self._signed_in()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        action = content.get("action")
        if action == "ack":
            self._acknowledged(content.get("read"))
            return
        try:
            if isinstance(action, str) and action in OTHER_ACTIONS:
                await self._act(action, content)
            else:  # a message: its session check runs in its turn's own trip
                await turns.send(
                    self.scope["user"],
                    self.conversation.pk,
                    content.get("message"),
                    signed_in=self._session_counts,
                )
        except turns.SignedOut:
            await self.close(code=UNAUTHENTICATED)
        except ValidationError as exc:
            await self._send_html("conversations/_composer_error.html", error=exc.messages[0])
        except Http404:
            await self.close(code=NOT_FOUND)

    async def _act(self, action: str, content: dict) -> None:
        """Any action but a message: the session is checked first."""
        if not await self._signed_in():
            return
        user, conversation_id = self.scope["user"], self.conversation.pk
        if action == "stop":
            await turns.stop(user, conversation_id)
        elif action == "regenerate":
            await turns.regenerate(user, conversation_id, content.get("message_id"))
        elif action == "continue":
            await turns.continue_reply(user, conversation_id, content.get("message_id"))
        elif action == "edit":
            await turns.edit(
                user, conversation_id, content.get("message_id"), content.get("message")
            )
        elif action in turns.DECISIONS:
            await turns.decide_as(user, conversation_id, content.get("confirmation"), action)

    # Events from the conversation's group.

    async def turn_started(self, event: dict) -> None:
        user, reply = Message.from_event(event["user_message"]), Message.from_event(event["reply"])
        with timezone.override(getattr(self, "zone", None)):
            html = fragments.turn_started(user, reply, event["title"])
        await self._send_frame(html)

    async def turn_restarted(self, event: dict) -> None:
        await self._send_html(
            "conversations/_turn_restarted.html",
            removed_ids=event["removed_ids"],
            user_message=Message.from_event(event["user_message"]),
            reply=Message.from_event(event["reply"]),
            streaming=True,
        )

    async def conversation_titled(self, event: dict) -> None:
        """A title changed: this page's header when it is this conversation, and the
        entry in the sidebar either way."""
        await self._send_html(
            "conversations/_titled.html",
            conversation_id=event["conversation_id"],
            title=event["title"],
            here=event["conversation_id"] == self.conversation.pk,
        )

    async def sidebar_added(self, event: dict) -> None:
        await self._send_html("conversations/_sidebar_added.html", item=event)

    async def conversation_deleted(self, event: dict) -> None:
        """Gone: this page goes to the list with a notice; other pages drop its entry."""
        await self._send_html(
            "conversations/_conversation_deleted.html",
            item=event,
            here=event["conversation_id"] == self.conversation.pk,
        )

    async def turn_delta(self, event: dict) -> None:
        message_id = event["message_id"]
        html = fragments.delta(
            message_id, event["text"], html=event.get("html", ""), tail=event.get("tail", "")
        )
        if event.get("tokens") is not None:
            html += fragments.progress(message_id, event["tokens"], event["elapsed"])
        await self._send_frame(html)

    async def turn_reasoning(self, event: dict) -> None:
        await self._send_html(
            "conversations/_reasoning.html",
            message_id=event["message_id"],
            text=event["text"],
            seconds=event.get("seconds"),
        )

    async def turn_notice(self, event: dict) -> None:
        await self._send_html(
            "conversations/_notice.html", message_id=event["message_id"], text=event["text"]
        )

    async def turn_continued(self, event: dict) -> None:
        await self._send_html(
            "conversations/_turn_continued.html", reply=Message.from_event(event["reply"])
        )

    async def turn_waiting(self, event: dict) -> None:
        await self._send_html(
            "conversations/_progress.html",
            message_id=event["message_id"],
            waiting=event["seconds"],
        )

    async def turn_snapshot(self, event: dict) -> None:
        await self._send_html(
            "conversations/_snapshot.html",
            message_id=event["message_id"],
            html=event.get("html", ""),
            tail=event.get("tail", event["text"]),
        )

    async def turn_finished(self, event: dict) -> None:
        message = Message.from_event(event["reply"])
        if event.get("html") is not None:
            # Rendered and sanitized by the reply (conversations.blocks), like a delta's.
            message.body_html = mark_safe(event["html"])  # noqa: S308
        await self._send_html(
            "conversations/_turn_finished.html",
            message=message,
            conversation=self.conversation,
            conversation_cost=event.get("conversation_cost"),
            streaming=False,
        )

    async def conversation_cost(self, event: dict) -> None:
        await self._send_html(
            "conversations/_conversation_cost.html",
            conversation_cost=event["conversation_cost"],
            oob=True,
        )

    async def conversation_classified(self, event: dict) -> None:
        await self._send_html(
            "conversations/_classification.html",
            conversation=classification.apply_event(self.conversation, event),
            oob=True,
        )

    async def turn_resumed(self, event: dict) -> None:
        await self._send_html(
            "conversations/_turn_resumed.html", reply=Message.from_event(event["reply"])
        )

    async def message_appended(self, event: dict) -> None:
        await self._send_html(
            "conversations/_appended.html", message=Message.from_event(event["message"])
        )

    async def confirmation_requested(self, event: dict) -> None:
        await self._send_html(
            "conversations/_appended.html",
            confirmation=ToolConfirmation.from_event(event["confirmation"]),
        )

    async def confirmation_changed(self, event: dict) -> None:
        await self._send_html(
            "conversations/_confirmation.html",
            confirmation=ToolConfirmation.from_event(event["confirmation"]),
            oob=True,
        )

    async def summary_updated(self, event: dict) -> None:
        await self._send_html(
            "conversations/_summary_marker.html",
            summary=Summary(
                pk=event["summary"]["id"],
                up_to_message_id=event["summary"]["up_to_message_id"],
                text=event["summary"]["text"],
            ),
            oob=True,
        )

    # Helpers.

    async def _send_html(self, template: str, **context: Any) -> None:
        if self.unread > settings.CHAT_SOCKET_UNREAD_LIMIT:
            return  # closing: this tab stopped reading
        # Times in frames show in the user's own zone, as on the page.
        with timezone.override(getattr(self, "zone", None)):
            html = render_to_string(template, context)
        await self._send_frame(html)

    async def _send_frame(self, html: str) -> None:
        """Send one frame, unless the tab has stopped reading what it is sent."""
        if self.unread > settings.CHAT_SOCKET_UNREAD_LIMIT:
            return  # closing: this tab stopped reading
        self.unread += len(html)
        if self.unread > settings.CHAT_SOCKET_UNREAD_LIMIT:
            logger.info("Closing a socket whose tab stopped reading (%s unread)", self.unread)
            await self.close(code=TOO_FAR_BEHIND)
            return
        await self.send(text_data=html)

    def _acknowledged(self, read: object) -> None:
        if isinstance(read, int) and read > 0:
            self.unread = max(0, self.unread - read)

    async def _catch_up(self) -> None:
        """A tab that (re)connects mid-reply gets the text so far, then live deltas."""
        if await db.run(self.conversation.messages.streaming().exists):
            await turns.resync(self.conversation, self.channel_name)


def _conversation_and_zone(user, conversation_id: int):
    """The user's conversation (else 404) and the zone its times show in: one trip."""
    conversation = services.get_conversation_for_user(user, conversation_id)
    return conversation, display_zone(Profile.objects.for_user(user))
