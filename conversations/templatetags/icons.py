"""Inline SVG icons: drawn with the text colour, hidden from assistive technology (the
control that holds one carries the accessible name)."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# 24x24 outlines, stroked with currentColor. Constants only: nothing here comes from a user.
_PATHS = {
    "menu": '<path d="M4 6h16M4 12h16M4 18h16"/>',
    "send": '<path d="M12 19V5M5 12l7-7 7 7"/>',
    "stop": '<rect x="7" y="7" width="10" height="10" rx="1.5" fill="currentColor"/>',
    "copy": '<rect x="9" y="9" width="11" height="11" rx="2"/>'
    '<path d="M15 9V5a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h4"/>',
    "edit": '<path d="M4 20h4L19 9l-4-4L4 16z"/><path d="M13 7l4 4"/>',
    "regenerate": '<path d="M3 12a9 9 0 1 0 3-6.7L3 8"/><path d="M3 3v5h5"/>',
    "more": '<circle cx="5" cy="12" r="1.6" fill="currentColor"/>'
    '<circle cx="12" cy="12" r="1.6" fill="currentColor"/>'
    '<circle cx="19" cy="12" r="1.6" fill="currentColor"/>',
    "user": '<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>',
    "plus": '<path d="M12 5v14M5 12h14"/>',
    "close": '<path d="M6 6l12 12M18 6L6 18"/>',
    "sidebar": '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M9 4v16"/>',
    "tag": '<path d="M3 12V4a1 1 0 0 1 1-1h8l9 9-9 9z"/>'
    '<circle cx="7.5" cy="7.5" r="1.5" fill="currentColor"/>',
    "tool": '<path d="M14.7 6.3a4 4 0 0 0-5.4 5.4L3 18v3h3l6.3-6.3a4 4 0 0 0 5.4-5.4l-2.5 2.5'
    '-2.9-.6-.6-2.9z"/>',
}


@register.simple_tag
def icon(name: str, size: int = 20) -> SafeString:
    """`{% icon "copy" %}`: an inline SVG of one of the icons above."""
    return format_html(
        '<svg class="icon" width="{}" height="{}" viewBox="0 0 24 24" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" '
        'aria-hidden="true" focusable="false">{}</svg>',
        size,
        size,
        mark_safe(_PATHS[name]),  # noqa: S308 - a constant of this module
    )
