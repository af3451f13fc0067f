"""The raw SDK with nothing of the app in between: the baseline that the streaming
benchmark measures the app against. Kept here so that `agents/` stays the only place
that imports the SDK."""

import openai


def raw_client(base_url: str) -> openai.AsyncOpenAI:
    """A bare `AsyncOpenAI` client: no gateway layers, no retries."""
    return openai.AsyncOpenAI(api_key="bench", base_url=base_url, max_retries=0)
