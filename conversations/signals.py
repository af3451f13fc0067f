"""Receivers that keep other apps' records right when conversations change."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from accounts.sessions import user_group
from agents import usage
from agents.models import UsageRecord, remember_deleted_conversation
from chatsite import db
from chatsite.money import plain
from conversations import live
from conversations.models import Conversation
from conversations.replies import spawn


@receiver(pre_delete, sender=Conversation)
def keep_title_for_usage(sender: type[Conversation], instance: Conversation, **kwargs: Any) -> None:
    """Calls of a conversation deleted mid-reply still record which one they served."""
    remember_deleted_conversation(instance.pk, instance.title)


@receiver(user_logged_out)
def close_sockets_on_logout(sender: type, user: Any, **kwargs: Any) -> None:
    """The user's open sockets check their session again (a logged-out one closes)."""
    if user is not None:
        _tell_sockets(user.pk)


@receiver(post_save, sender=get_user_model())
def close_sockets_on_account_change(sender: type, instance: Any, **kwargs: Any) -> None:
    """A new password or a deactivation ends sessions: their sockets close too."""
    if set(kwargs.get("update_fields") or ()) != {"last_login"}:
        _tell_sockets(instance.pk)


def _tell_sockets(user_id: int) -> None:
    _tell(user_id, {"type": "session.check"})


def _tell(user_id: int, event: dict[str, Any]) -> None:
    """Send `event` to every open socket of the user, from sync or async code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # sync code, as in a view or the admin: the usual case
        async_to_sync(live.broadcast)(user_group(user_id), event)
    else:  # saved from async code on the loop's own thread
        spawn(live.broadcast(user_group(user_id), event))


@receiver(post_save, sender=Conversation)
def show_in_every_sidebar(sender: type, instance: Conversation, created: bool, **kwargs: Any):
    """Every open tab of the owner lists a new conversation and follows a new title."""
    fields = kwargs.get("update_fields")
    if created:
        _tell(instance.owner_id, {"type": "sidebar.added", **_item(instance)})
    elif fields is None or "title" in fields:
        _tell(instance.owner_id, {"type": "conversation.titled", **_item(instance)})


@receiver(post_delete, sender=Conversation)
def leave_every_sidebar(sender: type, instance: Conversation, **kwargs: Any) -> None:
    """Its tabs go to the list with a notice; every other tab drops it from the list."""
    _tell(instance.owner_id, {"type": "conversation.deleted", **_item(instance)})


def _item(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "title": conversation.title,
        "url": conversation.get_absolute_url(),
    }


@receiver(usage.recorded)
async def show_new_cost(sender: type[UsageRecord], row: UsageRecord, **kwargs: Any) -> None:
    """A background call (title, classification, summary, extraction) of a conversation
    is recorded after its reply's last frame: every open tab gets the new total then."""
    if row.conversation_id is None or row.purpose == "chat":
        return
    total = await db.run(UsageRecord.objects.conversation_total, row.conversation_id)
    cost = {"total": plain(total["total"]), "unpriced": total["unpriced"]}
    group = Conversation(pk=row.conversation_id).group_name
    await live.broadcast(group, {"type": "conversation.cost", "conversation_cost": cost})
