"""Summarise a py-spy profile written by `benchmarks.streaming --profile DIR`.

    .venv/bin/python -m benchmarks.profile DIR/n50.txt [--top 30]

Prints the total samples, then the functions with the largest inclusive share (a
function counted once per sample however deep it recurs) and the largest self share
(the innermost frame), each as `function (file:line of its definition's first sample)`.
Paths are shortened to the project or the installed package.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

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
    inclusive, own = Counter(), Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [name(f) for f in stack.split(";") if f]
        if frames:
            own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    print(f"{path}: {total} samples")
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
