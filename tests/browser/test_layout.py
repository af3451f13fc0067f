"""The page frame at phone and desktop sizes, in light and dark: no sideways scrolling,
no serious accessibility violations (axe-core), the sidebar, menus and keyboard use,
the home composer, Edit after a tool turn, and the staff usage charts of a free model.
Screenshots of every main page land in test-artifacts/."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, log_in, open_menu, screenshot

VENDOR = Path(__file__).parent / "vendor"
AXE = VENDOR / "axe-4.14.1.min.js"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
LONG_TITLE = "A very long conversation title that goes on and on about planning a trip to Rome"
CONTACTS = """
from django.contrib.auth import get_user_model
from contacts.models import Contact
owner = get_user_model().objects.get(username="alice")
for i in range(3):
    Contact.objects.get_or_create(
        owner=owner, name=f"Bartholomew Longname {i}",
        email=f"bartholomew.longname{i}@example-company.example",
        phone="+44 20 7946 0958", company="Example International Holdings")
print(owner.pk)
"""


def axe_source() -> str:
    recorded = re.search(r"\| ([0-9a-f]{64}) \|", (VENDOR / "README.md").read_text()).group(1)
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == recorded, "axe-core differs from its record"
    return source.decode()


def serious_violations(page) -> list[str]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(content=axe_source())
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def scrolls_sideways(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def send(page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def wait_for_reply(page) -> None:
    expect(page.locator(".message--assistant").last).to_have_class(
        re.compile("message--complete"), timeout=30000
    )
    expect(page.locator(".message--streaming")).to_have_count(0)


@pytest.fixture(scope="module")
def site(browser, demo_server):
    """One conversation with tool steps (the demo model's, free of charge), a long
    title, a few contacts; returns the pages to visit and a logged-in state."""
    user_id = demo_server.manage("shell", "-c", CONTACTS).strip().splitlines()[-1]
    context = browser.new_context(viewport=SIZES["desktop"])
    page = context.new_page()
    page.set_default_timeout(20000)
    log_in(page, demo_server)
    page.get_by_label("Message", exact=True).fill("Show me what you can do")
    page.get_by_label("Message", exact=True).press("Enter")
    page.wait_for_url("**/conversations/*/")
    wait_for_reply(page)
    for text in ("search for markdown", "what is 17*23"):
        send(page, text)
        expect(page.locator(".message--tool").last).to_be_visible()
        wait_for_reply(page)
    open_menu(page, "Conversation actions")
    page.get_by_label("Title", exact=True).fill(LONG_TITLE)
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#conversation-title")).to_have_text(LONG_TITLE)
    conversation = page.url.removeprefix(demo_server.url)
    page.goto(f"{demo_server.url}/settings/tokens/")
    page.get_by_label("Name", exact=True).fill("a laptop script with a long name")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("New token")).to_be_visible()
    state = context.storage_state()
    context.close()
    pages = {
        "index": "/",
        "conversation": conversation,
        "search": "/search/?q=markdown",
        "settings": "/accounts/settings/",
        "tokens": "/settings/tokens/",
        "contacts": "/contacts/",
        "admin": "/admin/",
        "usage": "/admin/agents/usagerecord/per-user/",
        "usage-user": f"/admin/agents/usagerecord/per-user/{user_id}/",
    }
    return {"state": state, "pages": pages, "conversation": conversation}


def open_page(browser, server, site, size: str, scheme: str = "light"):
    # axe-core is injected as an inline script, which the site's policy refuses: these
    # contexts set the policy aside (the other browser tests keep it and fail on a breach).
    context = browser.new_context(
        viewport=SIZES[size], color_scheme=scheme, storage_state=site["state"], bypass_csp=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_every_main_page_fits_the_screen_and_has_no_serious_accessibility_issues(
    browser, demo_server, site, size, scheme
):
    page = open_page(browser, demo_server, site, size, scheme)
    problems = {}
    for name, path in site["pages"].items():
        page.goto(demo_server.url + path)
        page.wait_for_load_state("networkidle")
        screenshot(page, f"{name}-{size}-{scheme}")
        if scrolls_sideways(page):
            problems[name] = "scrolls sideways"
        elif found := serious_violations(page):
            problems[name] = found
    page.context.clear_cookies()
    page.goto(f"{demo_server.url}/accounts/login/")
    screenshot(page, f"login-{size}-{scheme}")
    if scrolls_sideways(page) or serious_violations(page):
        problems["login"] = serious_violations(page) or "scrolls sideways"
    page.context.close()
    assert problems == {}


def test_on_a_phone_the_sidebar_opens_from_the_menu_button_and_closes_again(
    browser, demo_server, site
):
    page = open_page(browser, demo_server, site, "phone")
    page.goto(demo_server.url + site["conversation"])
    sidebar = page.get_by_role("complementary", name="Conversations")
    toggle = page.get_by_role("button", name="Conversations", exact=True)
    expect(sidebar).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    # The chat has the screen: the composer is in view, the title on one line.
    composer = page.locator("#composer").bounding_box()
    assert composer["y"] + composer["height"] <= 844
    title = page.locator("#conversation-title").bounding_box()
    assert title["height"] < 30

    toggle.click()
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sidebar.get_by_role("link", name=LONG_TITLE)).to_have_attribute("aria-current", "page")
    assert page.locator("#main").evaluate("el => el.inert")  # the chat behind is out of reach
    assert not scrolls_sideways(page)
    screenshot(page, "sidebar-open-phone-light")
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()
    assert not page.locator("#main").evaluate("el => el.inert")

    toggle.click()
    page.get_by_role("button", name="Close conversations").click()
    expect(sidebar).to_be_hidden()

    # The account links fold into a menu on a phone.
    page.get_by_role("button", name="Account menu").click()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url("**/accounts/settings/")
    page.context.close()


def test_on_a_desktop_the_sidebar_collapses_and_stays_collapsed(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "desktop")
    page.goto(demo_server.url + site["conversation"])
    sidebar = page.get_by_role("complementary", name="Conversations")
    expect(sidebar).to_be_visible()
    messages_width = page.locator("#messages").bounding_box()["width"]
    page.get_by_role("button", name="Conversations", exact=True).click()
    expect(sidebar).to_be_hidden()
    assert page.locator("#messages").bounding_box()["width"] > messages_width
    page.reload()
    expect(sidebar).to_be_hidden()
    page.get_by_role("button", name="Conversations", exact=True).click()
    expect(sidebar).to_be_visible()
    page.context.close()


def test_header_actions_open_as_a_menu_over_the_chat(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "desktop")
    page.goto(demo_server.url + site["conversation"])
    messages_top = page.locator("#messages").bounding_box()["y"]
    title = page.locator("#conversation-title")
    assert (
        title.evaluate("el => el.scrollWidth > el.clientWidth") is False
        or title.evaluate("el => getComputedStyle(el).textOverflow") == "ellipsis"
    )
    open_menu(page, "Conversation actions")
    expect(page.get_by_role("button", name="Delete conversation")).to_be_visible()
    assert page.locator("#messages").bounding_box()["y"] == messages_top  # nothing pushed down
    screenshot(page, "conversation-actions-desktop-light")
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Delete conversation")).to_be_hidden()
    page.context.close()


def test_tool_steps_read_as_results_with_the_raw_call_behind_details(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "desktop")
    page.goto(demo_server.url + site["conversation"])
    calculation = page.locator(".message--tool").last
    expect(calculation.locator(".tool-step")).to_contain_text("17*23 = 391")
    expect(calculation.locator(".tool-item__details")).to_be_hidden()
    calculation.locator(".tool-item > summary").click()
    expect(calculation.locator(".tool-item__details")).to_contain_text('"expression"')
    search = page.locator(".message--tool").first
    expect(search.locator(".tool-search a").first).to_have_attribute("href", site["conversation"])
    expect(search.locator(".tool-step")).not_to_contain_text('"snippet"')
    page.context.close()


def test_edit_is_offered_on_the_last_question_after_a_tool_turn(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "desktop")
    page.goto(demo_server.url + site["conversation"])
    questions = page.locator(".message--user")
    last = questions.last
    expect(last).to_contain_text("what is 17*23")
    last.hover()
    expect(last.locator(".message__edit > summary")).to_be_visible()
    expect(questions.first.locator(".message__edit")).to_be_hidden()
    expect(page.get_by_role("button", name="Regenerate")).to_have_count(1)
    page.context.close()


def test_the_home_composer_starts_a_conversation_and_sends_the_message(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "phone")
    page.goto(demo_server.url + "/")
    box = page.get_by_label("Message", exact=True)
    box.fill("what is 6*7")
    box.press("Enter")
    page.wait_for_url("**/conversations/*/")
    expect(page.locator(".message--user")).to_have_count(1)
    expect(page.locator(".message--user")).to_contain_text("what is 6*7")
    expect(page.locator(".message--tool")).to_contain_text("6*7 = 42")
    wait_for_reply(page)
    page.reload()
    expect(page.locator(".message--user")).to_have_count(1)  # sent once, not again
    page.context.close()


def test_message_actions_are_named_icons_with_tooltips_and_a_more_menu(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "desktop")
    page.goto(demo_server.url + site["conversation"])
    reply = page.locator(".message--assistant").last
    copy = reply.get_by_role("button", name="Copy text")
    copy.hover()
    assert copy.evaluate("el => getComputedStyle(el, '::after').content") == '"Copy"'
    assert copy.evaluate("el => el.textContent.trim()") == ""  # an icon, named by its label
    expect(reply.get_by_role("button", name="Extract contacts")).to_be_hidden()
    open_menu(reply, "More actions")
    expect(reply.get_by_role("button", name="Extract contacts")).to_be_visible()
    page.context.close()


def test_keyboard_reaches_the_composer_and_menus_with_a_visible_focus(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "desktop")
    page.goto(demo_server.url + site["conversation"])
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.bounding_box()["y"] < 0  # out of sight until focused
    skip.focus()
    assert skip.bounding_box()["y"] >= 0
    summary = page.locator(".chat__actions > summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Delete conversation")).to_be_visible()
    page.keyboard.press("Escape")
    expect(summary).to_be_focused()
    outline = summary.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"
    page.context.close()


def test_usage_of_a_free_model_still_shows_bars(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "phone")
    page.goto(demo_server.url + "/admin/")
    page.get_by_role("link", name="Usage per user").click()
    page.get_by_role("link", name="alice").click()
    requests = page.locator("#requests-per-day")
    expect(requests).to_be_visible()
    heights = requests.locator("rect").evaluate_all("rs => rs.map(r => r.getBBox().height)")
    assert len(heights) == 30 and max(heights) > 50
    expect(page.locator("#tokens-per-day")).to_be_visible()
    expect(page.locator("#cost-chart")).to_contain_text("every call was free")
    expect(page.locator("#requests-chart")).to_contain_text("UTC")
    assert not scrolls_sideways(page)
    screenshot(page, "usage-free-model-phone-light")
    page.context.close()


def test_no_favicon_request_fails(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "desktop")
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(demo_server.url + "/")
    page.wait_for_load_state("networkidle")
    assert page.request.get(demo_server.url + "/favicon.ico").ok
    assert failed == []
    page.context.close()


def test_password_is_not_needed_twice(page, demo_server):
    """The login page itself: labelled fields, one primary button."""
    page.goto(f"{demo_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{demo_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("What can I help with?")


def test_a_new_token_stands_apart_from_the_name_field_on_a_phone(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "phone")
    page.goto(f"{demo_server.url}/settings/tokens/")
    page.get_by_label("Name", exact=True).fill("phone")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New token").bounding_box()
    label = page.locator("label[for=token-name]").bounding_box()
    assert label["y"] >= token["y"] + token["height"] + 16
    expect(page.get_by_role("button", name="Revoke phone")).to_be_visible()
    assert not scrolls_sideways(page)
    screenshot(page, "tokens-created-phone-light")
    page.context.close()


def test_the_composer_grows_with_its_text_and_stays_in_view(browser, demo_server, site):
    page = open_page(browser, demo_server, site, "phone")
    page.goto(demo_server.url + site["conversation"])
    box = page.get_by_label("Message", exact=True)
    one_line = box.bounding_box()["height"]
    box.fill("first line\nsecond line\nthird line\nfourth line")
    grown = box.bounding_box()
    assert grown["height"] > one_line * 2
    assert grown["y"] + grown["height"] <= 844
    box.fill("\n".join(f"line {i}" for i in range(60)))
    assert box.bounding_box()["height"] <= 844 * 0.4 + 2  # then it scrolls inside
    page.context.close()
