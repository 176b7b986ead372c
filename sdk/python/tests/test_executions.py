"""Executions against the live host and its fake provider: sync and async
runs, typed results, provider failures, lists over cursor pages, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from conftest import Live
from prompt_ledger import (
    ConflictError,
    Execution,
    ExecutionHandle,
    ExecutionTimeoutError,
    NotFoundError,
    PromptLedger,
    ProviderError,
    ProviderTimeoutError,
    ValidationError,
)

Name = Callable[[str], str]


def test_sync_execute_returns_a_typed_result(ledger: PromptLedger, name: Name) -> None:
    n = name("run")
    ledger.create_prompt(n, "Tell {{ who }} about {{ what }}")
    correlation = uuid.uuid4().hex
    result = ledger.execute(
        prompt_name=n,
        variables={"who": "Ada", "what": "ledgers"},
        model={"provider": "openai", "model_name": "gpt-4o-mini"},
        params={"temperature": 0.3, "max_tokens": 50},
        correlation_id=correlation,
    )
    assert isinstance(result, Execution)
    assert result.status == "succeeded" and result.done
    assert result.response_text == "echo: Tell Ada about ledgers"
    assert result["response_text"] == result.response_text
    assert result["usage"]["total_tokens"] == result.usage.total_tokens
    assert result.usage.prompt_tokens and result.usage.response_tokens
    assert result.model is not None and (result.model.provider, result.model.model_name) == (
        "openai",
        "gpt-4o-mini",
    )
    assert result.prompt is not None and (result.prompt.name, result.prompt.version) == (n, 1)
    assert result.cost.nanos is not None and result.cost.nanos > 0
    assert result.latency_ms.total is not None
    assert result.correlation_id == correlation
    assert result.idempotency_key and result.idempotency_key.startswith("pl-")
    assert isinstance(result.created_at, datetime) and isinstance(result.completed_at, datetime)
    assert result.to_dict()["status"] == "succeeded"

    stored = ledger.get_execution(result.execution_id)
    assert stored.inputs is not None and stored.inputs.variables == {"who": "Ada", "what": "ledgers"}
    assert stored.inputs.params == {"temperature": 0.3, "max_tokens": 50}
    assert stored.span is not None and stored.span.span_id == result.span_id


def test_models_as_strings_labels_and_inline_templates(ledger: PromptLedger, name: Name) -> None:
    n = name("str")
    ledger.create_prompt(n, "one {{ x }}")
    ledger.create_version(n, "two {{ x }}")
    ledger.set_label(n, "staging", 2)
    assert ledger.execute(n, {"x": 1}, "mock/mock-1").response_text == "Mock response to: one 1"
    assert ledger.execute(n, {"x": 1}, "mock-1", label="staging").response_text == "Mock response to: two 1"
    assert ledger.execute(n, {"x": 1}, "mock-1", version=2).prompt.version == 2  # type: ignore[union-attr]
    inline = ledger.execute(template="inline {{ y }}", variables={"y": "z"}, model="gpt-4o-mini")
    assert inline.response_text == "echo: inline z"
    chat = ledger.execute(
        messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "hello {{ n }}"}],
        variables={"n": 2},
        model="mock-1",
    )
    assert chat.status == "succeeded" and isinstance(chat.rendered_prompt, list)
    tagged = ledger.execute(n, {"x": 1}, "mock-1", extra_body={"correlation_id": "from-extra-body"})
    assert tagged.correlation_id == "from-extra-body"


def test_a_provider_failure_raises_with_the_recorded_run(
    ledger: PromptLedger, live: Live, name: Name
) -> None:
    n = name("fail")
    ledger.create_prompt(n, "x")
    before = live.provider_calls("fail-500")
    with pytest.raises(ProviderError) as failed:
        ledger.execute(n, model={"provider": "openai", "model_name": "fail-500"})
    error = failed.value
    assert (error.status, error.code) == (502, "provider_error")
    assert error.execution is not None and error.execution.status == "failed"
    assert error.execution.error is not None and error.execution.error.provider_status == 500
    # A 502 is the provider's answer, recorded: the client does not resend it.
    assert live.provider_calls("fail-500") == before + 1
    assert ledger.get_execution(error.execution.execution_id).status == "failed"


def test_a_provider_rate_limit_in_a_sync_run_is_a_provider_error(
    ledger: PromptLedger, live: Live, name: Name
) -> None:
    n = name("rl")
    ledger.create_prompt(n, "x")
    before = live.provider_calls("rate-limit")
    with pytest.raises(ProviderError) as failed:
        ledger.execute(n, model={"provider": "openai", "model_name": "rate-limit"})
    assert failed.value.execution is not None and failed.value.execution.error is not None
    assert failed.value.execution.error.type == "provider_rate_limited"
    assert live.provider_calls("rate-limit") == before + 1


def test_a_provider_timeout(ledger: PromptLedger, name: Name) -> None:
    n = name("slow")
    ledger.create_prompt(n, "x")
    with pytest.raises(ProviderTimeoutError) as slow:
        ledger.execute(n, model={"provider": "openai", "model_name": "slow-3000"}, timeout_ms=300)
    assert slow.value.status == 504 and slow.value.code == "provider_timeout"


def test_async_execute_and_wait(ledger: PromptLedger, name: Name) -> None:
    n = name("async")
    ledger.create_prompt(n, "later {{ v }}")
    handle = ledger.execute(n, {"v": 7}, "mock-1", mode="async")
    assert isinstance(handle, ExecutionHandle)
    assert handle.status == "queued" and handle.execution.mode == "async"
    done = handle.wait(timeout=30)
    assert done.status == "succeeded" and done.response_text == "Mock response to: later 7"
    assert done.attempts == 1 and handle.status == "succeeded"
    again = ledger.execution_handle(handle.id)
    assert again.wait().execution_id == handle.id


def test_async_runs_are_retried_by_the_server(ledger: PromptLedger, live: Live, name: Name) -> None:
    n = name("flaky")
    ledger.create_prompt(n, "x")
    model = f"flaky-2-{uuid.uuid4().hex[:8]}"
    handle = ledger.execute(
        n, model={"provider": "openai", "model_name": model}, mode="async", max_attempts=3
    )
    done = handle.wait(timeout=60)
    assert done.status == "succeeded" and done.attempts == 3
    assert live.provider_calls(model) == 3


def test_wait_gives_up_after_its_timeout(ledger: PromptLedger, name: Name) -> None:
    n = name("wait")
    ledger.create_prompt(n, "x")
    handle = ledger.execute(n, model={"provider": "openai", "model_name": "slow-2500"}, mode="async")
    with pytest.raises(ExecutionTimeoutError):
        handle.wait(timeout=0.3)
    assert handle.wait(timeout=30).status == "succeeded"


def test_cancel_a_queued_run(ledger: PromptLedger, name: Name) -> None:
    n = name("cancel")
    ledger.create_prompt(n, "x")
    for _ in range(3):  # the beat, every second, may claim a run before the cancel reaches it
        handle = ledger.execute(n, model="mock-1", mode="async")
        try:
            canceled = handle.cancel()
            break
        except ConflictError:
            continue
    assert canceled.status == "canceled" and handle.wait().status == "canceled"
    with pytest.raises(ConflictError) as late:
        ledger.cancel_execution(handle.id)
    assert late.value.details == {"status": "canceled"}
    with pytest.raises(NotFoundError):
        ledger.cancel_execution(str(uuid.uuid4()))


def test_list_executions_over_cursor_pages(ledger: PromptLedger, name: Name) -> None:
    n = name("listed")
    ledger.create_prompt(n, "item {{ i }}")
    correlation = uuid.uuid4().hex
    ids = [ledger.execute(n, {"i": i}, "mock-1", correlation_id=correlation).execution_id for i in range(5)]
    with pytest.raises(ProviderError):
        ledger.execute(
            n, {"i": 9}, {"provider": "openai", "model_name": "fail-500"}, correlation_id=correlation
        )

    listed = ledger.list_executions(correlation_id=correlation, status="succeeded", page_size=2)
    assert [e.execution_id for e in listed] == list(reversed(ids))  # newest first
    assert [len(p.items) for p in listed.pages()] == [2, 2, 1]
    assert len(ledger.list_executions(prompt=n).to_list()) == 6
    assert [e.status for e in ledger.list_executions(prompt=n, status="failed")] == ["failed"]
    assert len(ledger.list_executions(prompt=n, provider="mock", model_name="mock-1").to_list()) == 5
    assert ledger.list_executions(prompt=n, version=1).to_list(max_items=3).__len__() == 3

    now = datetime.now(timezone.utc)
    assert len(ledger.list_executions(prompt=n, since=now - timedelta(minutes=5)).to_list()) == 6
    assert ledger.list_executions(prompt=n, since=now + timedelta(minutes=5)).to_list() == []
    assert len(ledger.list_executions(prompt=n, until="2999-01-01T00:00:00Z").to_list()) == 6


def test_bad_run_requests_are_validation_errors(ledger: PromptLedger, name: Name) -> None:
    n = name("bad")
    ledger.create_prompt(n, "{{ needed }}")
    with pytest.raises(ValidationError) as missing:
        ledger.execute(n, {}, "mock-1")
    assert missing.value.code == "missing_variables" and missing.value.missing == ["needed"]
    with pytest.raises(ValidationError) as no_model:
        ledger.execute(n, {"needed": 1})
    assert no_model.value.field == "model"
    with pytest.raises(ValidationError) as provider:
        ledger.execute(n, {"needed": 1}, {"provider": "nope", "model_name": "m"})
    assert provider.value.field == "model.provider"
    with pytest.raises(NotFoundError):
        ledger.execute(name("missing"), {}, "mock-1")
    with pytest.raises(NotFoundError):
        ledger.get_execution(str(uuid.uuid4()))
    with pytest.raises(ValueError, match="mode"):
        ledger.execute(n, {"needed": 1}, "mock-1", mode="later")  # type: ignore[call-overload]
