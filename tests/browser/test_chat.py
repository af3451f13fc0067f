"""The chat in Chromium against a live Daphne server and the wire fake."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, new_conversation, open_menu, screenshot
from tests.fake_upstream import Reply


def send(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def test_log_in_chat_watch_the_stream_and_reload(page, daphne_server, upstream):
    words = [f"word{i} " for i in range(30)]
    upstream.add(Reply(tokens=[*words, "**done**"], token_delay=0.04))
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Hello, streaming world")

    reply = page.locator(".message--assistant").last
    expect(page.locator(".message--user").last).to_contain_text("Hello, streaming world")
    expect(reply).to_have_class(re.compile("message--streaming"))
    expect(page.get_by_label("Message")).to_be_disabled()
    expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    expect(reply).to_contain_text("word3")  # part of the text is there ...
    assert "word29" not in reply.inner_text()  # ... before the rest
    expect(reply.locator("strong")).to_have_text("done")  # final frame: rendered markdown
    expect(reply).to_have_class(re.compile("message--complete"))
    expect(page.get_by_label("Message")).to_be_enabled()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    screenshot(page, "chat-desktop")

    page.reload()
    expect(page.locator(".message--user")).to_contain_text("Hello, streaming world")
    expect(page.locator(".message--assistant strong")).to_have_text("done")


def test_stop_mid_reply_keeps_the_partial_text(page, daphne_server, upstream):
    upstream.add(Reply(tokens=[f"slow{i} " for i in range(300)], token_delay=0.05))
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Tell me a long story")
    reply = page.locator(".message--assistant").last
    expect(reply).to_contain_text("slow5")
    page.get_by_role("button", name="Stop").click()

    expect(reply).to_have_class(re.compile("message--stopped"))
    expect(reply.locator(".badge")).to_have_text("Stopped")
    kept = reply.locator(".message__body").inner_text()
    assert "slow5" in kept and "slow299" not in kept
    expect(page.get_by_label("Message")).to_be_enabled()

    page.reload()
    reloaded = page.locator(".message--assistant").last
    expect(reloaded).to_contain_text("slow5")
    expect(reloaded.locator(".badge")).to_have_text("Stopped")


def test_reload_mid_reply_shows_text_so_far_and_continues(page, daphne_server, upstream):
    upstream.add(Reply(tokens=[f"tok{i} " for i in range(80)], token_delay=0.05))
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Keep going")
    expect(page.locator(".message--assistant").last).to_contain_text("tok10")

    page.reload()
    reply = page.locator(".message--assistant").last
    expect(reply).to_contain_text("tok10")
    expect(reply).to_have_class(re.compile("message--complete"), timeout=20000)
    text = reply.inner_text()
    assert text.count("tok10 ") == 1 and "tok79" in text


def test_second_tab_sees_the_same_stream(browser, page, daphne_server, upstream):
    upstream.add(Reply(tokens=[f"both{i} " for i in range(30)], token_delay=0.04))
    log_in(page, daphne_server)
    new_conversation(page)
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_function("() => document.querySelector('#message-input') !== null")
    other.wait_for_timeout(300)  # let its websocket connect
    send(page, "Seen twice")
    for tab in (page, other):
        expect(tab.locator(".message--user").last).to_contain_text("Seen twice")
        expect(tab.locator(".message--assistant.message--complete").last).to_contain_text("both29")


def test_model_output_html_stays_inert_while_streaming_and_after_reload(
    page, daphne_server, upstream
):
    hostile = [
        '<img src=x onerror="document.body.dataset.pwned=1"> ',
        "<script>document.body.dataset.pwned=2</script> ",
        '<svg onload="document.body.dataset.pwned=3"></svg> ',
        '<form id="composer" hx-swap-oob="true">gone</form> ',
        "[click](javascript:document.body.dataset.pwned=4) ",
        "[data](data:text/html,<script>parent.document.body.dataset.pwned=5</script>) ",
    ]
    upstream.add(Reply(tokens=hostile * 3, token_delay=0.05))
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Show me HTML")
    reply = page.locator(".message--assistant").last
    expect(reply).to_contain_text("<img src=x")  # shown as text while streaming
    expect(reply).to_have_class(re.compile("message--complete"))
    for check in (page,):
        assert check.evaluate("document.body.dataset.pwned") is None
        # In the model's text, that is: the message's own action icons are SVG.
        assert reply.locator(".message__body").locator("img, script, svg").count() == 0
        assert page.locator("#composer").count() == 1
        expect(page.get_by_label("Message")).to_be_enabled()
    page.reload()
    reply = page.locator(".message--assistant").last
    body = reply.locator(".message__body")
    assert body.locator("img, script, svg, a[href^='javascript'], a[href^='data']").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None


def test_shift_enter_adds_a_line_and_empty_input_sends_nothing(page, daphne_server, upstream):
    upstream.add(Reply(text="Two lines received."))
    log_in(page, daphne_server)
    new_conversation(page)
    box = page.get_by_label("Message")
    box.press("Enter")
    page.wait_for_timeout(300)
    assert page.locator(".message--user").count() == 0
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "first line\nsecond line"
    box.press("Enter")
    expect(page.locator(".message--user").last).to_contain_text("second line")
    expect(page.locator(".message--assistant.message--complete")).to_contain_text("Two lines")


def test_upstream_error_shows_a_clear_message_and_keeps_the_users_text(
    page, daphne_server, upstream
):
    upstream.add(Reply(status=401, error_message="Incorrect API key provided"))
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Will this fail?")
    expect(page.get_by_role("alert")).to_contain_text("The model server rejected the API key.")
    page.reload()
    expect(page.locator(".message--user")).to_contain_text("Will this fail?")


def test_rename_clear_and_delete_asks_first(page, daphne_server, upstream):
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Something to delete")
    expect(page.locator(".message--assistant.message--complete")).to_be_visible()
    # The after-reply work (a title from the model, the classification) updates the
    # header; let it land before working in it.
    expect(page.locator("#conversation-title")).not_to_have_text("Something to delete")
    expect(page.locator("#classification")).not_to_contain_text("Classifying")
    open_menu(page, "Conversation actions")
    page.get_by_label("Title").fill("Renamed here")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#conversation-header h1")).to_have_text("Renamed here")

    page.once("dialog", lambda dialog: dialog.dismiss())
    open_menu(page, "Conversation actions")
    page.get_by_role("button", name="Delete conversation").click()
    page.wait_for_timeout(300)
    expect(page.locator("#conversation-header h1")).to_have_text("Renamed here")

    page.once("dialog", lambda dialog: dialog.accept())
    open_menu(page, "Conversation actions")
    page.get_by_role("button", name="Delete conversation").click()
    page.wait_for_url(f"{daphne_server.url}/")
    expect(page.get_by_role("navigation", name="Your conversations")).not_to_contain_text(
        "Renamed here"
    )


def test_other_users_conversation_is_404_in_the_browser(browser, page, daphne_server, upstream):
    log_in(page, daphne_server)
    new_conversation(page)
    url = page.url
    context = browser.new_context()
    other = context.new_page()
    log_in(other, daphne_server, "mallory")
    assert other.goto(url).status == 404
    context.close()


def test_phone_width_layout(browser, daphne_server, upstream):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Hello from a phone")
    expect(page.locator(".message--assistant.message--complete")).to_be_visible()
    screenshot(page, "chat-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_demo_model_works_end_to_end_with_no_key(page, demo_server):
    log_in(page, demo_server)
    new_conversation(page)
    expect(page.locator(".chat__model")).to_have_text("Demo model (offline)")
    send(page, "Hi demo")
    reply = page.locator(".message--assistant.message--complete")
    expect(reply.locator("pre code")).to_contain_text("def greet")
    expect(reply.locator("a")).to_have_attribute("href", "https://docs.djangoproject.com/")
    screenshot(page, "chat-demo")


@pytest.mark.parametrize("size", [(390, 844), (1280, 900)], ids=["phone", "desktop"])
def test_closed_blocks_show_formatted_while_the_reply_streams(
    browser, daphne_server, upstream, size
):
    words = [f"more{i} " for i in range(60)]
    tokens = ["A **bold", "** word", " here.\n", "\n", "```\nx = 1\n```\n", "\n", *words]
    upstream.add(Reply(tokens=tokens, token_delay=0.05))
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    log_in(page, daphne_server)
    new_conversation(page)
    send(page, "Format as you go")

    reply = page.locator(".message--assistant").last
    expect(reply.locator(".message__body > p strong")).to_have_text("bold")
    expect(reply.locator(".message__body > pre code")).to_have_text("x = 1\n")
    assert "message--streaming" in reply.get_attribute("class")  # before the end
    assert "**" not in reply.locator(".message__body").inner_text()
    shown = reply.locator(".message__body > p").first.inner_html()

    expect(reply).to_have_class(re.compile("message--complete"))
    assert reply.locator(".message__body > p").first.inner_html() == shown
    expect(reply.locator(".message__body")).to_contain_text("more59")
    context.close()
