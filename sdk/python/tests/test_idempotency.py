"""A retried execute never runs the prompt twice: one idempotency key per
logical call, reused by every retry, counted at the fake provider."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from conftest import Live, Proxy
from prompt_ledger import ConflictError, PromptLedger, ProviderError

Name = Callable[[str], str]


def test_a_lost_response_is_retried_without_a_second_provider_call(
    live: Live, proxy: Proxy, name: Name
) -> None:
    n = name("lost")
    model = f"gpt-lost-{uuid.uuid4().hex[:8]}"
    with PromptLedger(api_url=proxy.url, api_key=live.api_key) as ledger:
        ledger.create_prompt(n, "say {{ w }}")
        proxy.drop_path, proxy.drop_after_forward = "/v1/executions:run", 1
        result = ledger.execute(n, {"w": "once"}, {"provider": "openai", "model_name": model})
    # The first request ran and its answer was lost; the retry got the same run back.
    assert proxy.forwarded.count("POST /v1/executions:run") == 2
    assert result.idempotent_replay and result.status == "succeeded"
    assert result.response_text == "echo: say once"
    assert live.provider_calls(model) == 1
    with PromptLedger(api_url=live.url, api_key=live.api_key) as direct:
        assert [e.execution_id for e in direct.list_executions(prompt=n)] == [result.execution_id]


def test_a_timed_out_run_is_waited_for_not_run_again(live: Live, name: Name) -> None:
    n = name("timeout")
    model = f"slow-{1500 + uuid.uuid4().int % 400}"  # a name of this test's own, for its call count
    before = live.provider_calls(model)
    timeout = httpx.Timeout(0.6, connect=5.0)
    with PromptLedger(api_url=live.url, api_key=live.api_key, timeout=timeout) as ledger:
        ledger.create_prompt(n, "slow {{ w }}")
        result = ledger.execute(n, {"w": "x"}, {"provider": "openai", "model_name": model})
        # The first attempt timed out on the client; the retry found the run going and waited for it.
        assert result.status == "succeeded" and result.response_text == "echo: slow x"
        assert live.provider_calls(model) == before + 1
        assert len(ledger.list_executions(prompt=n).to_list()) == 1


def test_an_explicit_key_answers_the_first_run(ledger: PromptLedger, live: Live, name: Name) -> None:
    n = name("key")
    model = f"gpt-key-{uuid.uuid4().hex[:8]}"
    ledger.create_prompt(n, "k {{ v }}")
    key = f"order-{uuid.uuid4()}"
    first = ledger.execute(n, {"v": 1}, {"provider": "openai", "model_name": model}, idempotency_key=key)
    second = ledger.execute(n, {"v": 1}, {"provider": "openai", "model_name": model}, idempotency_key=key)
    assert second.execution_id == first.execution_id and second.idempotent_replay
    assert first.idempotency_key == key
    assert live.provider_calls(model) == 1
    with pytest.raises(ConflictError) as conflict:
        ledger.execute(n, {"v": 2}, {"provider": "openai", "model_name": model}, idempotency_key=key)
    assert conflict.value.code == "idempotency_conflict"
    assert conflict.value.details == {"execution_id": first.execution_id}


def test_each_logical_call_gets_its_own_key(ledger: PromptLedger, live: Live, name: Name) -> None:
    n = name("keys")
    model = f"gpt-keys-{uuid.uuid4().hex[:8]}"
    ledger.create_prompt(n, "same")
    a = ledger.execute(n, model={"provider": "openai", "model_name": model})
    b = ledger.execute(n, model={"provider": "openai", "model_name": model})
    assert a.execution_id != b.execution_id and a.idempotency_key != b.idempotency_key
    assert live.provider_calls(model) == 2


def test_a_replayed_failure_raises_as_the_first_answer_did(
    ledger: PromptLedger, live: Live, name: Name
) -> None:
    n = name("replay-fail")
    ledger.create_prompt(n, "x")
    key = f"fail-{uuid.uuid4()}"
    before = live.provider_calls("fail-500")
    model = {"provider": "openai", "model_name": "fail-500"}
    with pytest.raises(ProviderError) as first:
        ledger.execute(n, model=model, idempotency_key=key)
    with pytest.raises(ProviderError) as again:
        ledger.execute(n, model=model, idempotency_key=key)
    assert (first.value.status, again.value.status) == (502, 502)
    assert first.value.execution is not None and again.value.execution is not None
    assert again.value.execution.execution_id == first.value.execution.execution_id
    assert again.value.execution.idempotent_replay
    assert live.provider_calls("fail-500") == before + 1
