"""The payment tool: pay from the user's ledger, only after the user confirmed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from agents.tools import ToolContext, tool
from payments import services


def _describe_payment(context: ToolContext, arguments: dict[str, Any]) -> str:
    """The payment exactly as it would be made (the same normalising as the payment)."""
    fields = ("recipient", "amount", "currency", "memo")
    try:
        return str(services.normalise(**{field: arguments.get(field, "") for field in fields}))
    except ValidationError as exc:
        return f"This payment cannot be made: {' '.join(exc.messages)}"


@tool(sensitive=True, describe=_describe_payment)
def make_payment(
    context: ToolContext, recipient: str, amount: Decimal, currency: str, memo: str
) -> str:
    """Pay an amount to a recipient; the payment is recorded in the ledger.

    recipient: who receives the money
    amount: a positive amount with at most two decimal places, e.g. "5.00"
    currency: an ISO 4217 code such as EUR or USD
    memo: a short note for the recipient
    """
    payment = services.make_payment(
        context.user, recipient=recipient, amount=amount, currency=currency, memo=memo
    )
    return (
        f"Paid {payment.amount} {payment.currency} to {payment.recipient} "
        f"(reference {payment.reference})."
    )
