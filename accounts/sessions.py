"""Whether a signed-in browser session still counts: the check a long-lived socket makes
again before acting, since logging out, a new password or deactivation end the session
after the socket was opened."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db.models import Subquery
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from chatsite.compiled import Compiled


def user_group(user_id: int) -> str:
    """The channel-layer group of a user's open sockets (told to check their session)."""
    return f"user-{user_id}"


def still_signed_in(session_key: str | None, user_id: int) -> bool:
    """True while `session_key` is a live session of the active user `user_id` whose
    password has not changed since it signed in."""
    if not session_key:
        return False
    if settings.SESSION_ENGINE == DATABASE_SESSIONS:
        return _signed_in_by_one_query(session_key, user_id)
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return _counts(session, user_id, lambda backend: backend.get_user(user_id))


def _counts(session, user_id: int, get_user) -> bool:
    """Whether `session` (a session store, or its decoded data) is `user_id`'s through a
    configured backend, and the user that `get_user(backend)` finds is active with the
    password it signed in with."""
    if str(session.get(SESSION_KEY)) != str(user_id):
        return False
    backend_path = session.get(BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    user = get_user(load_backend(backend_path))
    if user is None or not user.is_active:
        return False
    stored = session.get(HASH_SESSION_KEY) or ""
    return constant_time_compare(stored, user.get_session_auth_hash())


DATABASE_SESSIONS = "django.contrib.sessions.backends.db"


# What each session was last found to be made of when it counted: its stored data, and
# the user's password hash and active flag. The verdict is a function of those alone,
# so while the row and the user read the same, it stands without decoding the session
# (a signature check and JSON) and hashing the password again. Bounded: emptied whole
# when full.
_verified: dict[tuple[str, int], tuple[str, str | None, bool | None]] = {}
VERIFIED_MAX = 10_000


def _signed_in_by_one_query(session_key: str, user_id: int) -> bool:
    """`still_signed_in` for database sessions: the session row and the user's password
    and active flag in one query, built once (a socket checks before every message)."""
    row = _SESSION_AND_USER.first(session_key, user_id)
    if row is None or row.expire_date <= timezone.now():
        return False
    seen = (row.session_data, row.password, row.is_active)
    if _verified.get((session_key, user_id)) == seen:
        return True
    _verified.pop((session_key, user_id), None)
    session = SessionStore().decode(row.session_data)
    by_row = True  # whether the verdict rests on the row alone

    def get_user(backend):
        nonlocal by_row
        if type(backend) is not ModelBackend or row.password is None:
            by_row = False
            return backend.get_user(user_id)  # another backend decides for itself
        return get_user_model()(pk=user_id, password=row.password, is_active=row.is_active)

    if not _counts(session, user_id, get_user):
        return False
    if by_row:
        if len(_verified) >= VERIFIED_MAX:
            _verified.clear()
        _verified[session_key, user_id] = seen
    return True


def _session_and_user(session_key: str, user_id: int):
    users = get_user_model().objects.filter(pk=user_id)
    return (
        Session.objects.filter(session_key=session_key)
        .only("session_key", "session_data", "expire_date")
        .annotate(
            password=Subquery(users.values("password")[:1]),
            is_active=Subquery(users.values("is_active")[:1]),
        )
    )


_SESSION_AND_USER = Compiled(_session_and_user, ["str", "int"])
