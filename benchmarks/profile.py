"""Summarise a py-spy profile written by `benchmarks.streaming --profile DIR`.

    .venv/bin/python -m benchmarks.profile DIR/n50.txt [--top 30]

Prints the total samples, the share of each part of a turn (`GROUPS`: a sample counts
in the first group whose marker its stack contains), then the functions with the
largest inclusive share (a function counted once per sample however deep it recurs) and
the largest self share (the innermost frame). Paths are shortened to the project or the
installed package.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# The parts of a turn, in the order a sample is matched against them.
GROUPS = [
    ("turn start: session check", "still_signed_in"),
    ("turn start: the transaction (lock, rows, history)", "_pending_or_new_turn"),
    ("before the call: tool plan", "mcp_servers/tools.py"),
    ("before the call: budget and limits", "_before_call"),
    ("the request (SDK: options, body, headers)", "AsyncAPIClient.request"),
    ("reading the stream (transport, SSE, JSON)", "events_from_chunks"),
    ("pricing (the price and the profiles behind it)", "agents/prices.py"),
    ("model profiles (what a request may send)", "agents/profiles.py"),
    ("the usage row", "UsageRecordQuerySet.record"),
    ("the message's end (usage lines, costs, final write)", "_save_final"),
    ("checkpoints", "_checkpoint"),
    ("opening a socket (conversation, zone)", "_conversation_and_zone"),
    ("other database work in the pool threads", "_in_pool"),
    ("frames: template renders", "render_to_string"),
    ("frames: markdown of closed blocks", "rendering.py"),
    ("frames: deltas", "fragments.py"),
    ("the reply task (loop, batching)", "conversations/replies.py"),
    ("the consumers (Channels middleware, handlers)", "channels/"),
    ("the rest of the event loop (Daphne, Twisted, autobahn, asyncio)", ""),
]

FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>.*?)(?::\d+)?\)$")


def short(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "/lib/python3" in path:  # the standard library: asyncio/events.py
        return path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    return path.removeprefix(root)


def name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{match['func']} ({short(match['path'])})"


def summarise(path: Path, top: int) -> None:
    inclusive, own, groups = Counter(), Counter(), Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        groups[next(label for label, marker in GROUPS if marker in stack)] += samples
        frames = [name(f) for f in stack.split(";") if f]
        if frames:
            own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    print(f"{path}: {total} samples")
    print("\n  parts of a turn:")
    for label, _ in GROUPS:
        print(f"  {groups[label] / total:6.1%}  {label}")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n  top {top}, {title}:")
        for frame, samples in counter.most_common(top):
            print(f"  {samples / total:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    for profile in args.profiles:
        summarise(profile, args.top)


if __name__ == "__main__":
    main()
