"""Every open tab follows the user's conversations: new ones, titles and deletions."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from conversations import services
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)


async def new_conversation(user, title: str = ""):
    return await sync_to_async(services.create_conversation)(user, title=title)


async def test_deleting_the_open_conversation_sends_its_tabs_to_the_list(user):
    doomed, other = await new_conversation(user, "Doomed"), await new_conversation(user, "Other")
    on_doomed, _ = await open_socket(user, doomed.pk)
    on_other, _ = await open_socket(user, other.pk)

    await sync_to_async(services.delete_conversation)(user, doomed.pk)

    gone = (await receive_until(on_doomed, "conversation-gone"))[-1]
    assert f'data-redirect="/?deleted={doomed.pk}"' in gone
    dropped = (await receive_until(on_other, f"conversation-item-{doomed.pk}"))[-1]
    assert 'hx-swap-oob="delete"' in dropped
    await on_doomed.disconnect()
    await on_other.disconnect()


async def test_a_tool_turn_titles_the_conversation_in_every_tab(fake_upstream, user):
    first, elsewhere = await new_conversation(user), await new_conversation(user, "Elsewhere")
    call = {"id": "c1", "name": "calculate", "arguments": json.dumps({"expression": "2+2"})}
    fake_upstream.add(Reply(text="", tool_calls=[call]), Reply(text="It is 4."))
    here, _ = await open_socket(user, first.pk)
    other, _ = await open_socket(user, elsewhere.pk)

    await here.send_json_to({"message": "what is 2+2"})
    await receive_until(here, "It is 4.</p>")
    seen = (await receive_until(other, f"conversation-link-{first.pk}"))[-1]

    assert "what is 2+2" in seen
    assert "conversation-title" not in seen  # another page's header stays as it is
    await here.disconnect()
    await other.disconnect()


async def test_a_new_conversation_appears_in_every_open_sidebar(user):
    open_one = await new_conversation(user, "Open")
    socket, _ = await open_socket(user, open_one.pk)

    added = await new_conversation(user, "Brand new")

    frame = (await receive_until(socket, "Brand new"))[-1]
    assert 'id="conversation-items" hx-swap-oob="afterbegin"' in frame
    assert f'id="conversation-item-{added.pk}"' in frame
    await socket.disconnect()


async def test_another_users_conversations_never_reach_my_tabs(user, other_user):
    mine = await new_conversation(user, "Mine")
    socket, _ = await open_socket(user, mine.pk)
    await new_conversation(other_user, "Theirs")
    await sync_to_async(services.rename_conversation)(user, mine.pk, "Renamed")
    frames = await receive_until(socket, "Renamed")
    assert not any("Theirs" in f for f in frames)
    await socket.disconnect()
