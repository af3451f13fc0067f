"""Contact extraction and classification in Chromium, against a live Daphne server."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import log_in, new_conversation, open_menu, screenshot
from tests.browser.test_chat import send
from tests.fake_upstream import Reply

CONTACT_TEXT = "Please reach Jane Doe from Acme Corp at jane.doe@acme.example or +1 555 123 4567"


def test_extract_contacts_from_a_message_and_see_them_on_the_contacts_page(
    page, daphne_server, upstream
):
    upstream.add(Reply(text="Noted, I will write to Jane."))
    upstream.add_structured(
        Reply.structured({"category": "general", "confidence": 0.7, "reasoning": "A note."}),
        Reply.structured(
            {"contacts": [{"name": "Jane Doe", "email": "Jane.Doe@Acme.example",
                           "phone": "+1 555 123 4567", "company": "Acme Corp"}]}
        ),
    )  # fmt: skip
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, CONTACT_TEXT)
    expect(page.locator(".message--assistant.message--complete")).to_contain_text("Noted")
    expect(page.locator("#classification")).to_contain_text("General · 70%")

    message = page.locator(".message--user").last
    open_menu(message, "More actions")
    message.get_by_role("button", name="Extract contacts").click()
    expect(message.get_by_role("status")).to_contain_text("Found 1 contact: 1 new")
    message.get_by_role("link", name="Open Contacts").click()

    page.wait_for_url("**/contacts/")
    row = page.get_by_role("row", name=re.compile("Jane Doe"))
    expect(row).to_contain_text("Jane.Doe@Acme.example")
    expect(row).to_contain_text("+1 555 123 4567")
    expect(row).to_contain_text("Acme Corp")
    screenshot(page, "contacts-page")


def test_demo_model_extracts_pasted_contacts_and_classifies_offline(page, demo_server):
    log_in(page, demo_server)
    page.get_by_role("link", name="Contacts").click()
    page.get_by_label("Text to extract contacts from").fill(
        "Bob Stone from Initech: bob@initech.example\nCall Ann Lee on +44 20 7946 0000"
    )
    page.get_by_role("button", name="Extract contacts").click()
    expect(page.get_by_role("status")).to_contain_text("Found 2 contacts: 2 new")
    expect(page.get_by_role("row", name=re.compile("Bob Stone"))).to_contain_text("Initech")
    expect(page.get_by_role("row", name=re.compile("Ann Lee"))).to_contain_text("+44 20 7946 0000")

    page.goto(demo_server.url + "/")
    new_conversation(page)
    send(page, "I was charged twice, please refund the invoice")
    expect(page.locator("#classification")).to_contain_text("Billing")
    screenshot(page, "classification-demo")
