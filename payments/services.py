"""Validating and recording payments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from chatsite.text_limits import check_length
from payments.backends import get_backend
from payments.currencies import ISO_4217
from payments.models import Payment

MAX_AMOUNT = Decimal("1000000.00")
RECIPIENT_MAX_CHARS = 200
MEMO_MAX_CHARS = 500
# Plain decimal notation only: "0.01e5" or "1_000" would pay something other than what
# a person reads.
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class PaymentOrder:
    """A payment exactly as it will be executed: what the confirmation card shows."""

    recipient: str
    amount: Decimal
    currency: str
    memo: str

    def __str__(self) -> str:
        return f"Pay {self.amount} {self.currency} to {self.recipient} (memo: “{self.memo}”)."


def normalise(*, recipient: object, amount: object, currency: object, memo: object) -> PaymentOrder:
    """The payment the arguments describe, normalised; `ValidationError` says what is wrong."""
    recipient = " ".join(str(recipient).split())
    if not recipient:
        raise ValidationError("A payment needs a recipient.")
    return PaymentOrder(
        recipient=check_length(recipient, what="The recipient", limit=RECIPIENT_MAX_CHARS),
        amount=clean_amount(amount),
        currency=clean_currency(currency),
        memo=check_length(str(memo).strip(), what="The memo", limit=MEMO_MAX_CHARS),
    )


def clean_amount(amount: object) -> Decimal:
    """A positive amount with at most two decimal places, as a Decimal."""
    text = str(amount).strip()
    if isinstance(amount, bool) or not _AMOUNT.fullmatch(text):
        raise ValidationError(f"Not an amount: {amount!r}.")
    value = Decimal(text)
    if value <= 0:
        raise ValidationError("The amount must be a positive number.")
    if value.as_tuple().exponent < -2:
        raise ValidationError("The amount can have at most two decimal places.")
    if value > MAX_AMOUNT:
        raise ValidationError(f"The amount is above the limit of {MAX_AMOUNT}.")
    return value.quantize(Decimal("0.01"))


def clean_currency(currency: object) -> str:
    code = str(currency).strip().upper()
    if code not in ISO_4217:
        raise ValidationError(f"Not an ISO 4217 currency code: {currency!r}.")
    return code


def make_payment(user, *, recipient: str, amount: object, currency: object, memo: str) -> Payment:
    """Validate (as `normalise`, so it pays what the card showed), record in the ledger,
    then hand to the configured backend."""
    order = normalise(recipient=recipient, amount=amount, currency=currency, memo=memo)
    with transaction.atomic():
        payment = Payment.objects.create(
            owner=user,
            recipient=order.recipient,
            amount=order.amount,
            currency=order.currency,
            memo=order.memo,
            backend=type(get_backend()).__name__,
        )
    backend = get_backend()
    try:
        payment.reference = backend.pay(payment)
    except Exception:
        payment.status = Payment.Status.FAILED
        payment.save(update_fields=["status"])
        raise
    if getattr(backend, "moves_money", True):
        payment.status = Payment.Status.SENT
    payment.save(update_fields=["reference", "status"])
    return payment
