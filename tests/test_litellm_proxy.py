"""A real third-party server in front of the gateway: the LiteLLM proxy.

It runs from its own virtualenv (.ci/litellm-venv builds it), on a free loopback port,
with `mock_response` models and one model passed through to the wire fake. Its
telemetry and every remote lookup are off, so it never reaches the internet.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pydantic
import pytest

from agents import gateway, loop
from agents.errors import GatewayError
from agents.events import CallContext, TextDelta, ToolResult
from agents.models import ModelPrice, UsageRecord
from agents.tools import ToolContext
from tests.fake_upstream import FakeUpstream, Reply

ROOT = Path(__file__).resolve().parent.parent
LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
MASTER_KEY = "sk-litellm-tests-0123456789abcdef"
HI = [{"role": "user", "content": "hi"}]
OFFLINE = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # the bundled price map, not a download
    "LITELLM_TELEMETRY": "False",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_SCHEMA_UPDATE": "True",
    "LITELLM_MASTER_KEY": MASTER_KEY,
    "HF_HUB_OFFLINE": "1",
    "NO_PROXY": "*",
}

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not LITELLM.exists(), reason="run .ci/litellm-venv to build the proxy"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proxy_config(passthrough_url: str) -> dict:
    mock = {"model": "openai/gpt-4o-mini", "api_key": "unused"}
    return {
        "model_list": [
            {
                "model_name": "team-fast",
                "litellm_params": {**mock, "mock_response": "Hello from the proxy."},
            },
            {
                "model_name": "broken",
                "litellm_params": {**mock, "mock_response": "litellm.RateLimitError"},
            },
            {
                "model_name": "relay",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": passthrough_url,
                    "api_key": "sk-fake",
                },
            },
        ],
        "litellm_settings": {"telemetry": False, "num_retries": 0, "drop_params": False},
        "general_settings": {"master_key": MASTER_KEY},
    }


def wait_until_live(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the LiteLLM proxy exited while starting")
        try:
            with urllib.request.urlopen(f"{url}/health/liveliness", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("the LiteLLM proxy did not start")


@pytest.fixture(scope="module")
def passthrough() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def proxy(passthrough, tmp_path_factory) -> Iterator[str]:
    """The proxy's base URL; it is stopped when the module's tests are done."""
    config = tmp_path_factory.mktemp("litellm") / "config.json"
    config.write_text(json.dumps(proxy_config(passthrough.url)))
    port = free_port()
    command = [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    log = (config.parent / "proxy.log").open("wb")
    # Only what it needs: the app's own DATABASE_URL or REDIS_URL are not the proxy's.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(config.parent), **OFFLINE}
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_live(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def via_proxy(proxy, passthrough, settings) -> FakeUpstream:
    """The app pointed at the proxy; returns the fake behind its pass-through model."""
    settings.OPENAI_BASE_URL = proxy
    settings.OPENAI_API_KEY = MASTER_KEY
    settings.LLM_DEMO = False
    settings.LLM_MAX_RETRIES = 0
    passthrough.requests.clear()
    passthrough.script.clear()
    return passthrough


async def test_a_mocked_model_streams_through_the_proxy(via_proxy):
    events = [e async for e in gateway.stream_chat(HI, model="team-fast")]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello from the proxy."


async def test_a_tool_turn_through_the_proxy(via_proxy, user):
    arguments = json.dumps({"expression": "17*23"})
    via_proxy.add(
        Reply(text="", tool_calls=[{"id": "call_1", "name": "calculate", "arguments": arguments}]),
        Reply(text="It is 391."),
    )
    events = [
        e
        async for e in loop.run_agent(
            HI,
            model="relay",
            context=CallContext(user_id=user.pk),
            tool_context=ToolContext(user=user),
        )
    ]
    (result,) = [e for e in events if isinstance(e, ToolResult)]
    assert (result.call.name, result.content) == ("calculate", "391")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is 391."
    answered = [m for m in via_proxy.requests[1]["messages"] if m["role"] == "tool"]
    assert answered[0]["content"] == "391"


class City(pydantic.BaseModel):
    name: str
    country: str


async def test_a_structured_answer_through_the_proxy(via_proxy):
    via_proxy.add_structured(Reply.structured({"name": "Lyon", "country": "France"}))
    parsed = await gateway.parse(HI, model="relay", schema=City)
    assert parsed.value == City(name="Lyon", country="France")


async def test_an_upstream_refusal_comes_back_in_the_servers_words(via_proxy):
    via_proxy.add(Reply(status=400, error_message="messages[0].content is far too long"))
    with pytest.raises(GatewayError) as caught:
        async for _ in gateway.stream_chat(HI, model="relay"):
            pass
    assert "far too long" in caught.value.server_message
    assert caught.value.status == 400


async def test_a_proxy_error_is_mapped_with_its_message(via_proxy):
    with pytest.raises(GatewayError) as caught:
        async for _ in gateway.stream_chat(HI, model="broken"):
            pass
    assert caught.value.status == 429 and caught.value.retryable
    assert caught.value.server_message


async def test_a_proxy_alias_is_priced_as_its_model(via_proxy, settings):
    settings.LLM_MODEL_ALIASES = {"team-fast": "gpt-4o-mini"}
    await ModelPrice.objects.acreate(
        model="gpt-4o-mini",
        valid_from="2024-01-01",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
    )
    async for _ in gateway.stream_chat(HI, model="team-fast"):
        pass
    record = await UsageRecord.objects.order_by("-id").afirst()
    expected = (
        record.prompt_tokens * Decimal("0.15") + record.completion_tokens * Decimal("0.60")
    ) / Decimal(1_000_000)
    assert record.completion_tokens > 0
    assert record.cost == expected
