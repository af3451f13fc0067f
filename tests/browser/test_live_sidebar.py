"""No dead ends: every open tab follows deletions and titles, in Chromium, at a phone's
and a desktop's size, with the offline demo model."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, new_conversation, screenshot

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def send(page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def conversation_id(page) -> int:
    return int(re.search(r"/conversations/(\d+)/", page.url).group(1))


@pytest.fixture(params=list(SIZES))
def context(request, browser, demo_server):
    context = browser.new_context(viewport=SIZES[request.param])
    context.set_default_timeout(20000)
    context.size = request.param
    page = context.new_page()
    log_in(page, demo_server)
    page.close()
    yield context
    context.close()


def test_deleting_the_open_conversation_by_tool_takes_both_tabs_to_the_list(context, demo_server):
    first = context.new_page()
    first.goto(demo_server.url)
    new_conversation(first)
    doomed = conversation_id(first)
    second = context.new_page()
    second.goto(first.url)
    expect(second.locator("#message-input")).to_be_visible()

    send(first, "delete this conversation")
    first.locator(".confirmation").get_by_role("button", name="Confirm").click()

    for page in (first, second):
        page.wait_for_url(f"{demo_server.url}/?deleted={doomed}")
        expect(page.get_by_text("That conversation was deleted.")).to_be_visible()
        expect(page.locator(f"#conversation-link-{doomed}")).to_have_count(0)
    screenshot(first, f"deleted-by-tool-{context.size}")


def test_the_sidebar_follows_the_title_of_a_first_turn_that_used_a_tool(context, demo_server):
    elsewhere = context.new_page()
    elsewhere.goto(demo_server.url)
    new_conversation(elsewhere)
    page = context.new_page()
    page.goto(demo_server.url)
    new_conversation(page)
    fresh = conversation_id(page)
    expect(elsewhere.locator(f"#conversation-link-{fresh}")).to_have_text("New conversation")

    send(page, "what is 17*23")
    expect(page.locator(".message--tool")).to_be_visible()
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text("391")

    expect(elsewhere.locator(f"#conversation-link-{fresh}")).not_to_have_text("New conversation")
    expect(page.locator(f"#conversation-link-{fresh}")).to_have_text(
        re.compile("17", re.IGNORECASE)
    )
