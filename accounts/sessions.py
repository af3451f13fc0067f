"""Whether a signed-in browser session still counts: the check a long-lived socket makes
again before acting, since logging out, a new password or deactivation end the session
after the socket was opened."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.utils.crypto import constant_time_compare


def user_group(user_id: int) -> str:
    """The channel-layer group of a user's open sockets (told to check their session)."""
    return f"user-{user_id}"


def still_signed_in(session_key: str | None, user_id: int) -> bool:
    """True while `session_key` is a live session of the active user `user_id` whose
    password has not changed since it signed in."""
    if not session_key:
        return False
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if str(session.get(SESSION_KEY)) != str(user_id):
        return False
    backend_path = session.get(BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    user = load_backend(backend_path).get_user(user_id)
    if user is None or not user.is_active:
        return False
    stored = session.get(HASH_SESSION_KEY) or ""
    return constant_time_compare(stored, user.get_session_auth_hash())
