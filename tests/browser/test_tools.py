"""Tools and confirmation cards in Chromium against a live Daphne server."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    log_in,
    new_conversation,
    open_menu,
    screenshot,
    start_server,
    stop_server,
)
from tests.fake_upstream import Reply


def send(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def conversation_named(page, title: str) -> int:
    """Create a conversation named `title` after one exchange; returns its id."""
    new_conversation(page)
    send(page, title)
    expect(page.locator(".message--assistant.message--complete")).to_be_visible()
    # The model titles a first exchange (one more upstream call); name it after that.
    expect(page.locator("#conversation-title")).not_to_have_text(title)
    open_menu(page, "Conversation actions")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#conversation-title")).to_have_text(title)
    return int(re.search(r"/conversations/(\d+)/", page.url).group(1))


def delete_call(conversation_id: int) -> Reply:
    arguments = json.dumps({"conversation_id": conversation_id})
    return Reply(
        text="I can delete it once you confirm.",
        tool_calls=[{"id": "call_del", "name": "delete_conversation", "arguments": arguments}],
    )


def card(page):
    return page.locator(".confirmation").last


def test_confirm_card_deletes_the_conversation_and_the_reply_goes_on(page, daphne_server, upstream):
    log_in(page, daphne_server)
    old = conversation_named(page, "Old shopping list")
    new_conversation(page)
    upstream.add(delete_call(old), Reply(text="Deleted it as you asked."))
    send(page, "Delete my old shopping list")

    expect(card(page)).to_contain_text("Delete conversation “Old shopping list”")
    expect(page.get_by_label("Message")).to_be_enabled()
    screenshot(page, "confirmation-card")
    card(page).get_by_role("button", name="Confirm").click()

    expect(card(page)).to_contain_text("Done")
    expect(card(page).get_by_role("button", name="Confirm")).to_have_count(0)
    expect(page.locator(".message--tool")).to_contain_text("delete_conversation")
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text(
        "Deleted it as you asked."
    )
    nav = page.get_by_role("navigation", name="Your conversations")
    page.reload()
    expect(nav).not_to_contain_text("Old shopping list")
    expect(card(page)).to_contain_text("Done")


def test_cancel_card_keeps_the_conversation(page, daphne_server, upstream):
    log_in(page, daphne_server)
    old = conversation_named(page, "Keep these notes")
    new_conversation(page)
    upstream.add(delete_call(old), Reply(text="All right, I left it alone."))
    send(page, "Delete my notes")

    card(page).get_by_role("button", name="Cancel").click()

    expect(card(page)).to_contain_text("Cancelled")
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text(
        "I left it alone."
    )
    page.reload()
    expect(page.get_by_role("navigation", name="Your conversations")).to_contain_text(
        "Keep these notes"
    )


def test_second_tab_sees_the_card_decided(browser, page, daphne_server, upstream):
    log_in(page, daphne_server)
    old = conversation_named(page, "Shared card")
    new_conversation(page)
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_function("() => document.querySelector('#message-input') !== null")
    other.wait_for_timeout(300)  # let its websocket connect
    upstream.add(delete_call(old), Reply(text="Gone."))
    send(page, "Delete the shared card conversation")

    expect(card(other)).to_contain_text("Shared card")
    card(page).get_by_role("button", name="Confirm").click()
    expect(card(other)).to_contain_text("Done")
    expect(card(other).get_by_role("button", name="Confirm")).to_have_count(0)


@pytest.fixture
def restartable_server(tmp_path, browser_upstream, chromium_path):
    servers = [start_server(tmp_path, browser_upstream.url)]
    yield servers
    stop_server(servers[-1])


def test_pending_card_survives_a_server_restart(page, restartable_server, upstream, tmp_path):
    first = restartable_server[0]
    log_in(page, first)
    new_conversation(page)
    path = page.url.removeprefix(first.url)
    arguments = json.dumps({"recipient": "Alice", "amount": "5", "currency": "EUR", "memo": ""})
    upstream.add(
        Reply(text="", tool_calls=[{"id": "p", "name": "make_payment", "arguments": arguments}]),
        Reply(text="Paid after the restart."),
    )
    send(page, "Pay Alice 5 EUR")
    expect(card(page)).to_contain_text("Pay 5.00 EUR to Alice")

    stop_server(first)  # a new process, the same database
    second = start_server(tmp_path, upstream.url)
    restartable_server.append(second)
    page.goto(second.url + path)
    expect(card(page)).to_contain_text("Pay 5.00 EUR to Alice")
    card(page).get_by_role("button", name="Confirm").click()

    expect(card(page)).to_contain_text("Done")
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text(
        "Paid after the restart."
    )


def test_demo_model_uses_tools_and_asks_before_paying(page, demo_server):
    log_in(page, demo_server)
    new_conversation(page)
    send(page, "what is 17*23")
    expect(page.locator(".message--tool").last).to_contain_text("391")
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text("391")

    send(page, "pay 5 EUR to Alice for lunch")
    expect(card(page)).to_contain_text("Pay 5.00 EUR to Alice (memo: “lunch”).")
    card(page).get_by_role("button", name="Confirm").click()
    expect(card(page)).to_contain_text("Done")
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text(
        "Paid 5.00 EUR to Alice"
    )
