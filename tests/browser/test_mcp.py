"""MCP tool calls approved from their card in Chromium, against a live Daphne server
and a real MCP server over Streamable HTTP."""

import json
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, free_port, log_in, new_conversation, wait_for_port
from tests.fake_upstream import Reply

SETUP = """
from mcp_servers import discovery
from mcp_servers.models import McpServer
server, _ = McpServer.objects.update_or_create(
    name="notes", defaults={{"url": "{url}", "everyone": True, "timeout": 10}}
)
discovery.refresh(server)
server.tools.filter(name="add_note").update(policy="{policy}")
"""


@pytest.fixture(scope="module")
def notes_file(tmp_path_factory):
    return tmp_path_factory.mktemp("mcp-browser") / "notes.json"


@pytest.fixture(scope="module")
def mcp_url(notes_file):
    port = free_port()
    command = [sys.executable, "-m", "tests.mcp_test_server", "--notes", str(notes_file)]
    process = subprocess.Popen(
        [*command, "--http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def connect_notes(daphne_server, mcp_url: str, policy: str) -> None:
    daphne_server.manage("shell", "-c", SETUP.format(url=mcp_url, policy=policy))


def add_note(text: str, call_id: str) -> Reply:
    arguments = json.dumps({"text": text})
    return Reply(
        text="", tool_calls=[{"id": call_id, "name": "notes__add_note", "arguments": arguments}]
    )


def notes(notes_file) -> list[str]:
    return json.loads(notes_file.read_text()) if notes_file.exists() else []


def send(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def test_an_mcp_call_is_approved_from_its_card(page, daphne_server, upstream, mcp_url, notes_file):
    connect_notes(daphne_server, mcp_url, "ask")
    log_in(page, daphne_server)
    new_conversation(page)
    page.get_by_text("Tools", exact=True).click()
    expect(page.locator('[data-tool="notes__add_note"]')).to_contain_text("Ask every time")
    upstream.add(add_note("call the plumber", "call_b1"), Reply(text="Noted the plumber."))
    send(page, "Note: call the plumber")

    card = page.locator(".confirmation").last
    expect(card).to_contain_text("On the tool server notes")
    expect(card).to_contain_text("call the plumber")
    assert "call the plumber" not in notes(notes_file)
    card.get_by_role("button", name="Confirm", exact=True).click()

    expect(card).to_contain_text("Done")
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text(
        "Noted the plumber."
    )
    assert notes(notes_file).count("call the plumber") == 1


def test_allow_for_this_conversation_skips_the_next_card(
    page, daphne_server, upstream, mcp_url, notes_file
):
    connect_notes(daphne_server, mcp_url, "once")
    log_in(page, daphne_server)
    new_conversation(page)
    upstream.add(
        add_note("water the plants", "call_a1"),
        Reply(text="Noted the plants."),
        add_note("feed the cat", "call_a2"),
        Reply(text="Noted the cat."),
    )
    send(page, "Note: water the plants")
    card = page.locator(".confirmation").last
    card.get_by_role("button", name="Allow for this conversation").click()
    expect(card).to_contain_text("Done")
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text(
        "Noted the plants."
    )

    send(page, "Note: feed the cat")
    expect(page.locator(".message--assistant.message--complete").last).to_contain_text(
        "Noted the cat."
    )
    expect(page.locator(".confirmation")).to_have_count(1)
    assert notes(notes_file)[-2:] == ["water the plants", "feed the cat"]
