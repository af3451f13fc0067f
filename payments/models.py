from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Payment(models.Model):
    """One payment made on a user's behalf (after they confirmed it): the ledger."""

    class Status(models.TextChoices):
        RECORDED = "recorded", "Recorded"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    recipient = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECORDED)
    backend = models.CharField(max_length=200, help_text="The backend that handled it.")
    reference = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} to {self.recipient}"
