"""Editing, regenerating or clearing a conversation withdraws every card still waiting:
what it asked about is gone, so no click may run it any more."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from conversations import services, turns
from conversations.models import ToolConfirmation
from payments.models import Payment
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def pay() -> Reply:
    arguments = {"recipient": "Alice", "amount": "5", "currency": "EUR", "memo": "lunch"}
    call = {"id": "call_pay", "name": "make_payment", "arguments": json.dumps(arguments)}
    return Reply(text="", tool_calls=[call])


async def paused_turn(user, conversation) -> ToolConfirmation:
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "pay Alice"})
    await receive_until(socket, "confirmation--pending")
    await receive_until(socket, "message--complete")
    await socket.disconnect()
    return await ToolConfirmation.objects.aget(status="pending")


async def assert_dead(card: ToolConfirmation, user, conversation) -> None:
    await card.arefresh_from_db()
    assert card.status == ToolConfirmation.Status.EXPIRED
    decision = await turns.decide(user, conversation.pk, card.pk, approve=True)
    assert not decision.counted
    assert await Payment.objects.acount() == 0


@pytest.mark.parametrize("how", ["regenerate", "edit"])
async def test_edit_or_regenerate_while_a_card_is_pending_withdraws_it_case_7(
    how, fake_upstream, user, conversation
):
    fake_upstream.add(pay(), Reply(text="Something else entirely."))
    card = await paused_turn(user, conversation)

    if how == "regenerate":
        await turns.regenerate(user, conversation.pk)
    else:
        await turns.edit(user, conversation.pk, None, "never mind, say hi")

    await assert_dead(card, user, conversation)


async def test_clearing_the_history_withdraws_a_pending_card_case_7(
    fake_upstream, user, conversation
):
    fake_upstream.add(pay())
    card = await paused_turn(user, conversation)

    await sync_to_async(services.clear_history)(user, conversation.pk)

    await assert_dead(card, user, conversation)
