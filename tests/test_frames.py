"""Frame batching on its own, with time passed in."""

from conversations.frames import FrameBatcher, FramePolicy

POLICY = FramePolicy(interval=0.04, max_tokens=3, max_wait=0.1)


def test_the_first_delta_goes_out_at_once():
    batcher = FrameBatcher(POLICY)
    assert batcher.add("Hello", now=0.0)
    assert batcher.due(now=0.0) and batcher.take() == "Hello"
    assert not batcher.due(now=0.0)


def test_later_deltas_wait_for_enough_tokens_or_enough_time():
    batcher = FrameBatcher(POLICY)
    batcher.add("a", now=0.0)
    batcher.take()
    assert not batcher.add("b", now=1.0)
    assert not batcher.due(now=1.05)
    assert batcher.due(now=1.1)  # the oldest waiting delta is max_wait old
    assert not batcher.add("c", now=1.1)
    assert batcher.add("d", now=1.1)  # three waiting: due at once
    assert batcher.take() == "bcd" and batcher.waiting == 0


def test_a_snapshot_goes_once_to_each_socket_that_asked_and_a_restart_empties_it():
    batcher = FrameBatcher(POLICY)
    batcher.add("one ", now=0.0)
    batcher.take()
    batcher.add("two", now=0.0)
    batcher.snapshot_to |= {"tab-a", "tab-b"}
    assert batcher.due(now=0.0)
    assert batcher.take() == "two"  # the group first, so no tab gets a piece twice
    assert batcher.take_snapshot() == ({"tab-a", "tab-b"}, "one two")
    assert not batcher.due(now=5.0) and batcher.take_snapshot() == (set(), "one two")
    batcher.restart()
    assert (batcher.text, batcher.sent, batcher.snapshot_to) == ("", 0, set())
