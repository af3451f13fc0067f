"""Long conversations in Chromium: the summary marker appears live and expands."""

from playwright.sync_api import expect

from tests.browser.conftest import log_in, new_conversation, screenshot


def send(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def test_summary_marker_appears_where_messages_were_folded_and_expands(page, demo_server):
    log_in(page, demo_server)
    new_conversation(page)
    for turn in range(1, 12):  # 22 messages: past the cap of 20, the older half is folded
        send(page, f"Fact {turn} is here. More words follow.")
        replies = page.locator(".message--assistant.message--complete")
        expect(replies).to_have_count(turn)

    marker = page.locator(".summary-marker")
    expect(marker).to_have_count(1)  # live, without a reload
    text = marker.locator(".summary-marker__text")
    expect(text).to_be_hidden()
    marker.locator("summary").click()
    expect(text).to_be_visible()
    expect(text).to_contain_text("Fact 1 is here.")
    expect(text).to_contain_text("Fact 6 is here.")
    expect(text).not_to_contain_text("Fact 7 is here.")
    expect(page.locator(".message--user")).to_have_count(11)  # every message still shown
    twelfth = page.locator("article.message").nth(11).get_attribute("id")
    assert marker.evaluate("e => e.previousElementSibling.id") == twelfth
    screenshot(page, "summary-marker")

    page.reload()
    marker = page.locator(".summary-marker")
    expect(marker).to_have_count(1)
    assert marker.evaluate("e => e.previousElementSibling.id") == twelfth
    marker.locator("summary").click()
    expect(marker.locator(".summary-marker__text")).to_contain_text("Fact 6 is here.")
