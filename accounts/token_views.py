"""The page where people create and revoke their personal API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import tokens
from chatsite.text_limits import check_length


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; a POST creates one and shows its raw value this once."""
    created = None
    if request.method == "POST":
        created = _issue(request)
    context = {
        "tokens": request.user.api_tokens.active(),
        "created": created,
    }
    return render(request, "accounts/tokens.html", context, status=201 if created else 200)


def _issue(request: HttpRequest) -> str | None:
    """A new token's raw value, or None with the reason shown when its name is too long."""
    name = " ".join(request.POST.get("name", "").split())
    try:
        check_length(name, what="The token name", limit=tokens.NAME_LENGTH)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return None
    return tokens.issue_token(request.user, name)[1]


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = tokens.revoke_token(request.user, token_id)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens:list")
