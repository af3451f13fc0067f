"""Contacts: extraction from pasted text and messages, merging, editing, CSV export."""

import csv
import io

import pytest
from django.urls import reverse

from contacts.models import Contact
from conversations.models import Message
from tests.fake_upstream import Reply

EMPTY = {"name": None, "email": None, "phone": None, "company": None}


def contacts_reply(*contacts: dict) -> Reply:
    return Reply.structured({"contacts": [EMPTY | c for c in contacts]})


def extract(client, text: str):
    return client.post(reverse("contacts:extract"), {"text": text}, follow=True)


def test_pasted_text_extraction_saves_contacts_for_the_user(logged_in, user, fake_upstream):
    fake_upstream.add_structured(
        contacts_reply(
            {"name": "Ann Lee", "email": " Ann.Lee@Example.COM ", "company": "Acme"},
            {"name": "Bo Park", "phone": "+44 20 7946 0000"},
        )
    )
    response = extract(logged_in, "Ann Lee (Acme) Ann.Lee@Example.COM; Bo Park +44 20 7946 0000")
    assert "Found 2 contacts: 2 new, 0 merged" in response.content.decode()
    ann, bo = Contact.objects.for_user(user).order_by("name")
    assert (ann.email, ann.email_normalized, ann.company) == (
        "Ann.Lee@Example.COM",
        "ann.lee@example.com",
        "Acme",
    )
    assert ann.source_text.startswith("Ann Lee (Acme)")
    assert bo.phone == "+44 20 7946 0000" and bo.email == ""
    (request,) = fake_upstream.structured_requests("ContactList")
    assert request["messages"][-1]["content"].startswith("Ann Lee (Acme)")


def test_duplicates_by_email_are_merged_per_owner(logged_in, user, other_user, fake_upstream):
    Contact.objects.create(owner=other_user, name="Ann Lee", email="ann@example.com")
    Contact.objects.create(owner=user, name="Ann Lee", email="ANN@example.com")
    fake_upstream.add_structured(
        contacts_reply(
            {"email": "ann@example.com", "phone": "555-0100", "company": "Acme"},
            {"name": "Ann L.", "email": "Ann@Example.com "},
        )
    )
    response = extract(logged_in, "ann@example.com 555-0100 at Acme")
    assert "Found 1 contact: 0 new, 1 merged" in response.content.decode()
    (ann,) = Contact.objects.for_user(user)
    # Blank fields are filled in; what the user already had stays.
    assert (ann.name, ann.email, ann.phone, ann.company) == (
        "Ann Lee",
        "ANN@example.com",
        "555-0100",
        "Acme",
    )
    assert Contact.objects.for_user(other_user).get().phone == ""


def test_duplicates_without_email_merge_by_phone(logged_in, user, fake_upstream):
    Contact.objects.create(owner=user, name="Bo Park", phone="+44 20 7946 0000")
    fake_upstream.add_structured(contacts_reply({"phone": "+442079460000", "company": "Initech"}))
    extract(logged_in, "+442079460000 Initech")
    (bo,) = Contact.objects.for_user(user)
    assert (bo.name, bo.company) == ("Bo Park", "Initech")


def test_empty_text_says_no_contacts_found_without_asking_the_model(logged_in, fake_upstream):
    response = extract(logged_in, "   ")
    assert "No contacts found." in response.content.decode()
    assert fake_upstream.requests == fake_upstream.structured_log == []


def test_a_model_finding_nothing_says_no_contacts_found(logged_in, fake_upstream):
    fake_upstream.add_structured(contacts_reply())
    response = extract(logged_in, "Nothing to see here.")
    assert "No contacts found." in response.content.decode()
    assert not Contact.objects.exists()


def test_text_over_the_limit_is_refused_with_the_limit(logged_in, settings, fake_upstream):
    settings.CONTACTS_MAX_TEXT_CHARS = 100
    response = extract(logged_in, "x" * 101)
    assert response.status_code == 400
    assert "the limit is 100" in response.content.decode()
    assert fake_upstream.requests == fake_upstream.structured_log == []


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (Reply(refusal="I won't list people."), "The model declined: I won&#x27;t list people."),
        (Reply(text="not json"), "did not fit the expected format"),
        (Reply(status=500), "The model server had an error."),
    ],
    ids=["refusal", "invalid-json", "upstream-error"],
)
def test_failed_extraction_shows_why_and_saves_nothing(logged_in, fake_upstream, reply, shown):
    fake_upstream.add_structured(reply)
    response = extract(logged_in, "Ann Lee ann@example.com")
    assert response.status_code == 400
    assert shown in response.content.decode()
    assert "Ann Lee ann@example.com" in response.content.decode()  # the text stays
    assert not Contact.objects.exists()


def test_half_valid_answer_saves_nothing(logged_in, fake_upstream):
    good = EMPTY | {"email": "ann@example.com"}
    fake_upstream.add_structured(Reply.structured({"contacts": [good, {"name": 42}]}))
    response = extract(logged_in, "Ann ann@example.com")
    assert response.status_code == 400
    assert not Contact.objects.exists()


def test_extract_contacts_from_a_message(logged_in, user, conversation, fake_upstream):
    message = conversation.messages.create(
        role=Message.Role.ASSISTANT, content="Ask Ann Lee: ann@example.com"
    )
    fake_upstream.add_structured(contacts_reply({"name": "Ann Lee", "email": "ann@example.com"}))
    response = logged_in.post(
        reverse("contacts:extract_message", args=[message.pk]), headers={"HX-Request": "true"}
    )
    assert "Found 1 contact: 1 new" in response.content.decode()
    contact = Contact.objects.for_user(user).get()
    assert contact.source_message == message
    (request,) = fake_upstream.structured_requests("ContactList")
    assert request["messages"][-1]["content"] == "Ask Ann Lee: ann@example.com"


def test_other_users_message_is_404_and_never_sent(client, other_user, conversation, fake_upstream):
    message = conversation.messages.create(role=Message.Role.USER, content="ann@example.com")
    client.force_login(other_user)
    response = client.post(reverse("contacts:extract_message", args=[message.pk]))
    assert response.status_code == 404
    assert fake_upstream.requests == fake_upstream.structured_log == []


def test_contacts_page_lists_and_searches_only_own_contacts(logged_in, user, other_user):
    Contact.objects.create(owner=user, name="Ann Lee", company="Acme")
    Contact.objects.create(owner=user, name="Bo Park", company="Initech")
    Contact.objects.create(owner=other_user, name="Secret Person", company="Acme")
    page = logged_in.get(reverse("contacts:index")).content.decode()
    assert "Ann Lee" in page and "Bo Park" in page and "Secret Person" not in page
    found = logged_in.get(reverse("contacts:index"), {"q": "acme"}).content.decode()
    assert "Ann Lee" in found and "Bo Park" not in found and "Secret Person" not in found


def test_edit_and_delete_a_contact(logged_in, user):
    ann = Contact.objects.create(owner=user, name="Ann", email="ann@example.com")
    Contact.objects.create(owner=user, name="Bo", email="bo@example.com")
    edit = reverse("contacts:edit", args=[ann.pk])
    values = {"name": "Ann Lee", "email": "ANN.LEE@example.com", "phone": "", "company": "Acme"}
    logged_in.post(edit, values)
    ann.refresh_from_db()
    assert (ann.name, ann.email_normalized, ann.company) == (
        "Ann Lee",
        "ann.lee@example.com",
        "Acme",
    )
    clash = logged_in.post(edit, values | {"email": "Bo@Example.com"})
    assert "Another of your contacts already has this email." in clash.content.decode()
    logged_in.post(reverse("contacts:delete", args=[ann.pk]))
    assert list(Contact.objects.for_user(user).values_list("name", flat=True)) == ["Bo"]


def test_other_users_contact_cannot_be_edited_or_deleted(logged_in, other_user):
    theirs = Contact.objects.create(owner=other_user, name="Theirs")
    assert logged_in.get(reverse("contacts:edit", args=[theirs.pk])).status_code == 404
    assert logged_in.post(reverse("contacts:delete", args=[theirs.pk])).status_code == 404
    assert Contact.objects.filter(pk=theirs.pk).exists()


def test_csv_export_has_own_contacts_and_defuses_formulas(logged_in, user, other_user):
    Contact.objects.create(owner=user, name="Ann Lee", email="ann@example.com", company="Acme")
    Contact.objects.create(owner=user, name="=HYPERLINK(1)", phone="+1 555 0100")
    Contact.objects.create(owner=other_user, name="Secret Person")
    response = logged_in.get(reverse("contacts:export"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["name", "email", "phone", "company", "created_at"]
    assert [row[:4] for row in rows[1:]] == [
        ["'=HYPERLINK(1)", "", "'+1 555 0100", ""],
        ["Ann Lee", "ann@example.com", "", "Acme"],
    ]


def test_contacts_pages_need_login_and_post_needs_csrf(client, user):
    assert client.get(reverse("contacts:index")).status_code == 302
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    assert csrf_client.post(reverse("contacts:extract"), {"text": "x"}).status_code == 403


def test_overlong_values_from_the_model_are_cut_to_fit(logged_in, user, fake_upstream):
    fake_upstream.add_structured(contacts_reply({"name": "Ann", "phone": "1" * 80}))
    extract(logged_in, "Ann 111")
    assert Contact.objects.for_user(user).get().phone == "1" * 50
