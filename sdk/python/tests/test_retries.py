"""Retry and back-off timing. The 429/503 answers here come from a local
httpx MockTransport (the live host has no way to answer them on demand);
connection errors use a real dead port, and server-side retries the live
host's fake provider."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from conftest import Live, dead_url
from prompt_ledger import (
    APIConnectionError,
    AsyncPromptLedger,
    BudgetExceededError,
    PromptLedger,
    RateLimitError,
    UnavailableError,
)
from prompt_ledger._base import INITIAL_DELAY, MAX_DELAY, retry_delay

Name = Callable[[str], str]

EXECUTION = {"execution_id": "e1", "status": "succeeded", "response_text": "ok"}


class Scripted:
    """Answers the scripted responses in order, recording each request."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        return self.responses.pop(0)


def error(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, json={"error": {"code": code, "message": code}}, headers=headers)


def client(script: Scripted, **kwargs: object) -> PromptLedger:
    http = httpx.Client(transport=httpx.MockTransport(script))
    return PromptLedger(api_url="http://ledger.test", api_key="k", http_client=http, **kwargs)  # type: ignore[arg-type]


def test_back_off_doubles_with_jitter_and_caps() -> None:
    rng = random.Random(7)
    for n in range(8):
        step = min(MAX_DELAY, INITIAL_DELAY * 2**n)
        for _ in range(50):
            assert step / 2 <= retry_delay(n, None, rng) <= step
    samples = {round(retry_delay(1, None, rng), 6) for _ in range(20)}
    assert len(samples) > 10  # jittered, not a fixed step
    assert 3.0 <= retry_delay(0, 3.0, rng) <= 3.0 + INITIAL_DELAY * 0.1
    assert retry_delay(0, 3600, rng) <= 60 + 0.05


def test_429_waits_for_retry_after_then_succeeds() -> None:
    script = Scripted(error(429, "rate_limited", "1"), httpx.Response(200, json=EXECUTION))
    with client(script) as ledger:
        started = time.monotonic()
        result = ledger.execute("p", model="mock-1")
    assert result.response_text == "ok" and len(script.requests) == 2
    waited = script.times[1] - script.times[0]
    assert 1.0 <= waited < 3 and time.monotonic() - started < 4
    keys = {r.headers["idempotency-key"] for r in script.requests}
    assert len(keys) == 1  # one key for the logical call, reused by its retry
    assert json.loads(script.requests[0].content) == json.loads(script.requests[1].content)


def test_503_backs_off_exponentially_then_gives_up() -> None:
    script = Scripted(*[error(503, "unavailable") for _ in range(4)])
    with client(script, max_retries=3) as ledger, pytest.raises(UnavailableError) as down:
        ledger.list_models()
    assert len(script.requests) == 4 and down.value.status == 503 and down.value.code == "unavailable"
    gaps = [b - a for a, b in zip(script.times, script.times[1:], strict=False)]
    for n, gap in enumerate(gaps):
        step = INITIAL_DELAY * 2**n
        assert step / 2 - 0.02 <= gap <= step + 0.3, (n, gap)


def test_rate_limit_error_after_the_last_retry() -> None:
    script = Scripted(error(429, "rate_limited", "0"), error(429, "rate_limited", "0"))
    with client(script, max_retries=1) as ledger, pytest.raises(RateLimitError) as limited:
        ledger.get_execution("e1")
    assert limited.value.retry_after == 0 and len(script.requests) == 2


def test_other_errors_are_not_retried() -> None:
    for status, code in [
        (500, "internal"),
        (502, "provider_error"),
        (409, "conflict"),
        (422, "validation_failed"),
    ]:
        script = Scripted(error(status, code))
        with client(script) as ledger, pytest.raises(Exception):  # noqa: B017 PT011
            ledger.list_models()
        assert len(script.requests) == 1, status


def test_a_conflict_with_retry_after_is_retried() -> None:
    script = Scripted(error(409, "conflict", "0"), httpx.Response(200, json=EXECUTION))
    with client(script) as ledger:
        assert ledger.get_execution("e1").status == "succeeded"
    assert len(script.requests) == 2


def test_a_spent_budget_is_raised_at_once() -> None:
    script = Scripted(error(429, "budget_exceeded", "86400"))
    with client(script) as ledger, pytest.raises(BudgetExceededError) as spent:
        ledger.execute("p", model="mock-1")
    assert len(script.requests) == 1 and spent.value.retry_after == 86400
    assert isinstance(spent.value, RateLimitError)


def test_max_retries_zero_sends_once() -> None:
    script = Scripted(error(503, "unavailable", "0"))
    with client(script, max_retries=0) as ledger, pytest.raises(UnavailableError):
        ledger.list_models()
    assert len(script.requests) == 1


def test_a_refused_connection_is_retried_with_back_off() -> None:
    with PromptLedger(api_url=dead_url(), api_key="k", max_retries=2) as ledger:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as refused:
            ledger.list_models()
        elapsed = time.monotonic() - started
    assert refused.value.status is None and refused.value.code == "connection_error"
    # Two waits: 0.25-0.5 s, then 0.5-1 s.
    assert 0.75 <= elapsed < 3


def test_async_client_retries_the_same_way() -> None:
    import asyncio

    script = Scripted(error(503, "unavailable", "0.2"), httpx.Response(200, json=EXECUTION))

    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(script))
        async with AsyncPromptLedger(api_url="http://ledger.test", api_key="k", http_client=http) as ledger:
            result = await ledger.execute("p", model="mock-1")
            assert result.status == "succeeded"
        await http.aclose()

    asyncio.run(main())
    assert len(script.requests) == 2 and script.times[1] - script.times[0] >= 0.2
    assert len({r.headers["idempotency-key"] for r in script.requests}) == 1


def test_the_server_retries_a_rate_limited_async_run(ledger: PromptLedger, live: Live, name: Name) -> None:
    n = name("server-retry")
    ledger.create_prompt(n, "x")
    before = live.provider_calls("rate-limit")
    handle = ledger.execute(
        n, model={"provider": "openai", "model_name": "rate-limit"}, mode="async", max_attempts=2
    )
    done = handle.wait(timeout=60)
    assert done.status == "failed" and done.attempts == 2
    assert done.error is not None and done.error.type == "provider_rate_limited"
    assert live.provider_calls("rate-limit") == before + 2


def test_the_fake_provider_counts_each_model(live: Live) -> None:
    assert live.provider_calls(f"never-{uuid.uuid4().hex}") == 0
