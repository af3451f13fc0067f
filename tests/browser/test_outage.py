"""A page through a Redis outage: it says live updates stopped, reconnects by itself when
Redis is back, and shows what happened meanwhile without a reload.

A process of its own on PostgreSQL and a Redis the test can kill (see tests/scaleout).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import free_port
from tests.fake_upstream import FakeUpstream, Reply
from tests.scaleout.conftest import (
    PASSWORD,
    Cluster,
    RedisServer,
    postgres_database,
    prepared_env,
    redis_server,  # noqa: F401 (a fixture)
    require_services,
)


@pytest.fixture
def outage_server(redis_server: RedisServer, tmp_path, chromium_path) -> Iterator[Cluster]:  # noqa: F811
    require_services()
    with postgres_database(f"chat_outage_{os.getpid()}") as database_url:
        upstream = FakeUpstream().start()
        env = prepared_env(database_url, upstream.url, tmp_path / "static")
        server = Cluster(env | {"REDIS_URL": redis_server.url}, [free_port()], tmp_path)
        server.upstream = upstream
        server.start(0)
        yield server
        server.stop()
        upstream.stop()


def test_page_reports_the_outage_and_catches_up_when_redis_returns(
    outage_server,
    redis_server,  # noqa: F811
    page,
):
    base = outage_server.url(0)
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url("**/conversations/*/")
    outage_server.upstream.add(Reply(tokens=[f"w{i} " for i in range(40)], token_delay=0.05))

    page.get_by_label("Message").fill("Keep going while Redis is away")
    page.get_by_label("Message").press("Enter")
    expect(page.locator("#messages")).to_contain_text("w2")
    redis_server.kill()

    status = page.locator("#connection-status")
    expect(status).to_be_visible()
    expect(status).to_contain_text("Live updates are unavailable")
    page.wait_for_timeout(2500)  # the reply ends meanwhile, unseen by this page
    assert "w39" not in page.locator("#messages").inner_text()

    redis_server.start()
    expect(status).to_be_hidden(timeout=20000)
    reply = page.locator(".message--assistant").last
    expect(reply).to_contain_text("w39")
    expect(reply).to_have_class("message message--assistant message--complete")
    expect(page.get_by_label("Message")).to_be_enabled()
    # Idle: the one composer button is Send; Stop is there, disabled and out of view.
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.locator(".composer__stop")).to_be_disabled()
