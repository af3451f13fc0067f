"""Usage in the browser: live progress while streaming, then tokens, cost and total."""

import re
from decimal import Decimal

from playwright.sync_api import expect

from tests.browser.conftest import log_in, new_conversation, screenshot
from tests.fake_upstream import Reply


def test_reply_shows_live_progress_then_tokens_cost_and_the_running_total(
    page, daphne_server, upstream
):
    usage = {"prompt_tokens": 10_000, "completion_tokens": 40}
    upstream.add(Reply(tokens=[f"w{i} " for i in range(40)], token_delay=0.05, usage=usage))
    log_in(page, daphne_server)
    new_conversation(page)
    page.get_by_label("Message").fill("Count my tokens")
    page.get_by_label("Message").press("Enter")

    reply = page.locator(".message--assistant").last
    expect(reply.locator(".message__progress")).to_contain_text(re.compile(r"\d+ tokens? · "))
    # 10,000 input at $0.15 and 40 output at $0.60 per million tokens (seeded prices).
    expect(reply.locator(".message__usage")).to_contain_text("10000 + 40 tokens · $0.001524")
    expect(reply.locator(".message__usage")).to_contain_text("gpt-4o-mini")
    expect(reply.locator(".message__progress")).to_have_count(0)
    # The conversation's total: this reply's cost, then more as its background calls
    # (the title) are recorded, live.
    cost = page.locator("#conversation-cost")
    expect(cost).to_have_text(re.compile(r"^\$0\.\d+ so far\s*$"))
    assert Decimal(cost.inner_text().split()[0].lstrip("$")) >= Decimal("0.001524")
    screenshot(page, "usage-after-reply")

    page.reload()
    expect(page.locator(".message--assistant .message__usage")).to_contain_text("$0.001524")
