"""Payment backends: what happens to a confirmed payment after it is in the ledger.

PAYMENT_BACKEND names the class. A backend gets the saved `Payment` and returns a
reference; raising an exception marks the payment failed.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from payments.models import Payment


class RecordOnlyBackend:
    """Keeps the payment in the ledger and moves no money."""

    moves_money = False

    def pay(self, payment: Payment) -> str:
        return f"ledger-{payment.pk}"


def get_backend() -> RecordOnlyBackend:
    return import_string(settings.PAYMENT_BACKEND)()
