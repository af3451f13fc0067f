"""Receivers that keep other apps' records right when conversations change."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from agents import usage
from agents.models import UsageRecord, remember_deleted_conversation
from chatsite import db
from chatsite.money import plain
from conversations import live
from conversations.models import Conversation


@receiver(pre_delete, sender=Conversation)
def keep_title_for_usage(sender: type[Conversation], instance: Conversation, **kwargs: Any) -> None:
    """Calls of a conversation deleted mid-reply still record which one they served."""
    remember_deleted_conversation(instance.pk, instance.title)


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
