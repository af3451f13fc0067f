"""Queries built once (chatsite/compiled.py) answer what the ORM answers, call after call."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models import Exists, OuterRef

from agents import memory
from chatsite.compiled import Compiled, Insert, Update
from conversations.models import Conversation, Message, Summary
from conversations.services import create_conversation, prompt_messages, record_turn

pytestmark = pytest.mark.django_db


def messages_of(conversation_id: int, after: int):
    return (
        Message.objects.filter(conversation_id=conversation_id, pk__gt=after)
        .exclude(role="assistant", content="")
        .order_by("pk")
        .only("pk", "role", "content", "tool_calls")
    )


def test_each_call_binds_its_own_values(user, other_user):
    compiled = Compiled(messages_of, ["int", "int"])
    mine, theirs = create_conversation(user), create_conversation(other_user)
    for conversation in (mine, theirs, mine):
        for text in ("one", "two", "three"):
            conversation.messages.create(role="user", content=f"{text} {conversation.pk}")
        conversation.messages.create(role="assistant", content="", tool_calls=[{"id": "a"}])
    for conversation in (mine, theirs):
        first = conversation.messages.order_by("pk").first()
        for after in (0, first.pk):
            got = compiled.all(conversation.pk, after)
            expected = list(messages_of(conversation.pk, after))
            assert [(m.pk, m.content, m.tool_calls) for m in got] == [
                (m.pk, m.content, m.tool_calls) for m in expected
            ]
            assert got and all(m.conversation_id == conversation.pk for m in expected)
    assert compiled.all(-1, 0) == [] and compiled.first(-1, 0) is None


def test_a_value_used_twice_and_annotations_come_back(user):
    def with_replying(conversation_id: int):
        streaming = Message.objects.filter(conversation=OuterRef("pk"), status="streaming")
        return Conversation.objects.filter(pk=conversation_id).annotate(
            replying=Exists(streaming.filter(conversation_id=conversation_id))
        )

    compiled = Compiled(with_replying, ["int"])
    quiet, busy = create_conversation(user), create_conversation(user)
    busy.messages.create(role="assistant", status="streaming")
    assert not compiled.first(quiet.pk).replying
    assert compiled.first(busy.pk).replying


def test_strings_bind_too(user):
    compiled = Compiled(lambda title: Conversation.objects.filter(title=title), ["str"])
    create_conversation(user, title="Alpha")
    create_conversation(user, title="Beta")
    assert [c.title for c in compiled.all("Beta")] == ["Beta"]
    assert compiled.all("Gamma") == []


def test_a_marker_the_query_drops_is_an_error(user):
    compiled = Compiled(lambda pk: Conversation.objects.all(), ["int"])
    with pytest.raises(ValueError, match="marker is missing"):
        compiled.all(1)


def test_a_conversation_is_locked_only_inside_a_transaction(user):
    from django.db import transaction

    from conversations.services import lock_conversation

    conversation = create_conversation(user)
    with transaction.atomic():
        assert lock_conversation(user, conversation.pk) == conversation


@pytest.mark.django_db(transaction=True)
def test_a_lock_outside_a_transaction_is_refused(user):
    from django.db.transaction import TransactionManagementError

    from conversations.services import lock_conversation

    conversation = create_conversation(user)
    with pytest.raises(TransactionManagementError):
        lock_conversation(user, conversation.pk)


def test_a_new_turn_carries_the_summary_its_lock_read(user):
    """The turn's lock reads the current summary in the same statement: the newest
    complete one, never a failed one, and the history starts after it."""
    conversation = create_conversation(user)
    older = [conversation.messages.create(role="user", content=f"old {i}") for i in range(4)]
    conversation.summaries.create(up_to_message_id=older[1].pk, text="First summary.")
    conversation.summaries.create(up_to_message_id=older[2].pk, text="Newest summary.")
    conversation.summaries.create(
        up_to_message_id=older[3].pk, text="Failed.", status=Summary.Status.FAILED
    )
    _, history = record_turn(user, conversation.pk, "new question")
    assert history[1] == memory.summary_message("Newest summary.")
    assert [m["content"] for m in history[2:]] == ["old 3", "new question"]
    assert history == prompt_messages(conversation, before_id=history_end(conversation))

    bare = create_conversation(user)
    _, history = record_turn(user, bare.pk, "hello")
    assert [m["role"] for m in history] == ["system", "user"]


def history_end(conversation) -> int:
    return conversation.messages.order_by("-pk").first().pk


def test_an_insert_built_once_writes_what_bulk_create_writes(user):
    conversation = create_conversation(user)
    insert = Insert(Message)

    def pair(text: str) -> list[Message]:
        return [
            Message(conversation=conversation, role="user", content=text),
            Message(
                conversation=conversation,
                role="assistant",
                status="streaming",
                tool_calls=[{"id": "c1", "name": "calculate", "arguments": "{}"}],
                cost=Decimal("0.000123456789"),
            ),
        ]

    for text in ("first", "second"):  # the second call runs the SQL built by the first
        mine, theirs = pair(text), pair(text)
        insert.save(mine)
        Message.objects.bulk_create(theirs)
        assert all(m.pk and not m._state.adding for m in mine)
        assert mine[0].pk < mine[1].pk
        for written, expected in zip(mine, theirs, strict=True):
            assert row_of(written.pk) == row_of(expected.pk)


def test_an_update_built_once_changes_only_its_row_and_fields(user):
    one, two = create_conversation(user, title="One"), create_conversation(user, title="Two")
    touched = Update(Conversation, ["updated_at"])
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert touched.run(one.pk, moment) == 1
    assert touched.run(-1, moment) == 0
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.updated_at == moment and one.title == "One"
    assert two.updated_at != moment


def row_of(pk: int) -> dict:
    fields = [f.attname for f in Message._meta.concrete_fields if not f.primary_key]
    row = Message.objects.values(*fields).get(pk=pk)
    row.pop("created_at"), row.pop("updated_at")
    return row
