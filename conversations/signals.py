"""Receivers that keep other apps' records right when conversations change."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from agents.models import remember_deleted_conversation
from conversations.models import Conversation


@receiver(pre_delete, sender=Conversation)
def keep_title_for_usage(sender: type[Conversation], instance: Conversation, **kwargs: Any) -> None:
    """Calls of a conversation deleted mid-reply still record which one they served."""
    remember_deleted_conversation(instance.pk, instance.title)
