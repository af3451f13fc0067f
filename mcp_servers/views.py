"""The conversation's tools menu (a partial the chat page loads, and its switches)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from conversations.services import get_conversation_for_user
from mcp_servers import menu


@login_required
@require_GET
def tools_menu(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Every tool this conversation may use, with its policy and its switch."""
    conversation = get_conversation_for_user(request.user, conversation_id)
    return _menu(request, conversation)


@login_required
@require_POST
def switch_tool(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Switch a tool on or off for this conversation; HTMX gets the menu again."""
    conversation = get_conversation_for_user(request.user, conversation_id)
    on = request.POST.get("on")
    if on not in ("true", "false"):
        return HttpResponseBadRequest("on must be true or false")
    try:
        menu.switch(conversation, request.user, request.POST.get("tool"), on == "true")
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0])
    return _menu(request, conversation)


def _menu(request: HttpRequest, conversation) -> HttpResponse:
    context = {"conversation": conversation, "entries": menu.entries(conversation, request.user)}
    return render(request, "mcp_servers/_tools_menu.html", context)
