"""The page where people create and revoke their personal API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import tokens


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; a POST creates one and shows its raw value this once."""
    created = None
    if request.method == "POST":
        _, created = tokens.issue_token(request.user, request.POST.get("name", ""))
    context = {
        "tokens": request.user.api_tokens.active(),
        "created": created,
    }
    return render(request, "accounts/tokens.html", context, status=201 if created else 200)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = tokens.revoke_token(request.user, token_id)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens:list")
