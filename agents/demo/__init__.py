"""The offline demo model: an OpenAI-wire-compatible transport for the real SDK.

Each module answers one kind of request: `structured` (json_schema requests), `titles`,
`summaries`, `tools` (tool calls on clear intents, then their results in words), `usage`
(questions about cost), and `transport` (the wire, and streamed markdown otherwise).
"""

from agents.demo.answer import DemoAnswer, split_tokens
from agents.demo.transport import DemoTransport

__all__ = ["DemoAnswer", "DemoTransport", "split_tokens"]
