from django import template
from django.utils.safestring import SafeString, mark_safe

from agents.gateway import model_label as _model_label
from conversations.rendering import render_markdown
from conversations.search import highlight_matches

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Model output as sanitized HTML (see conversations.rendering)."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitized by nh3


@register.filter
def model_label(model: str) -> str:
    return _model_label(model)


@register.filter
def highlight(text: str, query: str) -> SafeString:
    """`text` escaped, with the search `query` marked (see conversations.search)."""
    return highlight_matches(text, query)
