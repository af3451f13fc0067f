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


def test_a_snapshot_sends_the_whole_text_once_and_a_restart_empties_it():
    batcher = FrameBatcher(POLICY)
    for part in ("one ", "two"):
        batcher.add(part, now=0.0)
    batcher.snapshot_wanted = True
    assert batcher.due(now=0.0)
    assert batcher.take_snapshot() == "one two"
    assert not batcher.due(now=5.0)
    batcher.restart()
    assert (batcher.text, batcher.sent) == ("", 0)
