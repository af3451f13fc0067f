"""The chat experience in Chromium: copy, regenerate, edit, search, titles, export,
scrolling, long histories, settings, keyboard use, themes, and page screenshots."""

import json
import re

from playwright.sync_api import expect

from tests.browser.conftest import log_in, new_conversation, open_menu, screenshot
from tests.fake_upstream import Reply, titles

CODE_REPLY = "Try this:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nDone."
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def send(page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def last_reply(page):
    return page.locator(".message--assistant").last


def chat(page, server, text: str) -> None:
    """A new conversation with one finished exchange."""
    log_in(page, server)
    new_conversation(page)
    send(page, text)
    expect(last_reply(page)).to_have_class(re.compile("message--complete"))


def test_code_is_highlighted_and_copy_buttons_copy_code_and_messages(page, daphne_server, upstream):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daphne_server.url)
    upstream.add(Reply(text=CODE_REPLY), Reply(text="Adding Numbers"))
    chat(page, daphne_server, "Show me code")
    reply = last_reply(page)
    expect(reply.locator("pre code.highlight span.k")).to_have_text(["def", "return"])

    reply.get_by_role("button", name="Copy code").click()
    expect(reply.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "def add(a, b):\n    return a + b\n"
    reply.get_by_role("button", name="Copy text").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Try this:") and "return a + b" in copied and "Done." in copied
    assert "Copy code" not in copied


def test_regenerate_replaces_the_last_reply(page, daphne_server, upstream):
    upstream.responders.append(titles("Some Title"))
    upstream.add(Reply(text="First try."), Reply(text="Second try."))
    chat(page, daphne_server, "Answer twice")
    expect(last_reply(page)).to_contain_text("First try.")
    page.get_by_role("button", name="Regenerate").click()
    expect(last_reply(page)).to_contain_text("Second try.")
    expect(last_reply(page)).to_have_class(re.compile("message--complete"))
    expect(page.locator(".message--assistant")).to_have_count(1)
    page.reload()
    expect(page.locator(".message--assistant")).to_have_count(1)
    expect(last_reply(page)).to_contain_text("Second try.")


def test_edit_the_last_message_and_resend(page, daphne_server, upstream):
    upstream.responders.append(titles("Cats"))
    upstream.add(Reply(text="About cats."), Reply(text="About dogs."))
    chat(page, daphne_server, "Tell me about cats")
    question = page.locator(".message--user").last
    open_menu(question, "Edit")
    question.get_by_label("Edit text").fill("Tell me about dogs")
    question.get_by_role("button", name="Save and ask again").click()
    expect(page.locator(".message--user").last).to_contain_text("Tell me about dogs")
    expect(last_reply(page)).to_contain_text("About dogs.")
    expect(page.locator(".message")).to_have_count(2)
    assert "Tell me about dogs" in str(upstream.requests[-1]["messages"])


def test_search_with_the_slash_shortcut_marks_matches_and_opens_the_conversation(
    page, daphne_server, upstream
):
    upstream.add(Reply(text="Zanzibar is an archipelago."), Reply(text="Islands"))
    chat(page, daphne_server, "Where is Zanzibar?")
    url = page.url
    page.goto(f"{daphne_server.url}/")
    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search conversations")
    expect(search).to_be_focused()
    page.keyboard.type("zanzibar")
    results = page.locator("#search-results")
    expect(results.locator("mark").first).to_have_text(re.compile("zanzibar", re.I))
    screenshot(page, "search-desktop")
    results.get_by_role("link").first.click()
    page.wait_for_url(url)


def test_the_first_exchange_titles_the_conversation_with_the_demo_model(page, demo_server):
    log_in(page, demo_server)
    new_conversation(page)
    send(page, "why is the sky blue today")
    expect(page.locator("#conversation-title")).to_have_text("Why Is The Sky Blue")
    expect(page.get_by_role("navigation", name="Your conversations")).to_contain_text(
        "Why Is The Sky Blue"
    )
    open_menu(page, "Conversation actions")
    page.get_by_label("Title", exact=True).fill("Sky colours")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#conversation-title")).to_have_text("Sky colours")


def test_export_downloads_markdown_and_json(page, daphne_server, upstream):
    upstream.add(Reply(text="Exported *answer*."), Reply(text="Export Test"))
    chat(page, daphne_server, "Export me")
    open_menu(page, "Conversation actions")
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Markdown").click()
    text = markdown.value.path().read_text(encoding="utf-8")
    assert "## You" in text and "Export me" in text and "Exported *answer*." in text
    open_menu(page, "Conversation actions")
    with page.expect_download() as as_json:
        page.get_by_role("link", name="JSON").click()
    data = json.loads(as_json.value.path().read_text(encoding="utf-8"))
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["completion_tokens"] > 0


def test_auto_scroll_stops_when_scrolled_up_and_jump_to_latest_resumes(
    page, daphne_server, upstream
):
    lines = [f"line {i}\n\n" for i in range(400)]
    upstream.add(Reply(tokens=lines, token_delay=0.02), Reply(text="Lines"))
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Count lines")
    messages = page.locator("#messages")
    expect(last_reply(page)).to_contain_text("line 60")
    at_bottom = "el => el.scrollHeight - el.scrollTop - el.clientHeight < 48"
    assert messages.evaluate(at_bottom)  # following the stream
    jump = page.get_by_role("button", name="Jump to latest")
    expect(jump).to_be_hidden()

    messages.evaluate("el => { el.scrollTop = 0; }")
    expect(jump).to_be_visible()
    expect(last_reply(page)).to_contain_text("line 200")
    assert messages.evaluate("el => el.scrollTop") == 0  # the reader's place is kept
    jump.click()
    assert messages.evaluate(at_bottom)
    expect(jump).to_be_hidden()
    expect(last_reply(page)).to_have_class(re.compile("message--complete"), timeout=30000)
    assert messages.evaluate(at_bottom)  # and it followed the rest


SEED_2000 = """
from django.contrib.auth import get_user_model
from conversations.models import Conversation, Message
owner = get_user_model().objects.get(username="alice")
c = Conversation.objects.create(owner=owner, model="gpt-4o-mini", title="Two thousand")
Message.objects.bulk_create(
    Message(conversation=c, role=("user", "assistant")[i % 2], content=f"number {i}")
    for i in range(2000)
)
print(c.pk)
"""


def test_a_2000_message_conversation_opens_at_the_latest_and_loads_older_on_scroll(
    page, daphne_server, upstream
):
    pk = daphne_server.manage("shell", "-c", SEED_2000).strip().splitlines()[-1]
    log_in(page, daphne_server)
    page.goto(f"{daphne_server.url}/conversations/{pk}/")
    messages = page.locator("#messages .message")
    expect(messages).to_have_count(50)
    expect(messages.last).to_contain_text("number 1999")
    assert page.locator("#messages").evaluate(
        "el => el.scrollHeight - el.scrollTop - el.clientHeight < 48"
    )
    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    expect(messages).to_have_count(100)
    expect(messages.first).to_contain_text("number 1900")
    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    expect(messages).to_have_count(150)


def test_settings_are_saved_and_new_conversations_use_the_defaults(page, daphne_server, upstream):
    log_in(page, daphne_server)
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Display name").fill("Alice Example")
    page.get_by_label("Time zone").select_option("Europe/Rome")
    page.get_by_label("Default system prompt").fill("Answer like a pirate.")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings saved.")
    expect(page.locator(".topbar__user")).to_have_text("Alice Example")
    page.goto(f"{daphne_server.url}/")
    page.get_by_text("Options").click()
    expect(page.get_by_label("System prompt", exact=True)).to_have_value("Answer like a pirate.")
    new_conversation(page)
    expect(page.locator(".system-prompt")).to_have_text("Answer like a pirate.")
    page.goto(f"{daphne_server.url}/accounts/settings/")
    page.get_by_label("Display name").fill("")
    page.get_by_label("Default system prompt").fill("")
    page.get_by_role("button", name="Save settings").click()


def test_keyboard_alone_reaches_regenerate_with_a_visible_focus_ring(page, daphne_server, upstream):
    upstream.responders.append(titles("Keys"))
    upstream.add(Reply(text="Keyboard one."), Reply(text="Keyboard two."))
    chat(page, daphne_server, "Keyboard test")
    page.locator("body").focus()
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
        if focused == "Regenerate":
            break
    assert focused == "Regenerate"
    # The icon's name shows as a tooltip while it has the keyboard focus.
    tip = page.evaluate("getComputedStyle(document.activeElement, '::after').content")
    assert tip == '"Regenerate"'
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    expect(last_reply(page)).to_contain_text("Keyboard two.")


def test_dark_theme_follows_the_system_setting(browser, daphne_server, upstream):
    colors = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
        page = context.new_page()
        log_in(page, daphne_server)
        colors[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        screenshot(page, f"theme-index-desktop-{scheme}")
        context.close()
    assert colors["light"] == "rgb(255, 255, 255)"
    assert colors["dark"] != colors["light"]
