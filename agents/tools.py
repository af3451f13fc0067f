"""Tools the model may call: a registry of plain Python functions.

A tool is a function registered with `@tool`. Its JSON schema comes from its signature
(type hints) and its docstring (the first paragraph describes the tool; lines of the
form `name: text` describe the arguments). Every tool function takes a `ToolContext`
first: who the call is for and in which conversation. The model never sees or sets
the context, so it cannot act as somebody else.

Whether a tool is sensitive (runs only after the owner confirms) is policy: the
`sensitive` flag in code or the AGENT_SENSITIVE_TOOLS setting, never the model.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    Decimal: "string",
    bool: "boolean",
}
_ARGUMENT_DOC = re.compile(r"^\s*(\w+):\s*(.+)$")


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about its caller. Built by the app, never by the model."""

    user: Any
    conversation_id: int | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    sensitive: bool = False
    hints: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sensitive(self) -> bool:
        """Sensitive by its flag or by the site's policy setting."""
        return self.sensitive or self.name in settings.AGENT_SENSITIVE_TOOLS

    def schema(self) -> dict[str, Any]:
        """The tool as the OpenAI `tools` parameter wants it."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def parse_arguments(self, raw: str) -> dict[str, Any]:
        """The model's JSON arguments, checked against the signature; `ToolError` if wrong."""
        try:
            arguments = json.loads(raw or "{}")
        except json.JSONDecodeError as exc:
            raise ToolError(f"The arguments are not valid JSON ({exc.msg}).") from None
        if not isinstance(arguments, dict):
            raise ToolError("The arguments must be a JSON object.")
        properties = self.parameters["properties"]
        unknown = sorted(set(arguments) - set(properties))
        if unknown:
            raise ToolError(f"Unknown argument(s): {', '.join(unknown)}.")
        missing = [name for name in self.parameters["required"] if name not in arguments]
        if missing:
            raise ToolError(f"Missing argument(s): {', '.join(missing)}.")
        return {name: _coerce(name, value, self.hints[name]) for name, value in arguments.items()}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Accept what JSON can carry for each Python type, and nothing looser."""
    if hint is Decimal and isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    expected = _JSON_TYPES.get(hint, "value")
    raise ToolError(f"Argument {name!r} must be a {expected}, not {type(value).__name__}.")


_registry: dict[str, Tool] = {}


def tool(*, sensitive: bool = False, name: str | None = None) -> Callable[[Callable], Callable]:
    """Register a function as a tool. Its first parameter receives the `ToolContext`."""

    def register(function: Callable) -> Callable:
        built = build_tool(function, sensitive=sensitive, name=name)
        _registry[built.name] = built
        return function

    return register


def build_tool(function: Callable, *, sensitive: bool = False, name: str | None = None) -> Tool:
    """A `Tool` from a function's signature and docstring."""
    hints = typing.get_type_hints(function)
    parameters = list(inspect.signature(function).parameters.values())[1:]  # skip context
    description, argument_docs = _parse_docstring(inspect.getdoc(function) or "")
    properties = {
        p.name: {"type": _JSON_TYPES[hints[p.name]], "description": argument_docs.get(p.name, "")}
        for p in parameters
    }
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    return Tool(
        name=name or function.__name__,
        description=description,
        parameters={
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
        function=function,
        sensitive=sensitive,
        hints={p.name: hints[p.name] for p in parameters},
    )


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    paragraphs = doc.split("\n\n")
    arguments: dict[str, str] = {}
    for line in doc.splitlines():
        match = _ARGUMENT_DOC.match(line)
        if match:
            arguments[match.group(1)] = match.group(2).strip()
    return " ".join(paragraphs[0].split()), arguments


def registry() -> dict[str, Tool]:
    """Every registered tool by name (importing the built-in ones on first use)."""
    import agents.builtin_tools  # noqa: F401 - registers on import

    return dict(_registry)


def get_tool(name: str) -> Tool:
    try:
        return registry()[name]
    except KeyError:
        raise ToolError(f"There is no tool named {name!r}.") from None


def schemas() -> list[dict[str, Any]]:
    return [t.schema() for t in registry().values()]


def call_sync(tool: Tool, arguments: dict[str, Any], context: ToolContext) -> str:
    """Run a tool and return its result as text; failures come back as an error text."""
    try:
        if inspect.iscoroutinefunction(tool.function):
            result = async_to_sync(tool.function)(context, **arguments)
        else:
            result = tool.function(context, **arguments)
    except (ToolError, ValidationError) as exc:
        return f"Error: {_message(exc)}"
    except Exception as exc:
        logger.exception("Tool %s failed", tool.name)
        return f"Error: the tool {tool.name} failed ({type(exc).__name__})."
    return result if isinstance(result, str) else json.dumps(result, default=str)


async def call(tool: Tool, arguments: dict[str, Any], context: ToolContext) -> str:
    """`call_sync` for async code (database work runs on Django's sync thread)."""
    return await sync_to_async(call_sync)(tool, arguments, context)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)
