"""The site holds against misuse: foreign origins, formula injection, floods of writes
and of guessed passwords."""

import pytest

from tests.conftest import open_socket


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://testserver", True),
        ("http://testserver:9999", False),
        ("https://testserver", False),
        ("http://127.0.0.1", False),
        ("http://evil.example", False),
        (None, False),
    ],
)
async def test_websocket_origin_must_match_scheme_host_and_port_case_11(
    user, conversation, origin, allowed
):
    socket, connected = await open_socket(user, conversation.pk, origin=origin)
    await socket.disconnect()
    assert connected is allowed
