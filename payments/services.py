"""Validating and recording payments."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from payments.backends import get_backend
from payments.currencies import ISO_4217
from payments.models import Payment

MAX_AMOUNT = Decimal("1000000.00")


def clean_amount(amount: object) -> Decimal:
    """A positive amount with at most two decimal places, as a Decimal."""
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"Not an amount: {amount!r}.") from None
    if not value.is_finite() or value <= 0:
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
    """Validate, record in the ledger, then hand to the configured backend."""
    recipient = " ".join(str(recipient).split())[:200]
    if not recipient:
        raise ValidationError("A payment needs a recipient.")
    with transaction.atomic():
        payment = Payment.objects.create(
            owner=user,
            recipient=recipient,
            amount=clean_amount(amount),
            currency=clean_currency(currency),
            memo=str(memo)[:500],
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
