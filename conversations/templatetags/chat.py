import json
from decimal import Decimal

from django import template
from django.utils.safestring import SafeString, mark_safe

from agents.gateway import model_label as _model_label
from conversations.blocks import split_streamed
from conversations.rendering import render_markdown
from conversations.search import highlight_matches
from conversations.tool_turns import pretty_arguments as _pretty_arguments
from conversations.tool_views import ToolView
from conversations.tool_views import tool_view as _tool_view

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Model output as sanitized HTML (see conversations.rendering)."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitized by nh3


@register.filter
def model_label(model: str) -> str:
    return _model_label(model)


@register.filter
def usd(value: Decimal | str | None) -> str:
    """A cost for people: cents when it is that much, else the fraction; None is unpriced."""
    if value is None or value == "":
        return "unpriced"
    value = Decimal(value)
    if value == 0 or value >= Decimal("0.01"):
        return f"${value:.4f}".rstrip("0").rstrip(".") if value else "$0"
    return f"${value:.8f}".rstrip("0")


@register.filter
def pretty_arguments(arguments: object) -> str:
    """Tool arguments (JSON text or already parsed) as indented JSON."""
    if not isinstance(arguments, str):
        return json.dumps(arguments, indent=2, ensure_ascii=False)
    return _pretty_arguments(arguments)


@register.filter
def highlight(text: str, query: str) -> SafeString:
    """`text` escaped, with the search `query` marked (see conversations.search)."""
    return highlight_matches(text, query)


@register.simple_tag
def tool_view(message) -> ToolView:
    """`{% tool_view message as view %}`: how a tool message's result is shown."""
    return _tool_view(message.tool_name, message.tool_arguments, message.content)


@register.simple_tag
def streamed(text: str) -> tuple[SafeString, str]:
    """`{% streamed message.content as shown %}`: a streaming message's closed blocks
    as sanitized HTML (`shown.0`) and its open block as text (`shown.1`)."""
    html, tail = split_streamed(text or "")
    return mark_safe(html), tail  # noqa: S308 - sanitized by nh3
