"""What the sync and the async client share: configuration, the retry policy,
turning answers into results or typed errors, and building run requests."""

from __future__ import annotations

import os
import platform
import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from . import _ops as ops
from . import models as m
from ._cache import DEFAULT_TTL_SECONDS, PromptCache
from ._version import __version__
from .errors import (
    APIConnectionError,
    APITimeoutError,
    PromptLedgerError,
    ProviderError,
    ProviderTimeoutError,
    error_from_response,
    parse_retry_after,
)

#: Sync runs wait for the provider (60 s by default on the server), so reads wait longer.
DEFAULT_TIMEOUT = httpx.Timeout(90.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
#: First back-off delay in seconds; each retry doubles it, up to MAX_DELAY.
INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
#: The longest ``Retry-After`` waited for; an answer asking for longer is raised at once.
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({429, 503})


def retry_delay(retries_done: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retries_done + 1``.

    Exponential back-off with jitter (a random point in the upper half of the
    step, so concurrent clients spread out), never sooner than the server's
    ``Retry-After``.
    """
    step = min(MAX_DELAY, INITIAL_DELAY * (2.0**retries_done))
    jittered = step * (0.5 + 0.5 * (rng or random).random())
    if retry_after is not None:
        return max(min(retry_after, MAX_RETRY_AFTER), 0.0) + jittered * 0.1
    return jittered


class BaseClient:
    """Configuration and the pieces of a call that do no I/O."""

    api_url: str
    api_key: str

    def __init__(
        self,
        api_url: str | None,
        api_key: str | None,
        *,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        cache_ttl_seconds: float,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        url = api_url or os.environ.get("PROMPT_LEDGER_URL")
        if not url:
            raise PromptLedgerError(
                "no API URL: pass api_url= or set PROMPT_LEDGER_URL", code="configuration_error"
            )
        key = api_key or os.environ.get("PROMPT_LEDGER_API_KEY")
        if not key:
            raise PromptLedgerError(
                "no API key: pass api_key= or set PROMPT_LEDGER_API_KEY", code="configuration_error"
            )
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.api_url = url.rstrip("/")
        self.api_key = key
        self.max_retries = max_retries
        self.timeout = (
            timeout
            if isinstance(timeout, httpx.Timeout)
            else (DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout, connect=min(timeout, 5.0)))
        )
        self.cache = PromptCache(cache_ttl_seconds)
        self.headers = {
            "X-API-Key": key,
            "Accept": "application/json",
            "User-Agent": f"prompt-ledger-python/{__version__} python/{platform.python_version()}",
            **(default_headers or {}),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self.api_url!r})"

    # ---- the retry loop's decisions ----

    def _retries_for(self, op: ops.Op[Any]) -> int:
        return self.max_retries if op.max_retries is None else op.max_retries

    @staticmethod
    def _retry_after_of(response: httpx.Response | None) -> float | None:
        return parse_retry_after(response.headers.get("retry-after")) if response is not None else None

    @staticmethod
    def _should_retry_error(op: ops.Op[Any], error: httpx.TransportError) -> bool:
        """A connection that never opened is always safe to retry; one that broke
        after the request went out only for requests safe to resend."""
        if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return True
        return op.safe_to_resend

    @staticmethod
    def _should_retry_response(response: httpx.Response) -> bool:
        """429 and 503; and a 409 carrying ``Retry-After``, the server's word for
        a concurrent write that lost and changed nothing. Never when the server
        asks for a wait over ``MAX_RETRY_AFTER`` (a spent monthly budget)."""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None and retry_after > MAX_RETRY_AFTER:
            return False
        if response.status_code == 409:
            return retry_after is not None
        return response.status_code in RETRY_STATUSES

    @staticmethod
    def _connection_error(error: httpx.TransportError) -> APIConnectionError:
        cls = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
        kind = "timeout" if cls is APITimeoutError else "connection_error"
        return cls(f"could not reach PromptLedger: {error!r}", code=kind)

    @staticmethod
    def _result(op: ops.Op[ops.T], response: httpx.Response) -> ops.T:
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return op.parse(None)
        return op.parse(response.json())

    def _build_request(self, client: httpx.Client | httpx.AsyncClient, op: ops.Op[Any]) -> httpx.Request:
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if op.timeout is not None:
            timeout = httpx.Timeout(
                self.timeout.connect,
                read=max(op.timeout, self.timeout.read or 0),
                write=self.timeout.write,
                pool=self.timeout.pool,
            )
        return client.build_request(
            op.method,
            op.path,
            params=op.params,
            json=op.json,
            headers=op.headers or None,
            timeout=timeout,
        )

    # ---- executions ----

    @staticmethod
    def _run_payload(
        *,
        prompt_name: str | None,
        variables: Mapping[str, Any] | None,
        model: str | Mapping[str, Any] | m.ModelRef | None,
        params: Mapping[str, Any] | None,
        version: int | None,
        label: str | None,
        template: str | None,
        messages: Sequence[m.ChatMessage | Mapping[str, str]] | None,
        mode: str,
        correlation_id: str | None,
        timeout_ms: int | None,
        max_attempts: int | None,
        trace_id: str | None,
        parent_span_id: str | None,
    ) -> dict[str, Any]:
        if mode not in ("sync", "async"):
            raise ValueError("mode is 'sync' or 'async'")
        return ops.body(
            prompt_name=prompt_name,
            variables=dict(variables) if variables is not None else None,
            model=ops.model_arg(model),
            params=dict(params) if params is not None else None,
            version=version,
            environment=label,
            template=template,
            messages=ops.messages_json(messages),
            mode=mode,
            correlation_id=correlation_id,
            timeout_ms=timeout_ms,
            max_attempts=max_attempts,
            trace_id=trace_id,
            parent_span_id=parent_span_id,
        )

    @staticmethod
    def _new_idempotency_key() -> str:
        return f"pl-{uuid.uuid4()}"

    @staticmethod
    def _finished_sync(execution: m.Execution) -> m.Execution:
        """A sync run answered from the ledger (a retry's replay) that failed
        raises as the first answer did."""
        if execution.status == "failed":
            error = execution.error
            message = (error.message if error else None) or "the execution failed"
            timed_out = error is not None and error.type == "timeout"
            code, status = ("provider_timeout", 504) if timed_out else ("provider_error", 502)
            cls = ProviderTimeoutError if timed_out else ProviderError
            raise cls(message, code=code, status=status, details={"execution": execution.to_dict()})
        return execution


def is_unreachable(error: PromptLedgerError) -> bool:
    """Errors for which a cached or fallback prompt is served instead."""
    return error.status is None or error.status >= 500 or error.status == 429


__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_TTL_SECONDS", "BaseClient", "is_unreachable", "retry_delay"]
