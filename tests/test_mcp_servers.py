"""MCP tool servers in the chat, against real servers started here with the SDK's
MCPServer (the former FastMCP): one over Streamable HTTP, one over stdio."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client

from agents import tools
from agents.demo.tools import respond
from agents.tools import ToolContext
from conversations.models import Conversation, Message, ToolConfirmation
from conversations.services import create_conversation
from mcp_servers import client, discovery
from mcp_servers.models import ConversationTool, McpServer, McpTool
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[1]
CARD = 'class="confirmation confirmation--pending"'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the MCP server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("the MCP server did not start")


@pytest.fixture(scope="module")
def notes_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mcp") / "notes.json"


@pytest.fixture(scope="module")
def http_url(notes_file):
    """A real MCP server over Streamable HTTP on a free loopback port."""
    port = free_port()
    command = [sys.executable, "-m", "tests.mcp_test_server", "--notes", str(notes_file)]
    process = subprocess.Popen([*command, "--http", str(port)], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def notes_with(notes_file: Path, marker: str) -> int:
    """How many times the server ran add_note with `marker` (it counts every call)."""
    notes = json.loads(notes_file.read_text()) if notes_file.exists() else []
    return sum(marker in note for note in notes)


@pytest.fixture
def server(http_url) -> McpServer:
    """The HTTP server connected for everyone, its tools discovered."""
    server = McpServer.objects.create(name="notes", url=http_url, everyone=True, timeout=5)
    discovery.refresh(server)
    return server


def call(name: str, call_id: str = "", **arguments) -> dict[str, str]:
    return {"id": call_id or f"call_{name}", "name": name, "arguments": json.dumps(arguments)}


async def turn(user, conversation, text: str, until: str):
    """Send a message on a socket; the frames until `until` shows."""
    socket_, connected = await open_socket(user, conversation.pk)
    assert connected
    await socket_.send_json_to({"message": text})
    frames = await receive_until(socket_, until)
    return socket_, frames


async def tool_answers(conversation) -> list[str]:
    rows = Message.objects.filter(conversation=conversation, role="tool").order_by("pk")
    return [m.content async for m in rows]


async def offered_names(fake_upstream, index: int = 0) -> set[str]:
    return {t["function"]["name"] for t in fake_upstream.requests[index].get("tools", [])}


# Discovery.


def test_discovery_stores_each_tool_with_its_schema_and_default_policy(server):
    found = {t.name: t for t in server.tools.all()}

    assert {"search_notes", "add_note", "always_fails", "slow"} <= set(found)
    search, add = found["search_notes"], found["add_note"]
    assert search.read_only and search.policy == McpTool.Policy.NEVER
    assert not add.read_only and add.policy == McpTool.Policy.ASK
    assert add.input_schema["properties"]["text"]["type"] == "string"
    assert "Add a note" in add.description
    assert add.offered_name == "notes__add_note"
    server.refresh_from_db()
    assert server.refreshed_at is not None and server.last_error == ""


def test_refresh_keeps_staff_choices_but_asks_again_for_a_tool_no_longer_read_only(server):
    server.tools.filter(name="add_note").update(policy=McpTool.Policy.ONCE)
    # As if the server had once said add_note only reads and staff chose never to ask.
    server.tools.filter(name="slow").update(read_only=False, policy=McpTool.Policy.NEVER)
    server.tools.filter(name="search_notes").update(policy=McpTool.Policy.ASK)

    discovery.refresh(server)

    policies = dict(server.tools.values_list("name", "policy"))
    assert policies["add_note"] == McpTool.Policy.ONCE
    assert policies["search_notes"] == McpTool.Policy.ASK  # staff's stricter choice stays
    assert policies["slow"] == McpTool.Policy.NEVER  # it says read-only again


def test_never_ask_is_refused_for_a_writing_tool_unless_staff_override(server):
    add = server.tools.get(name="add_note")
    add.policy = McpTool.Policy.NEVER
    with pytest.raises(ValidationError):
        add.full_clean()
    add.never_ask_override = True
    add.full_clean()


def test_admin_save_lists_the_tools_and_refresh_lists_them_again(http_url, make_user):
    staff = make_user("staff", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(staff)
    form = {
        "name": "notes",
        "transport": "streamable-http",
        "url": http_url,
        "headers": "{}",
        "args": "[]",
        "timeout": "5",
        "enabled": "on",
        "everyone": "on",
        "tools-TOTAL_FORMS": "0",
        "tools-INITIAL_FORMS": "0",
    }
    response = browser.post("/admin/mcp_servers/mcpserver/add/", form, follow=True)
    assert response.status_code == 200
    server = McpServer.objects.get(name="notes")
    assert server.tools.filter(name="add_note").exists()

    server.tools.all().delete()
    action = {"action": "refresh_tools", "_selected_action": [server.pk]}
    response = browser.post("/admin/mcp_servers/mcpserver/", action, follow=True)
    assert "tool(s) listed" in response.content.decode()
    assert server.tools.filter(name="search_notes").exists()


def test_a_server_that_is_down_is_reported_on_refresh():
    server = McpServer.objects.create(name="gone", url=f"http://127.0.0.1:{free_port()}/mcp")
    with pytest.raises(client.ServerUnavailable):
        discovery.refresh(server)
    server.refresh_from_db()
    assert "could not be reached" in server.last_error


# Calls in a chat turn.


async def test_a_read_only_tool_runs_without_asking(fake_upstream, server, user, conversation):
    fake_upstream.add(
        Reply(text="", tool_calls=[call("notes__search_notes", query="nothing-here")]),
        Reply(text="No notes about that."),
    )
    socket_, _ = await turn(user, conversation, "find my notes", "No notes about that.</p>")
    await socket_.disconnect()

    assert "notes__search_notes" in await offered_names(fake_upstream)
    schema = next(
        t["function"]
        for t in fake_upstream.requests[0]["tools"]
        if t["function"]["name"] == "notes__search_notes"
    )
    assert schema["parameters"]["required"] == ["query"]
    assert await tool_answers(conversation) == ["No note matches."]
    assert not await ToolConfirmation.objects.aexists()


async def test_a_writing_tool_waits_for_approval_then_runs_exactly_once(
    fake_upstream, server, user, conversation, notes_file
):
    fake_upstream.add(
        Reply(text="", tool_calls=[call("notes__add_note", text="buy milk #once")]),
        Reply(text="Noted."),
    )
    socket_, frames = await turn(user, conversation, "note: buy milk", CARD)
    card = next(f for f in frames if CARD in f)
    assert "tool server <strong>notes</strong>" in card
    assert "buy milk #once" in card and "Allow for this conversation" not in card
    assert notes_with(notes_file, "#once") == 0  # nothing runs before the decision

    pending = await ToolConfirmation.objects.aget(status="pending")
    assert pending.server == "notes" and pending.tool_name == "notes__add_note"
    for _ in range(2):  # a double click, or a second tab
        await socket_.send_json_to({"action": "confirm", "confirmation": pending.pk})
    await receive_until(socket_, "Noted.</p>")
    await socket_.disconnect()

    assert notes_with(notes_file, "#once") == 1
    await pending.arefresh_from_db()
    assert pending.status == ToolConfirmation.Status.EXECUTED
    assert pending.result.startswith("Added note")


async def test_cancel_never_calls_the_tool(fake_upstream, server, user, conversation, notes_file):
    fake_upstream.add(
        Reply(text="", tool_calls=[call("notes__add_note", text="secret #cancelled")]),
        Reply(text="Not noted."),
    )
    socket_, _ = await turn(user, conversation, "note it", CARD)
    pending = await ToolConfirmation.objects.aget(status="pending")
    await socket_.send_json_to({"action": "cancel", "confirmation": pending.pk})
    await receive_until(socket_, "Not noted.</p>")
    await socket_.disconnect()

    assert notes_with(notes_file, "#cancelled") == 0
    await pending.arefresh_from_db()
    assert pending.status == ToolConfirmation.Status.REJECTED


async def test_allow_for_this_conversation_skips_the_next_card_here_but_not_elsewhere(
    fake_upstream, server, user, conversation, notes_file
):
    await McpTool.objects.filter(name="add_note").aupdate(policy=McpTool.Policy.ONCE)
    fake_upstream.add(
        Reply(text="", tool_calls=[call("notes__add_note", "c1", text="one #allow")]),
        Reply(text="First noted."),
        Reply(text="", tool_calls=[call("notes__add_note", "c2", text="two #allow")]),
        Reply(text="Second noted."),
        Reply(text="", tool_calls=[call("notes__add_note", "c3", text="three #allow")]),
    )
    socket_, frames = await turn(user, conversation, "note one", CARD)
    assert "Allow for this conversation" in next(f for f in frames if CARD in f)
    pending = await ToolConfirmation.objects.aget(status="pending")
    await socket_.send_json_to({"action": "allow", "confirmation": pending.pk})
    await receive_until(socket_, "First noted.</p>")
    await socket_.send_json_to({"message": "note two"})
    await receive_until(socket_, "Second noted.</p>")
    await socket_.disconnect()
    assert notes_with(notes_file, "#allow") == 2
    assert await ToolConfirmation.objects.acount() == 1  # no second card

    other = await sync_to_async(create_conversation)(user, model=conversation.model)
    socket_, _ = await turn(user, other, "note three", CARD)
    await socket_.disconnect()
    assert notes_with(notes_file, "#allow") == 2
    assert await ToolConfirmation.objects.filter(conversation=other, status="pending").aexists()


async def test_a_server_that_is_down_is_left_out_with_a_quiet_notice(
    fake_upstream, user, conversation
):
    await McpServer.objects.acreate(
        name="gone", url=f"http://127.0.0.1:{free_port()}/mcp", everyone=True, timeout=2
    )
    gone = await McpServer.objects.aget(name="gone")
    await McpTool.objects.acreate(server=gone, name="lookup", input_schema={"type": "object"})
    fake_upstream.add(Reply(text="Answered anyway."))

    socket_, frames = await turn(user, conversation, "hello", "Answered anyway.</p>")
    await socket_.disconnect()

    assert any("tool server gone is not answering" in f for f in frames)
    offered = await offered_names(fake_upstream)
    assert "gone__lookup" not in offered and "calculate" in offered


async def test_a_call_that_times_out_is_an_error_not_a_hang(
    fake_upstream, server, user, conversation
):
    await McpServer.objects.filter(pk=server.pk).aupdate(timeout=1)
    fake_upstream.add(
        Reply(text="", tool_calls=[call("notes__slow", seconds=30)]), Reply(text="Too slow.")
    )
    started = time.monotonic()
    socket_, _ = await turn(user, conversation, "wait", "Too slow.</p>")
    await socket_.disconnect()

    assert time.monotonic() - started < 8
    [answer] = await tool_answers(conversation)
    assert answer == "Error: the tool server notes did not answer within 1 s."


async def test_an_is_error_result_goes_back_to_the_model_as_an_error(
    fake_upstream, server, user, conversation
):
    fake_upstream.add(
        Reply(text="", tool_calls=[call("notes__always_fails", reason="disk full")]),
        Reply(text="It failed."),
    )
    socket_, _ = await turn(user, conversation, "try", "It failed.</p>")
    await socket_.disconnect()

    sent = [m for m in fake_upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert len(sent) == 1 and sent[0]["content"].startswith("Error: ")
    assert "always_fails" in sent[0]["content"]


async def test_a_tool_result_asking_for_deletion_yields_only_a_pending_card(
    fake_upstream, server, user, conversation
):
    fake_upstream.add(
        Reply(text="", tool_calls=[call("notes__hostile_page")]),
        # The model obeys the text it just read...
        Reply(text="", tool_calls=[call("delete_conversation", conversation_id=0)]),
    )
    socket_, _ = await turn(user, conversation, "read the page", CARD)
    await socket_.disconnect()

    assert "delete_conversation" in (await tool_answers(conversation))[0]
    pending = await ToolConfirmation.objects.aget()
    assert (pending.tool_name, pending.status) == ("delete_conversation", "pending")
    assert await Conversation.objects.filter(pk=conversation.pk).aexists()


async def test_a_long_result_is_cut_with_a_note(
    fake_upstream, server, user, conversation, settings
):
    settings.MCP_RESULT_LIMIT = 50
    fake_upstream.add(Reply(text="", tool_calls=[call("notes__big", size=500)]), Reply(text="ok"))
    socket_, _ = await turn(user, conversation, "big", "ok</p>")
    await socket_.disconnect()

    [answer] = await tool_answers(conversation)
    assert answer.startswith("x" * 50 + "\n[Cut: the result had 500 characters")


# Who is offered what.


async def toolset_for(user, conversation) -> set[str]:
    offered = await tools.toolset(ToolContext(user=user, conversation_id=conversation.pk))
    return set(offered.tools)


async def test_a_user_outside_the_allowed_group_is_not_offered_the_tools(
    server, user, other_user, conversation
):
    group = await Group.objects.acreate(name="writers")
    await McpServer.objects.filter(pk=server.pk).aupdate(everyone=False)
    await sync_to_async(server.allowed_groups.add)(group)
    outsider_conversation = await sync_to_async(create_conversation)(
        other_user, model=conversation.model
    )
    await sync_to_async(user.groups.add)(group)

    assert "notes__add_note" in await toolset_for(user, conversation)
    outsider_tools = await toolset_for(other_user, outsider_conversation)
    assert not any(name.startswith("notes__") for name in outsider_tools)
    assert "calculate" in outsider_tools


def test_an_approved_call_of_someone_elses_server_cannot_be_resolved(server, other_user):
    server.everyone = False
    server.save()
    with pytest.raises(tools.ToolError):
        tools.resolve("notes__add_note", ToolContext(user=other_user))


def test_stdio_servers_are_refused_unless_the_site_allows_them(settings):
    settings.MCP_ALLOW_STDIO = False
    server = McpServer(name="local", transport="stdio", command=sys.executable)
    with pytest.raises(ValidationError):
        server.full_clean()


async def test_a_stdio_server_is_discovered_and_its_read_only_tool_runs(
    settings, user, conversation, tmp_path
):
    settings.MCP_ALLOW_STDIO = True
    (tmp_path / "notes.json").write_text(json.dumps(["stdio note about tea"]))
    server = await McpServer.objects.acreate(
        name="local",
        transport="stdio",
        command=sys.executable,
        args=["-m", "tests.mcp_test_server", "--notes", str(tmp_path / "notes.json")],
        everyone=True,
        timeout=20,
    )
    await sync_to_async(discovery.refresh)(server)

    context = ToolContext(user=user, conversation_id=conversation.pk)
    offered = await tools.toolset(context)
    search = offered.get("local__search_notes")
    assert not search.is_sensitive and offered.get("local__add_note").is_sensitive
    outcome = await tools.call(search, search.parse_arguments('{"query": "tea"}'), context)
    assert outcome.content == "stdio note about tea"


# The tools menu.


def test_the_tools_menu_lists_built_in_and_server_tools_with_their_policy(
    server, logged_in, conversation
):
    page = logged_in.get(f"/conversations/{conversation.pk}/tools/").content.decode()

    assert "<code>calculate</code>" in page and "<code>notes__add_note</code>" in page
    assert "Ask every time" in page and "Never ask" in page and "Asks every time" in page


async def test_a_tool_switched_off_is_not_offered_in_that_conversation_only(
    server, user, conversation
):
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    for name in ("calculate", "notes__search_notes"):
        response = await sync_to_async(browser.post)(
            f"/conversations/{conversation.pk}/tools/switch/", {"tool": name, "on": "false"}
        )
        assert response.status_code == 200 and "Switch on" in response.content.decode()

    offered = await toolset_for(user, conversation)
    assert "calculate" not in offered and "notes__search_notes" not in offered
    other = await sync_to_async(create_conversation)(user, model=conversation.model)
    assert {"calculate", "notes__search_notes"} <= await toolset_for(user, other)


async def test_what_a_turn_read_ahead_serves_its_toolset_once(user, conversation):
    """A turn reads the conversation's tool choices in its own transaction
    (`tools.prepare`); its toolset uses that reading, and the next one reads again."""
    context = await sync_to_async(tools.prepare)(
        ToolContext(user=user, conversation_id=conversation.pk)
    )
    await ConversationTool.objects.acreate(
        conversation=conversation, tool_name="calculate", switched_off=True
    )
    assert "calculate" in (await tools.toolset(context)).tools  # as it was when read
    assert "calculate" not in (await tools.toolset(context)).tools  # read again


async def test_a_turn_offers_the_model_what_its_conversation_switched_on(
    fake_upstream, user, conversation
):
    await ConversationTool.objects.acreate(
        conversation=conversation, tool_name="calculate", switched_off=True
    )
    fake_upstream.add(Reply(text="Done."))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "What can you do?"})
    await receive_until(socket, "message--assistant message--complete")
    await socket.disconnect()
    offered = {t["function"]["name"] for t in fake_upstream.requests[0]["tools"]}
    assert offered and "calculate" not in offered


def test_someone_elses_tools_menu_is_not_found(logged_in, other_user, conversation):
    theirs = create_conversation(other_user, model=conversation.model)
    assert logged_in.get(f"/conversations/{theirs.pk}/tools/").status_code == 404
    switch = {"tool": "calculate", "on": "false"}
    assert logged_in.post(f"/conversations/{theirs.pk}/tools/switch/", switch).status_code == 404


def test_switching_an_unknown_tool_is_refused(logged_in, conversation):
    switch = {"tool": "no_such_tool", "on": "false"}
    response = logged_in.post(f"/conversations/{conversation.pk}/tools/switch/", switch)
    assert response.status_code == 400


# Results and the demo model.


def test_images_and_resources_are_listed_by_type_and_size_not_fetched():
    from mcp import types

    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="Here:"),
            types.ImageContent(type="image", data="aGVsbG8=", mime_type="image/png"),
            types.ResourceLink(
                type="resource_link",
                name="r",
                uri="file:///r.pdf",
                mime_type="application/pdf",
                size=2048,
            ),
        ]
    )
    outcome = client.as_outcome(result, limit=1000)
    assert outcome.content.splitlines() == [
        "Here:",
        "[image: image/png, 5 bytes]",
        "[resource link: file:///r.pdf (application/pdf, 2.0 KB)]",
    ]


def test_structured_content_alone_is_sent_as_json():
    from mcp import types

    result = types.CallToolResult(content=[], structured_content={"count": 2})
    assert client.as_outcome(result, limit=1000).content == '{"count": 2}'


def test_the_demo_model_calls_a_named_tool_with_the_rest_as_its_text():
    offered = [
        {
            "type": "function",
            "function": {
                "name": "notes__search_notes",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    body = {"tools": offered, "messages": [{"role": "user", "content": "use search_notes milk"}]}
    [tool_call] = respond(body).tool_calls
    assert tool_call["name"] == "notes__search_notes"
    assert json.loads(tool_call["arguments"]) == {"query": "milk"}
    body["messages"] = [{"role": "user", "content": "use unknown_tool milk"}]
    assert respond(body) is None


async def test_the_demo_model_uses_a_server_tool_on_a_clear_intent(server, user, conversation):
    socket_, _ = await turn(user, conversation, "use search_notes zebra", "Demo model (offline)")
    await receive_until(socket_, "message--complete")
    await socket_.disconnect()

    assert await tool_answers(conversation) == ["No note matches."]


async def test_allow_on_a_card_that_does_not_offer_it_only_confirms_this_call(
    fake_upstream, server, user, conversation, notes_file
):
    fake_upstream.add(
        Reply(text="", tool_calls=[call("notes__add_note", text="crafted #crafted")]),
        Reply(text="Noted once."),
    )
    socket_, _ = await turn(user, conversation, "note it", CARD)
    pending = await ToolConfirmation.objects.aget(status="pending")
    # A hand-made frame: "ask every time" cards have no Allow button.
    await socket_.send_json_to({"action": "allow", "confirmation": pending.pk})
    await receive_until(socket_, "Noted once.</p>")
    await socket_.disconnect()

    assert notes_with(notes_file, "#crafted") == 1
    assert not await ConversationTool.objects.aexists()
    offered = await tools.toolset(ToolContext(user=user, conversation_id=conversation.pk))
    assert offered.get("notes__add_note").is_sensitive


async def test_never_ask_stored_for_a_writing_tool_without_override_still_asks(
    server, user, conversation
):
    # As if set around the form's validation (a shell, an old row).
    await McpTool.objects.filter(name="add_note").aupdate(policy=McpTool.Policy.NEVER)
    offered = await tools.toolset(ToolContext(user=user, conversation_id=conversation.pk))
    assert offered.get("notes__add_note").is_sensitive
    assert not offered.get("notes__search_notes").is_sensitive
