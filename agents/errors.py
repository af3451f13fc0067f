"""Our own error types for model calls, so nothing above the gateway knows the SDK."""

from __future__ import annotations

import re

from redis.exceptions import RedisError

# What the Redis-backed parts (the cache behind limits and the response cache, the
# channel layer) raise when Redis is unreachable: a socket error or redis-py's own.
STORE_ERRORS: tuple[type[BaseException], ...] = (OSError, RedisError)

# Enough of a server's message to act on; the rest is in the server's own log.
SERVER_MESSAGE_MAX = 300

# What servers say when the conversation no longer fits (OpenAI, llama.cpp, vLLM,
# Ollama, Anthropic-style relays), and when they do not serve the model asked for.
_CONTEXT_TOO_LONG = re.compile(
    r"context[_ ]length|context (size|window)|maximum context|too many tokens"
    r"|prompt is too long|exceed_context_size",
    re.IGNORECASE,
)
_MODEL_NOT_FOUND = re.compile(
    r"model_not_found|model .{0,80}(not found|does not exist)|no such model|unknown model",
    re.IGNORECASE,
)

HINT_CONTEXT = "Start a new conversation, or summarise this one, and try again."
HINT_MODEL = "Pick another model for this conversation."


def hint_for(server_message: str, status: int | None) -> str:
    """What the user can do about an error, when we know it ("" otherwise)."""
    if _CONTEXT_TOO_LONG.search(server_message):
        return HINT_CONTEXT
    if status == 404 or _MODEL_NOT_FOUND.search(server_message):
        return HINT_MODEL
    return ""


def trimmed(text: str, limit: int = SERVER_MESSAGE_MAX) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class GatewayError(Exception):
    """A model call failed. `message` is our own sentence, safe to show to the user.

    `retryable` says whether trying again (later, or on another model) may help.
    `server_message` is what the model server said (plain text: escape it when
    rendering), `hint` what the user can do, `request_id` the server's id for the call.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        status: int | None = None,
        server_message: str = "",
        request_id: str = "",
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.server_message = trimmed(server_message)
        self.hint = hint_for(server_message, status) if server_message or status else ""
        self.request_id = request_id

    @property
    def display(self) -> str:
        """Our sentence, the server's own words and the hint, for the user to read."""
        parts = [self.message]
        if self.server_message:
            parts.append(f"The server said: “{self.server_message}”")
        if self.hint:
            parts.append(self.hint)
        return " ".join(parts)


class StreamCut(GatewayError):
    """The upstream stream ended before the reply was complete."""

    def __init__(self) -> None:
        super().__init__("The model's reply was cut off before it finished.", retryable=True)


class EmptyAnswer(GatewayError):
    """The model ended its answer without a word or a tool call (it may have reasoned)."""

    def __init__(self) -> None:
        super().__init__("The model ended without answering; try again.", retryable=True)


class Blocked(GatewayError):
    """The call was refused before reaching the upstream: budget spent or rate limited.

    `retry_after` is how many seconds until trying again can help (None: not soon).
    """

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class StructuredOutputError(GatewayError):
    """A structured-output call answered, but not with a usable result.

    `outcome` names why, for usage records: "refused" or "invalid".
    """

    outcome = "invalid"


class Refused(StructuredOutputError):
    """The model declined to answer (`message.refusal`)."""

    outcome = "refused"

    def __init__(self, refusal: str):
        super().__init__(f"The model declined: {refusal.strip() or 'no reason given'}")
        self.refusal = refusal


class InvalidOutput(StructuredOutputError):
    """The answer was not valid JSON, or did not fit the schema."""

    def __init__(self, detail: str = ""):
        super().__init__("The model's answer did not fit the expected format.", retryable=True)
        self.detail = detail
