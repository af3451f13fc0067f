"""Structured outputs: the schemas the model answers in, and the calls that ask for them.

Each schema is a Pydantic model handed to `gateway.parse`; the SDK turns it into a
strict JSON schema for the request and validates the answer against it, so an answer
that breaks a rule here (an unknown category, a confidence outside 0..1) never gets
past the gateway.
"""

from __future__ import annotations

from django.db import models
from pydantic import BaseModel, ConfigDict, Field

from agents import gateway
from agents.events import CallContext

EXTRACT_PROMPT = (
    "Extract every person or organisation contact in the user's text. For each, give "
    "name, email, phone and company exactly as written; use null for anything the text "
    "does not say. Do not invent contacts. Return an empty list when there are none."
)
CLASSIFY_PROMPT = (
    "Classify the user's conversation with a support desk into one category: "
    "technical (how something works, errors, bugs), billing (payments, invoices, "
    "refunds, prices), complaint (dissatisfaction with the service) or general "
    "(anything else). Give your confidence from 0 to 1 and one sentence of reasoning."
)


class Category(models.TextChoices):
    """What a conversation is about; stored on the conversation, offered to the model."""

    TECHNICAL = "technical", "Technical"
    BILLING = "billing", "Billing"
    GENERAL = "general", "General"
    COMPLAINT = "complaint", "Complaint"


class ContactInfo(BaseModel):
    """One contact found in a text; every field may be missing."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None

    def is_empty(self) -> bool:
        return not any((self.name, self.email, self.phone, self.company))


class ContactList(BaseModel):
    """All the contacts found in one text."""

    contacts: list[ContactInfo]


class Classification(BaseModel):
    """What a conversation is about, how sure the model is, and why."""

    category: Category
    confidence: float = Field(ge=0, le=1)
    reasoning: str


async def extract_contacts(text: str, *, model: str, context: CallContext) -> list[ContactInfo]:
    """The contacts in `text`, without empty entries. Raises `GatewayError` subclasses."""
    messages = [
        {"role": "system", "content": EXTRACT_PROMPT},
        {"role": "user", "content": text},
    ]
    result = await gateway.parse(messages, model=model, context=context, schema=ContactList)
    return [contact for contact in result.value.contacts if not contact.is_empty()]


async def classify(transcript: str, *, model: str, context: CallContext) -> Classification:
    """Classify a conversation transcript. Raises `GatewayError` subclasses."""
    messages = [
        {"role": "system", "content": CLASSIFY_PROMPT},
        {"role": "user", "content": transcript},
    ]
    result = await gateway.parse(messages, model=model, context=context, schema=Classification)
    return result.value
