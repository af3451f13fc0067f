"""The built-in tools. Each acts for `context.user` only; the model cannot name a user.

delete_conversation, send_email and make_payment are sensitive (AGENT_SENSITIVE_TOOLS):
the agent loop never runs them; they run once their owner confirmed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db.models import Q
from django.utils import timezone

from agents.calculator import CalculationError
from agents.calculator import calculate as evaluate
from agents.tools import ToolContext, ToolError, tool

SNIPPET_CHARS = 160
MAX_QUERY_CHARS = 200


@tool()
def search(context: ToolContext, query: str) -> list[dict[str, Any]]:
    """Search the user's own conversations for words; returns the best matches.

    query: the words to look for (all must occur)
    """
    from conversations.models import Message

    terms = query.split()[:8] if len(query) <= MAX_QUERY_CHARS else []
    if not terms:
        raise ToolError(f"Give between 1 and 8 words, at most {MAX_QUERY_CHARS} characters.")
    matches = Message.objects.filter(conversation__owner=context.user).exclude(role="tool")
    for term in terms:
        matches = matches.filter(
            Q(content__icontains=term) | Q(conversation__title__icontains=term)
        )
    matches = matches.select_related("conversation").order_by("-created_at")
    return [
        {
            "conversation": m.conversation.title,
            "snippet": _snippet(m.content, terms[0]),
            "link": m.conversation.get_absolute_url(),
        }
        for m in matches[: settings.AGENT_SEARCH_RESULTS]
    ]


def _snippet(text: str, term: str) -> str:
    """A short piece of `text` around the first occurrence of `term`."""
    start = max(0, text.lower().find(term.lower()) - SNIPPET_CHARS // 3)
    piece = " ".join(text[start : start + SNIPPET_CHARS].split())
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(text) else "")


@tool()
def calculate(context: ToolContext, expression: str) -> str:
    """Evaluate an arithmetic expression exactly (+ - * / // % ** and parentheses).

    expression: the arithmetic to evaluate, for example 17*23 or (2+3)**2
    """
    try:
        return str(evaluate(expression))
    except CalculationError as exc:
        raise ToolError(str(exc)) from None


@tool()
def get_date(context: ToolContext) -> str:
    """The current date and time in the user's time zone, as ISO 8601."""
    from accounts.models import Profile

    zone = Profile.objects.for_user(context.user).zone
    return timezone.now().astimezone(zone).isoformat(timespec="seconds")


@tool(sensitive=True)
def delete_conversation(context: ToolContext, conversation_id: int) -> str:
    """Delete one of the user's conversations and all its messages, for good.

    conversation_id: the id of the conversation to delete, or 0 for the current one
    """
    from conversations.models import Conversation

    conversation_id = conversation_id or context.conversation_id or 0
    conversation = Conversation.objects.for_user(context.user).filter(pk=conversation_id).first()
    if conversation is None:
        raise ToolError(f"There is no conversation {conversation_id} of yours.")
    title = conversation.title
    conversation.delete()
    return f"Deleted the conversation {title!r} ({conversation_id})."


@tool(sensitive=True)
def send_email(context: ToolContext, to: str, subject: str, body: str) -> str:
    """Send an email from the site's address.

    to: one email address
    subject: the subject line
    body: the plain-text body
    """
    try:
        validate_email(to)
    except ValidationError:
        raise ToolError(f"Not an email address: {to!r}.") from None
    subject = " ".join(subject.split())[:200]
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    return f"Sent the email {subject!r} to {to}."


@tool(sensitive=True)
def make_payment(
    context: ToolContext, recipient: str, amount: Decimal, currency: str, memo: str
) -> str:
    """Pay an amount to a recipient; the payment is recorded in the ledger.

    recipient: who receives the money
    amount: a positive amount with at most two decimal places, e.g. "5.00"
    currency: an ISO 4217 code such as EUR or USD
    memo: a short note for the recipient
    """
    from payments.services import make_payment as record_payment

    payment = record_payment(
        context.user, recipient=recipient, amount=amount, currency=currency, memo=memo
    )
    return (
        f"Paid {payment.amount} {payment.currency} to {payment.recipient} "
        f"(reference {payment.reference})."
    )


def describe(user, name: str, arguments: dict[str, Any], *, conversation_id: int = 0) -> str:
    """What a sensitive call will do, in plain words, for the confirmation card.

    `conversation_id` is the current conversation (what `conversation_id` 0 means).
    """
    if name == "delete_conversation":
        target = arguments.get("conversation_id") or conversation_id
        return f"Delete conversation {_title_of(user, target)} for good."
    if name == "send_email":
        return (
            f"Send an email to {arguments.get('to')} with the subject “{arguments.get('subject')}”."
        )
    if name == "make_payment":
        return _payment_summary(arguments)
    return f"Run the tool {name}."


def _payment_summary(arguments: dict[str, Any]) -> str:
    """The payment exactly as it would be made (the same normalising as the payment)."""
    from payments.services import normalise

    fields = ("recipient", "amount", "currency", "memo")
    try:
        return str(normalise(**{field: arguments.get(field, "") for field in fields}))
    except ValidationError as exc:
        return f"This payment cannot be made: {' '.join(exc.messages)}"


def _title_of(user, conversation_id: Any) -> str:
    from conversations.models import Conversation

    conversation = Conversation.objects.for_user(user).filter(pk=conversation_id).first()
    return f"“{conversation.title}” (#{conversation_id})" if conversation else f"#{conversation_id}"
