from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

CONTACT_FIELDS = ("name", "email", "phone", "company")


def normalize_email(email: str) -> str:
    """The form an email is compared in: no surrounding space, lower case."""
    return (email or "").strip().lower()


def normalize_phone(phone: str) -> str:
    """Digits only (a leading + kept), so "+1 (555) 123" and "+1555123" match."""
    phone = (phone or "").strip()
    digits = re.sub(r"\D", "", phone)
    return f"+{digits}" if phone.startswith("+") and digits else digits


class ContactQuerySet(models.QuerySet):
    def for_user(self, user) -> ContactQuerySet:
        """Only the contacts `user` owns: the one way views look them up."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)

    def search(self, query: str) -> ContactQuerySet:
        query = query.strip()
        if not query:
            return self
        return self.filter(
            Q(name__icontains=query)
            | Q(email__icontains=query)
            | Q(phone__icontains=query)
            | Q(company__icontains=query)
        )


class Contact(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    company = models.CharField(max_length=200, blank=True)
    # Kept in step with email and phone by save(); duplicates are found through them.
    email_normalized = models.CharField(max_length=254, blank=True, editable=False)
    phone_normalized = models.CharField(max_length=50, blank=True, editable=False)
    source_message = models.ForeignKey(
        "conversations.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        help_text="The message the contact was extracted from.",
    )
    source_text = models.TextField(blank=True, help_text="The pasted text it came from.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # One contact per email per owner: extraction merges into it.
            models.UniqueConstraint(
                fields=["owner", "email_normalized"],
                condition=~Q(email_normalized=""),
                name="contact_unique_email_per_owner",
            ),
        ]
        indexes = [
            # Duplicate lookups by phone when a contact has no email.
            models.Index(fields=["owner", "phone_normalized"], name="contact_phone_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or self.company or f"Contact {self.pk}"

    def save(self, *args, **kwargs) -> None:
        self.email_normalized = normalize_email(self.email)
        self.phone_normalized = normalize_phone(self.phone)
        if self.pk:
            self.updated_at = timezone.now()
        if (fields := kwargs.get("update_fields")) is not None:
            kwargs["update_fields"] = {*fields, "email_normalized", "phone_normalized"}
            kwargs["update_fields"].add("updated_at")
        super().save(*args, **kwargs)

    def fill_blanks_from(self, other: dict[str, str]) -> bool:
        """Take the values this contact lacks from `other`; True when any changed."""
        changed = False
        for field in CONTACT_FIELDS:
            if not getattr(self, field) and other.get(field):
                setattr(self, field, other[field])
                changed = True
        return changed
