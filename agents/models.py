"""What model calls cost: prices, one usage row per call, budgets, personal API tokens."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from chatsite.compiled import Compiled, Insert
from chatsite.fields import ClippedCharField

PER_MILLION = Decimal(1_000_000)
# How long a deleted conversation's title is kept for calls that were still running.
DELETED_TITLE_TTL = 60 * 60


class ModelPrice(models.Model):
    """USD per 1M tokens for one model from `valid_from` on (the newest valid row wins)."""

    model = models.CharField(max_length=100)
    input_per_million = models.DecimalField(max_digits=10, decimal_places=4)
    cached_input_per_million = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Empty when the model has no cached-input discount (input price applies).",
    )
    output_per_million = models.DecimalField(max_digits=10, decimal_places=4)
    valid_from = models.DateField(default=timezone.localdate)
    source = models.CharField(max_length=200, blank=True, help_text="Where and when it was read.")

    class Meta:
        ordering = ["model", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["model", "valid_from"], name="modelprice_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.model} from {self.valid_from}"

    def cost(self, prompt: int, cached: int, completion: int) -> Decimal:
        """Exact cost in USD of one call's tokens at this price."""
        cached_price = self.cached_input_per_million
        if cached_price is None:
            cached_price = self.input_per_million
        total = (
            (prompt - cached) * self.input_per_million
            + cached * cached_price
            + completion * self.output_per_million
        )
        return total / PER_MILLION


class ModelProfile(models.Model):
    """What one model's server accepts, learned or set by staff, and how it is priced.

    Capabilities are yes, no, or unknown (empty): unknown ones are tried, and a server
    that refuses one with a recognisable error teaches the gateway a "no", noted in
    `learned`. The price is the `ModelPrice` rows of `name`; `free` (a local model)
    makes every call cost 0 whatever name the server reports.
    """

    class ReasoningFormat(models.TextChoices):
        NONE = "", "None or unknown"
        THINK_TAGS = "think_tags", "<think> tags in the content"
        REASONING_CONTENT = "reasoning_content", "reasoning_content field (DeepSeek)"
        REASONING = "reasoning", "reasoning field (Ollama, OpenRouter)"

    name = models.CharField(max_length=100, unique=True, help_text="As the server calls it.")
    display_name = models.CharField(max_length=100, blank=True)
    tools = models.BooleanField(null=True, blank=True)
    parallel_tools = models.BooleanField(null=True, blank=True)
    streaming = models.BooleanField(null=True, blank=True)
    stream_options = models.BooleanField(
        null=True, blank=True, help_text="Accepts stream_options (usage at the end of a stream)."
    )
    structured_outputs = models.BooleanField(null=True, blank=True)
    reasoning_format = models.CharField(
        max_length=20, choices=ReasoningFormat.choices, blank=True, default=""
    )
    context_window = models.PositiveIntegerField(null=True, blank=True)
    aliases = models.JSONField(
        default=list,
        blank=True,
        help_text="Other names the server may report for this model or be asked it by "
        '(a LiteLLM alias, an Azure deployment), as a JSON list: ["fast", "prod-mini"].',
    )
    free = models.BooleanField(default=False, help_text="A local model: its calls cost 0.")
    learned = models.TextField(blank=True, help_text="What the server taught the gateway.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name


# A conversation's cost so far, as aggregates over its rows (see `conversation_total`).
CONVERSATION_TOTAL = {
    "total": Coalesce(models.Sum("cost"), Decimal(0), output_field=models.DecimalField()),
    "unpriced": models.Count("id", filter=models.Q(cost__isnull=True)),
}


class UsageRecordQuerySet(models.QuerySet):
    def for_user(self, user) -> UsageRecordQuerySet:
        return self.filter(user=user)

    def conversation_total(self, conversation_id: int) -> dict:
        """What a conversation's calls cost so far (chat, summaries, tools...):
        {"total": USD of the priced calls, "unpriced": how many calls had no price}."""
        return self.filter(conversation_id=conversation_id).aggregate(**CONVERSATION_TOTAL)

    def totals(self) -> dict[str, Any]:
        """What these rows add up to, as a usage line shows it: tokens, cost (None when
        any row is unpriced), whether any is estimated, how many calls and messages."""
        totals = self.aggregate(
            prompt_tokens=Coalesce(models.Sum("prompt_tokens"), 0),
            completion_tokens=Coalesce(models.Sum("completion_tokens"), 0),
            priced=Coalesce(models.Sum("cost"), Decimal(0), output_field=models.DecimalField()),
            unpriced=models.Count("id", filter=models.Q(cost__isnull=True)),
            guessed=models.Count("id", filter=models.Q(estimated=True)),
            calls=models.Count("id"),
            rounds=models.Count("message", distinct=True),
        )
        priced = totals.pop("priced")
        totals["cost"] = None if totals.pop("unpriced") else priced
        totals["estimated"] = bool(totals.pop("guessed"))
        return totals

    def record(self, **fields: Any) -> UsageRecord:
        """Write one call's row. The conversation's id and title are kept in the row, so
        a conversation deleted while its call was in flight leaves the row intact,
        without its links."""
        conversation_id = fields.get("conversation_id")
        title = _conversation_title(conversation_id) if conversation_id else None
        fields |= {"conversation_ref": conversation_id, "conversation_title": title or ""}
        if conversation_id and title is None:
            fields |= {"conversation_id": None, "message_id": None}
        try:
            return _written(fields)
        except IntegrityError:  # deleted between the look-up and the write
            return _written(fields | {"conversation_id": None, "message_id": None})


def _written(fields: dict[str, Any]) -> UsageRecord:
    """A new row and its count in the user's day, together (what `UsageRecord.save`
    does for a new row), the row by an INSERT built once (chatsite/compiled.py)."""
    row = UsageRecord(**fields)
    with transaction.atomic():
        _NEW_RECORD.save([row])
        if row.user_id is not None:
            UsageDay.add(row)
    return row


# The fields of a row that `line_of` adds up.
LINE_FIELDS = ("message_id", "prompt_tokens", "completion_tokens", "cost", "estimated")


def line_of(rows: list[tuple]) -> dict[str, Any]:
    """`totals` of a few rows, each a tuple of its `LINE_FIELDS`, added up here."""
    costs = [row[3] for row in rows]
    return {
        "prompt_tokens": sum(row[1] for row in rows),
        "completion_tokens": sum(row[2] for row in rows),
        "calls": len(rows),
        "rounds": len({row[0] for row in rows if row[0] is not None}),
        "cost": None if None in costs else sum(costs, Decimal(0)),
        "estimated": any(row[4] for row in rows),
    }


def remember_deleted_conversation(conversation_id: int, title: str) -> None:
    """Keep a deleted conversation's title for the usage rows of calls still in flight."""
    cache.set(f"usage:deleted-conversation:{conversation_id}", title, DELETED_TITLE_TTL)


def _title_of(conversation_id: int) -> models.QuerySet:
    conversations = UsageRecord._meta.get_field("conversation").related_model
    return conversations.objects.filter(pk=conversation_id).only("title")


# Read for every usage row: its SQL is built once (chatsite/compiled.py).
_TITLE = Compiled(_title_of, ["int"])


def _conversation_title(conversation_id: int) -> str | None:
    """The conversation's title; for one deleted lately, the title it had; else None."""
    conversation = _TITLE.first(conversation_id)
    if conversation is not None:
        return conversation.title
    return cache.get(f"usage:deleted-conversation:{conversation_id}")


class UsageRecord(models.Model):
    """One model call: who, why, which model, tokens, cost, how it ended."""

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"
        STOPPED = "stopped", "Stopped"
        CUT = "cut", "Cut"
        BLOCKED = "blocked", "Blocked"
        REFUSED = "refused", "Refused"
        INVALID = "invalid", "Invalid answer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    # The conversation's id and title as the call was recorded: kept when it is deleted.
    conversation_ref = models.PositiveBigIntegerField(null=True, blank=True)
    conversation_title = ClippedCharField(max_length=200, blank=True)
    message = models.ForeignKey(
        "conversations.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    purpose = models.CharField(max_length=20, default="chat")
    model_requested = ClippedCharField(max_length=100)
    model_served = ClippedCharField(max_length=100, blank=True)
    # The model this attempt was sent to (a fallback's, not the one asked): its price
    # applies, so the cost can be recomputed from the row.
    model_sent = ClippedCharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Null means unpriced: no ModelPrice for the model served. Never guessed.
    # Twelve places: a call's exact cost (tokens times a price per million) needs up to
    # ten, and a rounded row would make the ledger disagree with the price list.
    cost = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    cost_saved = models.DecimalField(
        max_digits=20, decimal_places=12, null=True, blank=True, help_text="Cache hits only."
    )
    latency_ms = models.PositiveIntegerField(default=0)
    cache_hit = models.BooleanField(default=False)
    estimated = models.BooleanField(default=False, help_text="Tokens estimated, not reported.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    error = ClippedCharField(max_length=300, blank=True)
    # What the model server itself said, and its status, when it refused or failed.
    server_message = ClippedCharField(max_length=300, blank=True)
    server_status = models.PositiveSmallIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    objects = UsageRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Budget checks, the per-user admin page and its drill-down: one user's
            # rows by time. The included columns let PostgreSQL answer the per-user
            # totals with an index-only scan, without touching the table.
            models.Index(
                fields=["user", "created_at"],
                name="usage_user_time_idx",
                include=[
                    "cost",
                    "cost_saved",
                    "prompt_tokens",
                    "completion_tokens",
                    "outcome",
                    "cache_hit",
                ],
            ),
            # The changelist's date hierarchy and newest-first listing.
            models.Index(fields=["created_at"], name="usage_time_idx"),
            # A conversation's running total.
            models.Index(fields=["conversation"], name="usage_conversation_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.model_requested} {self.outcome}"

    def save(self, *args, **kwargs) -> None:
        """A new record also counts in its user's day (see `UsageDay`), atomically."""
        if not self._state.adding or self.user_id is None:
            return super().save(*args, **kwargs)
        # Inside `record`'s own transaction no savepoint is needed: a failure rolls both
        # writes back there.
        with transaction.atomic(savepoint=False):
            super().save(*args, **kwargs)
            UsageDay.add(self)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def served_tokens(self) -> int:
        """Tokens the upstream processed for this call (none for a cache hit)."""
        return 0 if self.cache_hit else self.total_tokens

    @property
    def cache_hit_tokens(self) -> int:
        """Tokens of the original answer a cache hit replayed (never sent upstream)."""
        return self.total_tokens if self.cache_hit else 0

    @property
    def failed(self) -> bool:
        return self.outcome in (self.Outcome.ERROR, self.Outcome.CUT)


# Written for every model call.
_NEW_RECORD = Insert(UsageRecord)


class UsageDay(models.Model):
    """One user's usage on one day (in TIME_ZONE), kept current as records are written.

    The per-user admin page and the budget check sum these few rows instead of
    millions of records.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_days"
    )
    day = models.DateField()
    requests = models.PositiveIntegerField(default=0)
    # Tokens the upstream served; what cache hits replayed is counted apart.
    tokens = models.PositiveBigIntegerField(default=0)
    cache_hit_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=22, decimal_places=12, default=0)
    errors = models.PositiveIntegerField(default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    saved = models.DecimalField(max_digits=22, decimal_places=12, default=0)

    class Meta:
        ordering = ["-day", "user_id"]
        constraints = [
            # Also the index of every query here: one user's days, or one day's users.
            models.UniqueConstraint(fields=["user", "day"], name="usageday_user_day_unique")
        ]
        indexes = [
            # The per-user page's today / this month columns across all users.
            models.Index(fields=["day"], name="usageday_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day}"

    @classmethod
    def add(cls, record: UsageRecord) -> None:
        """Count `record` in its day: an UPDATE, or the day's first row."""
        # One declared zone for every day, not whichever zone the request runs in.
        day = timezone.localdate(record.created_at, timezone.get_default_timezone())
        amounts = {
            "requests": 1,
            "tokens": record.served_tokens,
            "cache_hit_tokens": record.cache_hit_tokens,
            "cost": record.cost or 0,
            "errors": int(record.failed),
            "cache_hits": int(record.cache_hit),
            "saved": record.cost_saved or 0,
        }
        if cls._increment(record.user_id, day, amounts):
            return
        try:
            with transaction.atomic():
                cls.objects.create(user_id=record.user_id, day=day, **amounts)
        except IntegrityError:  # another process wrote the day's first row meanwhile
            cls._increment(record.user_id, day, amounts)

    @classmethod
    def _increment(cls, user_id: int, day: date, amounts: dict[str, Any]) -> int:
        """Add `amounts` to the user's day; the rows changed (0: no row yet). Plain SQL
        written once: on every usage row, the ORM's update of seven sums cost more CPU
        to build than the statement took."""
        connection = connections[router.db_for_write(cls)]
        ops = connection.ops
        table = ops.quote_name(cls._meta.db_table)
        columns = [ops.quote_name(cls._meta.get_field(name).column) for name in amounts]
        sums = ", ".join(f"{column} = {column} + %s" for column in columns)
        user, day_column = (ops.quote_name(cls._meta.get_field(f).column) for f in ("user", "day"))
        # Names from the model's own meta, quoted; every value is bound.
        sql = f"UPDATE {table} SET {sums} WHERE {user} = %s AND {day_column} = %s"  # noqa: S608
        values = [
            ops.adapt_decimalfield_value(value) if isinstance(value, Decimal) else value
            for value in amounts.values()
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*values, user_id, ops.adapt_datefield_value(day)])
            return cursor.rowcount


class UserBudget(models.Model):
    """A user's own monthly budget, overriding LLM_MONTHLY_BUDGET_USD."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="llm_budget"
    )
    monthly_usd = models.DecimalField(
        max_digits=10, decimal_places=2, help_text="USD per calendar month; 0 blocks all calls."
    )

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.user} ${self.monthly_usd}/month"
