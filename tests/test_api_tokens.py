"""The personal API token page: create (shown once, stored hashed), list, revoke."""

import re

from django.test import Client

from accounts.models import ApiToken, hash_token


def create(client: Client, name: str = "laptop") -> str:
    page = client.post("/settings/tokens/", {"name": name}).content.decode()
    return re.search(r'id="new-token" readonly value="([^"]+)"', page).group(1)


def test_new_token_is_shown_once_and_stored_only_hashed(logged_in, user):
    raw = create(logged_in)
    token = ApiToken.objects.get(user=user)
    assert token.token_hash == hash_token(raw) and raw not in token.token_hash
    assert raw.startswith(token.hint)
    assert raw not in logged_in.get("/settings/tokens/").content.decode()


def test_token_page_lists_only_your_own_tokens(logged_in, other_user):
    ApiToken.issue(other_user, "not yours")
    create(logged_in, "mine")
    page = logged_in.get("/settings/tokens/").content.decode()
    assert "mine" in page and "not yours" not in page


def test_revoking_someone_elses_token_is_404(logged_in, other_user):
    theirs, _ = ApiToken.issue(other_user, "theirs")
    assert logged_in.post(f"/settings/tokens/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoked_token_leaves_the_list(logged_in, user):
    create(logged_in, "old")
    token = ApiToken.objects.get(user=user)
    logged_in.post(f"/settings/tokens/{token.pk}/revoke/")
    assert "old" not in logged_in.get("/settings/tokens/").content.decode().split("<table")[1]


def test_creating_a_token_needs_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/settings/tokens/", {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_token_page_needs_login(client):
    assert client.get("/settings/tokens/").status_code == 302
