"""Our own error types for model calls, so nothing above the gateway knows the SDK."""

from redis.exceptions import RedisError

# What the Redis-backed parts (the cache behind limits and the response cache, the
# channel layer) raise when Redis is unreachable: a socket error or redis-py's own.
STORE_ERRORS: tuple[type[BaseException], ...] = (OSError, RedisError)


class GatewayError(Exception):
    """A model call failed. `message` is safe to show to the user.

    `retryable` says whether trying again (later, or on another model) may help.
    """

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


class StreamCut(GatewayError):
    """The upstream stream ended before the reply was complete."""

    def __init__(self) -> None:
        super().__init__("The model's reply was cut off before it finished.", retryable=True)


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
