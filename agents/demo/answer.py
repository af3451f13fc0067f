"""What the demo model says, and how its text is cut into streamed tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN_PATTERN = re.compile(r"\s*\S+|\s+")


@dataclass
class DemoAnswer:
    """What the demo model says: text, tool calls ({"id", "name", "arguments"}), or both."""

    text: str = ""
    tool_calls: list[dict[str, str]] = field(default_factory=list)


def split_tokens(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text)
