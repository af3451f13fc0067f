"""Personal API tokens: issue, revoke, and find whose a presented token is."""

from __future__ import annotations

from django.http import Http404
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from chatsite import db

NAME_LENGTH = 100


def issue_token(user, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; the raw value is returned once and never stored."""
    name = " ".join(name.split())[:NAME_LENGTH] or "API token"
    return ApiToken.issue(user, name)


def revoke_token(user, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (404 for anyone else's)."""
    try:
        token = ApiToken.objects.active().get(pk=token_id, user=user)
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return token


async def user_for_token(raw: str):
    """The active user an unrevoked token belongs to, or None."""
    if not raw.startswith(ApiToken.PREFIX):
        return None
    return await db.run(_use_token, hash_token(raw))


def _use_token(token_hash: str):
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(token_hash=token_hash, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
