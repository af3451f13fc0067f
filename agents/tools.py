"""Tools the model may call: a registry of plain Python functions.

A tool is a function registered with `@tool`. Its JSON schema comes from its signature
(type hints, through a pydantic model built from them) and its docstring (the first
paragraph describes the tool; lines of the form `name: text` describe the arguments),
and the same model validates the arguments the model sends. Every tool function takes a
`ToolContext` first: who the call is for and in which conversation. The model never sees
or sets the context, so it cannot act as somebody else.

The apps that own the data register their tools (`<app>/tools.py`, imported in their
`AppConfig.ready`); this module knows none of them. An app whose tools depend on the
caller (tools of outside servers, tools switched off in one conversation) registers a
provider instead: each turn starts from `toolset(context)`, the registry as every
provider left it for that caller.

Whether a tool is sensitive (runs only after the owner confirms) is policy: the
`sensitive` flag in code or the AGENT_SENSITIVE_TOOLS setting, never the model.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

import pydantic
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError

from chatsite import db

logger = logging.getLogger(__name__)

_ARGUMENT_DOC = re.compile(r"^\s*(\w+):\s*(.+)$")
_PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


def _plain_decimal(value: Any) -> Any:
    """Only plain decimal notation: "0.01e5", "1_000" or "Infinity" mean something else
    to a reader than to Decimal, and a confirmation card must mean what will run."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value  # refused by the Decimal type itself
    if not _PLAIN_DECIMAL.fullmatch(str(value).strip()):
        raise ValueError("use plain decimal notation, such as 12.50")
    return Decimal(str(value).strip())


# Money travels as text, so no amount is ever a binary float on its way in.
_SCHEMA_TYPES: dict[Any, Any] = {
    Decimal: Annotated[
        Decimal,
        pydantic.BeforeValidator(_plain_decimal),
        pydantic.WithJsonSchema({"type": "string"}),
    ],
}
_STRICT = pydantic.ConfigDict(extra="forbid", strict=True)


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about its caller. Built by the app, never by the model."""

    user: Any
    conversation_id: int | None = None
    # What providers read ahead for this caller (`prepare`), each used once.
    prepared: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool call produced: its content, or the error that stopped it."""

    content: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def for_model(self) -> str:
        """The text the model is sent back."""
        return self.content if self.ok else f"Error: {self.error}"


Describe = Callable[[ToolContext, dict[str, Any]], str]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    arguments: type[pydantic.BaseModel]
    function: Callable[..., Any]
    sensitive: bool = False
    # What a call will do, in plain words, for a confirmation card.
    describe: Describe | None = None
    # Where the tool runs when not in this app (an outside server's name), for the card
    # and the audit trail.
    origin: str = ""
    # Set when the owner may allow the tool for a whole conversation from its card:
    # records that permission (called only from the owner's own decision).
    allow_in_conversation: Callable[[ToolContext], None] | None = None

    @property
    def is_sensitive(self) -> bool:
        """Sensitive by its flag or by the site's policy setting."""
        return self.sensitive or self.name in settings.AGENT_SENSITIVE_TOOLS

    @functools.cached_property
    def parameters(self) -> dict[str, Any]:
        """The arguments' JSON schema. Built once: pydantic's schema generation was the
        largest single cost of a model call when it ran for every request. Shared, so
        nothing may change it in place (the SDK only reads it)."""
        return _clean_schema(self.arguments.model_json_schema())

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
        """The model's JSON arguments, validated against the signature; `ToolError` if wrong."""
        try:
            parsed = self.arguments.model_validate_json(raw or "{}")
        except pydantic.ValidationError as exc:
            raise ToolError(_validation_message(exc)) from None
        # JSON-ready values (a Decimal as its exact text): they are stored with a pending
        # confirmation and reach the function later.
        return parsed.model_dump(mode="json", include=parsed.model_fields_set)

    def summary(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        """What this call will do, for the person asked to confirm it."""
        if self.describe is None:
            return f"Run the tool {self.name}."
        return self.describe(context, arguments)


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic's schema without its generated titles (noise in every request)."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("required", [])
    return schema


def _validation_message(exc: pydantic.ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "json_invalid":
            problems.append(f"The arguments are not valid JSON ({error['msg']}).")
        elif error["type"] == "model_type":
            problems.append("The arguments must be a JSON object.")
        elif error["type"] == "extra_forbidden":
            problems.append(f"Unknown argument: {where}.")
        elif error["type"] == "missing":
            problems.append(f"Missing argument: {where}.")
        else:
            problems.append(f"Argument {where!r}: {error['msg']}.")
    return " ".join(problems)


_registry: dict[str, Tool] = {}


def tool(
    *, sensitive: bool = False, name: str | None = None, describe: Describe | None = None
) -> Callable[[Callable], Callable]:
    """Register a function as a tool. Its first parameter receives the `ToolContext`."""

    def register(function: Callable) -> Callable:
        built = build_tool(function, sensitive=sensitive, name=name, describe=describe)
        _registry[built.name] = built
        return function

    return register


def build_tool(
    function: Callable,
    *,
    sensitive: bool = False,
    name: str | None = None,
    describe: Describe | None = None,
) -> Tool:
    """A `Tool` from a function's signature and docstring."""
    hints = typing.get_type_hints(function)
    parameters = list(inspect.signature(function).parameters.values())[1:]  # skip context
    description, argument_docs = _parse_docstring(inspect.getdoc(function) or "")
    fields: dict[str, Any] = {
        p.name: (
            _SCHEMA_TYPES.get(hints[p.name], hints[p.name]),
            pydantic.Field(
                default=... if p.default is inspect.Parameter.empty else p.default,
                description=argument_docs.get(p.name, ""),
            ),
        )
        for p in parameters
    }
    tool_name = name or function.__name__
    model = pydantic.create_model(tool_name, __config__=_STRICT, **fields)
    return Tool(tool_name, description, model, function, sensitive, describe)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    paragraphs = doc.split("\n\n")
    arguments: dict[str, str] = {}
    for line in doc.splitlines():
        match = _ARGUMENT_DOC.match(line)
        if match:
            arguments[match.group(1)] = match.group(2).strip()
    return " ".join(paragraphs[0].split()), arguments


def registry() -> dict[str, Tool]:
    """Every registered tool by name."""
    return dict(_registry)


def get_tool(name: str) -> Tool:
    try:
        return _registry[name]
    except KeyError:
        raise ToolError(f"There is no tool named {name!r}.") from None


def schemas() -> list[dict[str, Any]]:
    return [t.schema() for t in _registry.values()]


@dataclass(frozen=True)
class Toolset:
    """The tools one turn may use, and what the user should know about the rest."""

    tools: dict[str, Tool]
    notices: tuple[str, ...] = field(default=())

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def get(self, name: str) -> Tool:
        """The tool offered under `name`; `ToolError` (for the model) if none is."""
        try:
            return self.tools[name]
        except KeyError:
            raise ToolError(f"There is no tool named {name!r}.") from None


# A provider is given the caller and the toolset so far and returns it changed (tools
# added or left out, notices); a resolver finds one tool by name for a caller outside a
# turn (an approved call runs after its turn paused), or None. A preparer reads on a
# database thread what its provider needs for a caller, so that a caller already on
# one (a turn's transaction) can read it there and spare the provider a trip.
Provider = Callable[[ToolContext, Toolset], Awaitable[Toolset]]
Resolver = Callable[[ToolContext, str], Tool | None]
Preparer = Callable[[ToolContext], Any]

_providers: list[tuple[Provider, Resolver | None]] = []
_preparers: list[Preparer] = []


def add_provider(
    provider: Provider, resolver: Resolver | None = None, *, preparer: Preparer | None = None
) -> None:
    """Let an app shape every caller's toolset (registered once, from `AppConfig.ready`)."""
    if all(existing is not provider for existing, _ in _providers):
        _providers.append((provider, resolver))
        if preparer is not None:
            _preparers.append(preparer)


def prepare(context: ToolContext) -> ToolContext:
    """`context`, with what every provider will read for it read now (synchronous: call
    it where the database is, e.g. in the transaction that starts a turn)."""
    for preparer in _preparers:
        context.prepared[preparer] = preparer(context)
    return context


def take_prepared(context: ToolContext, preparer: Preparer) -> Any | None:
    """What `prepare` read with `preparer` for this context, once; None when nothing was
    (or it was used already)."""
    return context.prepared.pop(preparer, None)


async def toolset(context: ToolContext) -> Toolset:
    """The tools this caller may use now: the registry, as each provider leaves it."""
    offered = Toolset(dict(_registry))
    for provider, _ in _providers:
        offered = await provider(context, offered)
    return offered


def resolve(name: str, context: ToolContext) -> Tool:
    """A tool by name for this caller, registered or provided; `ToolError` if none.
    Synchronous: it runs where an approved call runs, on the database thread."""
    if name in _registry:
        return _registry[name]
    for _, resolver in _providers:
        found = resolver(context, name) if resolver else None
        if found is not None:
            return found
    return get_tool(name)  # raises the usual error


def call_sync(tool: Tool, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
    """Run a tool; a failure is an outcome with an error, never an exception."""
    try:
        if inspect.iscoroutinefunction(tool.function):
            result = async_to_sync(tool.function)(context, **arguments)
        else:
            result = tool.function(context, **arguments)
    except Exception as exc:
        return _failure(tool, exc)
    return _outcome(result)


async def call(tool: Tool, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
    """`call_sync` for async code; tools do their database work on `chatsite.db`'s path.

    A coroutine tool (one that waits on another server) runs on the event loop instead:
    on the database thread its wait would hold up every query of the process.
    """
    if not inspect.iscoroutinefunction(tool.function):
        return await db.run(call_sync, tool, arguments, context)
    try:
        result = await tool.function(context, **arguments)
    except Exception as exc:
        return _failure(tool, exc)
    return _outcome(result)


def _outcome(result: Any) -> ToolOutcome:
    if isinstance(result, ToolOutcome):
        return result  # a tool that reports its own error (an outside server's)
    content = result if isinstance(result, str) else json.dumps(result, default=str)
    return ToolOutcome(content=content)


def _failure(tool: Tool, exc: Exception) -> ToolOutcome:
    if isinstance(exc, ToolError | ValidationError):
        return ToolOutcome(error=_message(exc))
    logger.error("Tool %s failed", tool.name, exc_info=exc)
    return ToolOutcome(error=f"the tool {tool.name} failed ({type(exc).__name__}).")


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)
