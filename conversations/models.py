from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from agents.structured import Category
from chatsite.fields import ClippedCharField
from chatsite.money import plain

TITLE_MAX_CHARS = 200


class ConversationQuerySet(models.QuerySet):
    def for_user(self, user) -> ConversationQuerySet:
        """Only the conversations `user` owns: the one way views and sockets look them up."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)


class Conversation(models.Model):
    DEFAULT_TITLE = "New conversation"

    class ClassificationState(models.TextChoices):
        NONE = "", "Not classified"
        PENDING = "pending", "Classifying"
        DONE = "done", "Classified"
        FAILED = "failed", "Classification failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=TITLE_MAX_CHARS, default=DEFAULT_TITLE)
    model = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # What the conversation is about, from the model (see conversations.classification).
    # A failed run keeps the last good result and says so in the state.
    category = models.CharField(max_length=20, choices=Category.choices, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    classification_reasoning = models.TextField(blank=True)
    classification_state = models.CharField(
        max_length=20, choices=ClassificationState.choices, blank=True, default=""
    )
    classification_error = ClippedCharField(max_length=500, blank=True)
    classified_at = models.DateTimeField(null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # The sidebar: one user's conversations, most recently active first.
            models.Index(fields=["owner", "-updated_at"], name="conversation_recent_idx"),
            # The admin's filters by category and by confidence range.
            models.Index(fields=["category", "confidence"], name="conversation_category_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                name="conversation_confidence_0_to_1",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("conversations:detail", args=[self.pk])

    @property
    def group_name(self) -> str:
        """The channel-layer group every open tab of this conversation listens to."""
        return f"conversation-{self.pk}"

    @property
    def control_group_name(self) -> str:
        """The group a running reply listens to for Stop and resync requests."""
        return f"conversation-{self.pk}-control"


def stale_cutoff(seconds: float):
    """A streaming reply last checkpointed before this has lost its writer."""
    return timezone.now() - timedelta(seconds=seconds)


class MessageQuerySet(models.QuerySet):
    def streaming(self) -> MessageQuerySet:
        return self.filter(status=Message.Status.STREAMING)

    def stale(self, seconds: float) -> MessageQuerySet:
        """Replies still marked streaming whose writer stopped checkpointing."""
        return self.streaming().filter(updated_at__lt=stale_cutoff(seconds))


class Message(models.Model):
    # The body's HTML when it was rendered already (a reply's final frame carries it):
    # not a column; a message read from the database renders its content.
    body_html: SafeString | None = None

    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        TOOL = "tool", "Tool"

    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        STREAMING = "streaming", "Streaming"
        STOPPED = "stopped", "Stopped"
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETE)
    error = ClippedCharField(max_length=500, blank=True)
    model = ClippedCharField(max_length=100, blank=True, help_text="The model that served it.")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    # USD for the reply's model calls; null while unknown or when the model is unpriced.
    cost = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    # Some of its calls' tokens were estimated (the server reported none for them).
    usage_estimated = models.BooleanField(default=False)
    # An assistant message's tool calls ([{"id", "name", "arguments"}]); a tool message
    # answers one of them by `tool_call_id` and repeats its name and arguments for display.
    tool_calls = models.JSONField(default=list, blank=True)
    tool_call_id = models.CharField(max_length=100, blank=True)
    tool_name = ClippedCharField(max_length=100, blank=True)
    tool_arguments = models.TextField(blank=True)
    # What a reasoning model thought before answering: shown apart, never sent back.
    reasoning = models.TextField(blank=True)
    reasoning_seconds = models.FloatField(null=True, blank=True)
    # Why the model stopped ("stop", "length", "content_filter", ...), and what the user
    # should know about how the reply ran (one notice a line).
    finish_reason = models.CharField(max_length=20, blank=True)
    notice = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Doubles as the streaming heartbeat: every checkpoint moves it.
    updated_at = models.DateTimeField(default=timezone.now)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            # Recovery sweeps look for replies left streaming by a dead process.
            models.Index(fields=["status", "updated_at"], name="message_status_idx"),
            # A conversation's history a page at a time, by keyset on id (history.py).
            models.Index(fields=["conversation", "-id"], name="message_history_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:50]}"

    @property
    def is_streaming(self) -> bool:
        return self.status == self.Status.STREAMING

    @property
    def dom_id(self) -> str:
        return f"msg-{self.pk}"

    def as_event(self) -> dict:
        """The fields a websocket frame needs, small enough for the channel layer."""
        return {
            "id": self.pk,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "error": self.error,
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": plain(self.cost),
            "usage_estimated": self.usage_estimated,
            "tool_calls": self.tool_calls,
            "tool_call_id": self.tool_call_id,
            "tool_name": self.tool_name,
            "tool_arguments": self.tool_arguments,
            "reasoning": self.reasoning,
            "reasoning_seconds": self.reasoning_seconds,
            "finish_reason": self.finish_reason,
            "notice": self.notice,
        }

    @classmethod
    def from_event(cls, data: dict) -> Message:
        return cls(
            pk=data["id"],
            role=data["role"],
            content=data["content"],
            status=data["status"],
            error=data.get("error", ""),
            model=data.get("model", ""),
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            cost=None if data.get("cost") is None else Decimal(data["cost"]),
            usage_estimated=data.get("usage_estimated", False),
            tool_calls=data.get("tool_calls", []),
            tool_call_id=data.get("tool_call_id", ""),
            tool_name=data.get("tool_name", ""),
            tool_arguments=data.get("tool_arguments", ""),
            reasoning=data.get("reasoning", ""),
            reasoning_seconds=data.get("reasoning_seconds"),
            finish_reason=data.get("finish_reason", ""),
            notice=data.get("notice", ""),
        )

    @property
    def notices(self) -> list[str]:
        return [line for line in self.notice.splitlines() if line]

    @property
    def can_continue(self) -> bool:
        """The model stopped at its length limit: it may be asked to go on."""
        return self.finish_reason == "length" and self.status == Message.Status.COMPLETE


class ToolConfirmationQuerySet(models.QuerySet):
    def for_user(self, user) -> ToolConfirmationQuerySet:
        """Only confirmations of `user`'s own conversations."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)

    def pending(self) -> ToolConfirmationQuerySet:
        return self.filter(status=ToolConfirmation.Status.PENDING)


class ToolConfirmation(models.Model):
    """A sensitive tool call waiting for (or decided by) the conversation's owner.

    It outlives its conversation (a deleted conversation keeps its audit trail), so the
    owner is kept on the row itself.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for you"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Cancelled"
        EXPIRED = "expired", "Expired"
        EXECUTED = "executed", "Done"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tool_confirmations"
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="confirmations",
    )
    # The assistant message whose tool call this is.
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="confirmations"
    )
    tool_call_id = models.CharField(max_length=100)
    tool_name = ClippedCharField(max_length=100)
    arguments = models.JSONField(default=dict)
    summary = ClippedCharField(max_length=500, help_text="What will happen, in plain words.")
    server = ClippedCharField(
        max_length=100, blank=True, help_text="The outside (MCP) server the tool runs on, if any."
    )
    # The card offers "Allow for this conversation" (the tool's policy permits it).
    may_allow_in_conversation = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    executed_at = models.DateTimeField(null=True, blank=True)
    result = models.TextField(blank=True)

    objects = ToolConfirmationQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            # "Is anything waiting in this conversation?" on every message sent.
            models.Index(fields=["conversation", "status"], name="confirmation_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.status})"

    @property
    def dom_id(self) -> str:
        return f"confirmation-{self.pk}"

    @property
    def is_open(self) -> bool:
        """Still decidable: pending and not past its expiry."""
        return self.status == self.Status.PENDING and timezone.now() < self.expires_at

    def as_event(self) -> dict:
        """The fields a card needs, small enough for the channel layer."""
        return {
            "id": self.pk,
            "tool_name": self.tool_name,
            "arguments": self.arguments,
            "summary": self.summary,
            "server": self.server,
            "may_allow_in_conversation": self.may_allow_in_conversation,
            "status": self.status,
            "result": self.result,
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_event(cls, data: dict) -> ToolConfirmation:
        return cls(
            pk=data["id"],
            tool_name=data["tool_name"],
            arguments=data["arguments"],
            summary=data["summary"],
            server=data.get("server", ""),
            may_allow_in_conversation=data.get("may_allow_in_conversation", False),
            status=data["status"],
            result=data["result"],
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )


class SummaryQuerySet(models.QuerySet):
    def complete(self) -> SummaryQuerySet:
        return self.filter(status=Summary.Status.COMPLETE)

    def newest_complete(self) -> SummaryQuerySet:
        """Complete summaries, the one the next prompt carries first."""
        return self.complete().order_by("-up_to_message_id", "-id")

    def current(self) -> Summary | None:
        """The summary the next prompt carries: the newest complete one."""
        return self.newest_complete().first()


class Summary(models.Model):
    """The running summary of a conversation's older messages (those up to message id N).

    Each new summary folds in the previous one, so only the newest complete row is sent
    to the model. A failed attempt is kept as a row too, so staff can see it.
    """

    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="summaries"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETE)
    # A plain id, not a foreign key: messages and summaries are cleared together.
    up_to_message_id = models.PositiveBigIntegerField(
        help_text="The summary covers every message up to and including this id."
    )
    folded_messages = models.PositiveIntegerField(
        default=0, help_text="How many messages this step folded into the summary."
    )
    text = models.TextField(blank=True)
    tokens = models.PositiveIntegerField(default=0, help_text="Tokens of the summary text.")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    model = ClippedCharField(max_length=100, blank=True, help_text="The model that wrote it.")
    error = ClippedCharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SummaryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "summaries"
        indexes = [
            # Every prompt looks up the conversation's newest complete summary.
            models.Index(
                fields=["conversation", "status", "-up_to_message_id"],
                name="summary_current_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Summary up to message {self.up_to_message_id} ({self.get_status_display()})"

    @property
    def dom_id(self) -> str:
        return f"summary-{self.pk}"
