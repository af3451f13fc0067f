"""What people do with contacts: extract them from a message or pasted text, merge
duplicates, edit, delete. Each function takes the user first and looks data up
through its owner, so nobody reaches another user's contacts or messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from agents import structured
from agents.events import CallContext
from contacts.models import CONTACT_FIELDS, Contact, normalize_email, normalize_phone
from conversations.models import Conversation, Message

NO_CONTACTS = "No contacts found."


@dataclass
class Extraction:
    """What one extraction saved: new contacts and existing ones merged into."""

    created: list[Contact] = field(default_factory=list)
    merged: list[Contact] = field(default_factory=list)

    @property
    def contacts(self) -> list[Contact]:
        return self.created + self.merged

    def summary(self) -> str:
        if not self.contacts:
            return NO_CONTACTS
        return (
            f"Found {len(self.contacts)} contact{'s' if len(self.contacts) != 1 else ''}: "
            f"{len(self.created)} new, {len(self.merged)} merged into existing ones."
        )


def get_contact_for_user(user, contact_id: int) -> Contact:
    """The user's contact, or 404 whether it is missing or someone else's."""
    try:
        return Contact.objects.for_user(user).get(pk=contact_id)
    except Contact.DoesNotExist:
        raise Http404("No such contact.") from None


def get_message_for_user(user, message_id: int) -> Message:
    """A message in one of the user's conversations, or 404."""
    owned = Conversation.objects.for_user(user)
    try:
        return Message.objects.select_related("conversation").get(
            pk=message_id, conversation__in=owned
        )
    except Message.DoesNotExist:
        raise Http404("No such message.") from None


def validate_text(text: str) -> str:
    """Text fit to send for extraction; beyond the size limit it is refused."""
    limit = settings.CONTACTS_MAX_TEXT_CHARS
    if len(text) > limit:
        raise ValidationError(
            f"That text is too long to extract contacts from ({len(text):,} characters; "
            f"the limit is {limit:,})."
        )
    return text.strip()


def extract_from_text(user, text: str) -> Extraction:
    """Extract contacts from pasted text and save them. Raises ValidationError or
    GatewayError (then nothing is saved)."""
    text = validate_text(text)
    if not text:
        return Extraction()
    context = CallContext(purpose="extract", user_id=user.pk)
    found = async_to_sync(structured.extract_contacts)(
        text, model=settings.LLM_MODEL, context=context
    )
    return save_contacts(user, found, source_text=text)


def extract_from_message(user, message_id: int) -> Extraction:
    """Extract contacts from a message of the user's and save them, linked to it."""
    message = get_message_for_user(user, message_id)
    if message.is_streaming:
        raise ValidationError("Wait for the reply to finish first.")
    text = validate_text(message.content)
    if not text:
        return Extraction()
    context = CallContext(
        purpose="extract", user_id=user.pk, conversation_id=message.conversation_id
    )
    found = async_to_sync(structured.extract_contacts)(
        text, model=message.conversation.model, context=context
    )
    return save_contacts(user, found, source_message=message)


@transaction.atomic
def save_contacts(
    user,
    found: list[structured.ContactInfo],
    *,
    source_message: Message | None = None,
    source_text: str = "",
) -> Extraction:
    """Save extracted contacts for `user`, merging each into a duplicate if there is one."""
    result = Extraction()
    for info in found:
        values = {name: _fit(name, getattr(info, name)) for name in CONTACT_FIELDS}
        existing = find_duplicate(user, values)
        if existing is None:
            contact = Contact(owner=user, source_message=source_message, source_text=source_text)
            contact.fill_blanks_from(values)
            contact.save()
            result.created.append(contact)
        elif existing not in result.contacts:
            if existing.fill_blanks_from(values):
                existing.save()
            result.merged.append(existing)
    return result


def _fit(field_name: str, value: str | None) -> str:
    """A model's value cut to the column's length (the model may say more than fits)."""
    return (value or "")[: Contact._meta.get_field(field_name).max_length]


def find_duplicate(user, values: dict[str, str]) -> Contact | None:
    """The user's contact that is the same person: same email, else same phone, else
    (with neither) the same name."""
    contacts = Contact.objects.for_user(user)
    if email := normalize_email(values["email"]):
        return contacts.filter(email_normalized=email).first()
    if phone := normalize_phone(values["phone"]):
        return contacts.filter(phone_normalized=phone).first()
    if values["name"]:
        return contacts.filter(name__iexact=values["name"], email_normalized="").first()
    return None


def update_contact(user, contact_id: int, values: dict[str, str]) -> Contact:
    """Edit a contact; an email another of the user's contacts has is refused."""
    contact = get_contact_for_user(user, contact_id)
    email = normalize_email(values.get("email", ""))
    taken = Contact.objects.for_user(user).filter(email_normalized=email).exclude(pk=contact.pk)
    if email and taken.exists():
        raise ValidationError("Another of your contacts already has this email.")
    for name in CONTACT_FIELDS:
        setattr(contact, name, values.get(name, "").strip())
    contact.save()
    return contact


def delete_contact(user, contact_id: int) -> None:
    get_contact_for_user(user, contact_id).delete()
