"""The SSE endpoint and API tokens, over real HTTP against the live Daphne process."""

from __future__ import annotations

import json
import re

import httpx2
import pytest

from tests.browser.conftest import PASSWORD, LiveServer
from tests.fake_upstream import Reply


@pytest.fixture
def server(daphne_server) -> LiveServer:
    return daphne_server


def logged_in(server: LiveServer, username: str = "alice") -> httpx2.Client:
    client = httpx2.Client(base_url=server.url, timeout=15)
    client.get("/accounts/login/")
    client.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    return client


def csrf(client: httpx2.Client) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies["csrftoken"]}


def new_conversation(client: httpx2.Client) -> int:
    response = client.post(
        "/conversations/new/", data={"model": "gpt-4o-mini"}, headers=csrf(client)
    )
    return int(re.search(r"/conversations/(\d+)/", response.headers["location"]).group(1))


def new_token(client: httpx2.Client, name: str = "script") -> str:
    page = client.post("/settings/tokens/", data={"name": name}, headers=csrf(client)).text
    return re.search(r'id="new-token" readonly value="([^"]+)"', page).group(1)


def read_events(response: httpx2.Response) -> list:
    lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    return [line[6:] if line == "data: [DONE]" else json.loads(line[6:]) for line in lines]


def test_session_client_streams_content_then_usage_then_done(server, upstream):
    upstream.add(Reply(text="one two three", token_delay=0.05))
    client = logged_in(server)
    conversation = new_conversation(client)
    with client.stream(
        "POST",
        f"/conversations/{conversation}/stream/",
        data={"message": "Stream please"},
        headers=csrf(client),
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
    assert events[-1] == "[DONE]"
    usage = events[-2]["usage"]
    assert (usage["completion_tokens"], usage["status"]) == (3, "complete")
    assert usage["cost"] is not None and usage["model"] == "gpt-4o-mini"
    contents = [e["content"] for e in events[:-2]]
    assert "".join(contents) == "one two three"
    page = client.get(f"/conversations/{conversation}/").text
    assert "Stream please" in page and "one two three" in page


def test_session_client_without_csrf_token_is_refused(server, upstream):
    client = logged_in(server)
    conversation = new_conversation(client)
    response = client.post(f"/conversations/{conversation}/stream/", data={"message": "x"})
    assert response.status_code == 403
    assert upstream.requests == [] or all(
        r["messages"][-1]["content"] != "x" for r in upstream.requests
    )


def test_api_token_streams_a_reply_with_a_json_body(server, upstream):
    upstream.add(Reply(text="token reply"))
    browser = logged_in(server)
    conversation = new_conversation(browser)
    token = new_token(browser)
    api = httpx2.Client(base_url=server.url, timeout=15)
    with api.stream(
        "POST",
        f"/conversations/{conversation}/stream/",
        json={"message": "from a script"},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        events = read_events(response)
    assert "".join(e["content"] for e in events[:-2]) == "token reply"
    assert events[-1] == "[DONE]"
    assert "never" not in browser.get("/settings/tokens/").text  # last used is shown


@pytest.mark.parametrize("token", ["chat_not-a-real-token", "garbage", "chat_"])
def test_bad_token_is_401(server, token):
    conversation = new_conversation(logged_in(server))
    response = httpx2.post(
        f"{server.url}/conversations/{conversation}/stream/",
        json={"message": "hi"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoked_token_is_401(server):
    client = logged_in(server)
    conversation = new_conversation(client)
    token = new_token(client, "short-lived")
    page = client.get("/settings/tokens/").text
    token_id = re.search(r"/settings/tokens/(\d+)/revoke/", page).group(1)
    client.post(f"/settings/tokens/{token_id}/revoke/", headers=csrf(client))
    response = httpx2.post(
        f"{server.url}/conversations/{conversation}/stream/",
        json={"message": "hi"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401


def test_token_cannot_reach_another_users_conversation(server):
    theirs = new_conversation(logged_in(server, "mallory"))
    token = new_token(logged_in(server, "alice"))
    response = httpx2.post(
        f"{server.url}/conversations/{theirs}/stream/",
        json={"message": "hi"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404


def test_anonymous_client_is_401(server):
    response = httpx2.post(f"{server.url}/conversations/1/stream/", data={"message": "hi"})
    assert response.status_code == 401
