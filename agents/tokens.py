"""The one token estimator of the app, for calls the upstream reported no usage for
(a stopped, cut or usage-less answer) and for budgets before a call.

It counts with the model's own tokenizer when the model's encoding is known (the
`bpe-openai` package ships cl100k and o200k, so nothing is fetched at run time), with
about four characters a token otherwise, and it counts everything a request sends: the
messages, the tool definitions, the structured-output schema.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import bpe_openai

# Encodings by the start of a model's name, for the names the tokenizer's own table
# lacks (dated versions, newer families); the first match wins, so longer names first.
ENCODING_PREFIXES = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
)
CHARS_PER_TOKEN = 4
# What chat formats add around each message (role and separators) and before the answer.
MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3
# What servers add around the tool definitions they render into the prompt: the block
# once, each function, each of its parameters.
TOOLS_OVERHEAD = 12
FUNCTION_OVERHEAD = 8
PROPERTY_OVERHEAD = 3
RESPONSE_FORMAT_OVERHEAD = 8
# The parts of a JSON schema a server renders for the model; the rest is structure.
RENDERED_SCHEMA_KEYS = frozenset(
    {"type", "description", "enum", "const", "items", "anyOf", "oneOf", "default"}
)


@functools.cache
def _tokenizer() -> ModuleType:
    """`bpe_openai`, loaded when a count first needs it: importing it reads its tables
    (about half a second and tens of MB), which most processes never need, since the
    servers report usage and the limits count characters."""
    return importlib.import_module("bpe_openai")


@functools.lru_cache(maxsize=256)
def encoding_for(model: str) -> bpe_openai.Encoding | None:
    """The tokenizer of `model` when its encoding is known (shipped inside the package,
    no network), else None. Routers' "vendor/model" names count as the model."""
    name = model.rsplit("/", 1)[-1]
    tokenizer = _tokenizer()
    with contextlib.suppress(tokenizer.UnsupportedModelError):
        return tokenizer.encoding_for_model(name)
    for prefix, encoding in ENCODING_PREFIXES:
        if name.startswith(prefix):
            return tokenizer.get_encoding(encoding)
    return None


def estimate_tokens(text: str, model: str = "") -> int:
    """Tokens in `text`: counted by `model`'s own tokenizer when its encoding is known,
    else about four characters a token."""
    if not text:
        return 0
    encoding = encoding_for(model) if model else None
    if encoding is None:
        return max(1, -(-len(text) // CHARS_PER_TOKEN))
    return len(encoding.encode_ordinary(text))


def estimate_prompt_tokens(
    messages: list[dict[str, Any]],
    model: str = "",
    *,
    tools: list[dict[str, Any]] | None = None,
    schema: dict[str, Any] | None = None,
) -> int:
    """Tokens of everything a request sends: its messages with their framing, the tool
    definitions and the structured-output schema."""
    total = REPLY_PRIMING if messages else 0
    for message in messages:
        total += MESSAGE_OVERHEAD + estimate_tokens(_message_text(message), model)
    if tools:
        total += TOOLS_OVERHEAD + sum(_function_tokens(tool, model) for tool in tools)
    if schema:
        # Servers put a structured-output schema in the prompt as the JSON it is.
        total += RESPONSE_FORMAT_OVERHEAD + estimate_tokens(json.dumps(schema), model)
    return total


def _message_text(message: dict[str, Any]) -> str:
    """The text of a message the model reads: role, content (or its text parts), and
    the tool calls it made."""
    content = message.get("content") or ""
    if isinstance(content, list):
        content = " ".join(str(part.get("text") or "") for part in content)
    parts = [str(message.get("role") or ""), str(content)]
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts += [str(function.get("name") or ""), str(function.get("arguments") or "")]
    return "\n".join(part for part in parts if part)


def _function_tokens(tool: dict[str, Any], model: str) -> int:
    function = tool.get("function") or tool
    text = f"{function.get('name') or ''}: {function.get('description') or ''}"
    parameters = function.get("parameters") or {}
    return FUNCTION_OVERHEAD + estimate_tokens(text, model) + _schema_tokens(parameters, model)


def _schema_tokens(node: Any, model: str) -> int:
    """Tokens of a JSON schema as servers render it: property names, types,
    descriptions and allowed values, with a little framing per property."""
    if isinstance(node, str):
        return estimate_tokens(node, model)
    if isinstance(node, list):
        return sum(_schema_tokens(item, model) for item in node)
    if not isinstance(node, dict):
        return 0
    total = 0
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            total += sum(
                PROPERTY_OVERHEAD + estimate_tokens(name, model) + _schema_tokens(sub, model)
                for name, sub in value.items()
            )
        elif key == "$defs" and isinstance(value, dict):
            total += _schema_tokens(list(value.values()), model)
        elif key in RENDERED_SCHEMA_KEYS:
            total += _schema_tokens(value, model)
    return total
