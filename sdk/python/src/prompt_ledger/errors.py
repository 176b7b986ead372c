"""Typed exceptions for every way a PromptLedger call can fail.

Each error the API answers with carries the body's ``code``, ``message`` and
``details`` (``{"error": {"code", "message", "details"}}``) and the HTTP
``status``. Errors raised before any answer arrived (the server could not be
reached) have ``status`` ``None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .models import Execution

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConflictError",
    "ExecutionTimeoutError",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PromptLedgerError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "UnavailableError",
    "ValidationError",
]


class PromptLedgerError(Exception):
    """Base class of every error this package raises."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: int | None = None,
        details: Any = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details
        self.headers = headers if headers is not None else httpx.Headers()

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class BadRequestError(PromptLedgerError):
    """400: the request was malformed (bad JSON, an unreadable parameter)."""


class AuthenticationError(PromptLedgerError):
    """401: no API key, or one the server does not know (or revoked)."""


class PermissionDeniedError(PromptLedgerError):
    """403: the key lacks the scope the route needs."""


class NotFoundError(PromptLedgerError):
    """404: no such prompt, version, label, execution, trace, model or key."""


class ConflictError(PromptLedgerError):
    """409: the name is taken, the prompt is archived, an idempotency key was
    reused with another body, the execution is no longer queued, ..."""


class PayloadTooLargeError(PromptLedgerError):
    """413: the body or the span batch is over the server's limit."""


class ValidationError(PromptLedgerError):
    """422: the server understood the request and refused its content.

    ``field`` names the offending field when the server said which one
    (``details.field``); ``missing`` lists the template variables that were
    not supplied (``missing_variables``).
    """

    @property
    def field(self) -> str | None:
        if isinstance(self.details, dict):
            value = self.details.get("field")
            return value if isinstance(value, str) else None
        return None

    @property
    def missing(self) -> list[str]:
        if isinstance(self.details, dict):
            value = self.details.get("missing")
            if isinstance(value, list):
                return [str(v) for v in value]
        return []


class RateLimitError(PromptLedgerError):
    """429: slow down; ``retry_after`` is the server's ``Retry-After`` in seconds."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class BudgetExceededError(RateLimitError):
    """429 ``budget_exceeded``: the key spent its monthly budget; ``retry_after``
    runs until the month renews, so it is never retried."""


class UnavailableError(PromptLedgerError):
    """503: a dependency of the server (its database) is down; retry later."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class APIConnectionError(UnavailableError):
    """The server could not be reached, or the connection broke mid-request."""


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's timeout."""


class InternalServerError(PromptLedgerError):
    """Any other 5xx."""


class ProviderError(PromptLedgerError):
    """502 ``provider_error``: the LLM provider failed. The failed run is
    recorded; ``execution`` is that record."""

    @property
    def execution(self) -> Execution | None:
        from .models import Execution

        raw = self.details.get("execution") if isinstance(self.details, dict) else None
        return Execution.model_validate(raw) if isinstance(raw, dict) else None


class ProviderTimeoutError(ProviderError):
    """504 ``provider_timeout``: the provider did not answer within ``timeout_ms``."""


class ExecutionTimeoutError(PromptLedgerError):
    """``wait()`` gave up before the execution finished (it keeps running)."""


_BY_STATUS: dict[int, type[PromptLedgerError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitError,
    503: UnavailableError,
}


def parse_retry_after(raw: str | None) -> float | None:
    """``Retry-After`` in seconds (a number; HTTP dates are not used by this API)."""
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def error_from_response(response: httpx.Response) -> PromptLedgerError:
    """The typed exception for an error response."""
    code = "error"
    message = response.reason_phrase or f"HTTP {response.status_code}"
    details: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code", code))
        message = str(error.get("message", message))
        details = error.get("details")
    status = response.status_code
    cls: type[PromptLedgerError]
    if code == "provider_timeout":
        cls = ProviderTimeoutError
    elif code == "budget_exceeded" and status == 429:
        cls = BudgetExceededError
    elif code == "provider_error" or (code.startswith("provider_") and status in (502, 504)):
        cls = ProviderError
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = InternalServerError
    else:
        cls = PromptLedgerError
    return cls(message, code=code, status=status, details=details, headers=response.headers)
