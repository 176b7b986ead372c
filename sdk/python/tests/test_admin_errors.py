"""Models and prices, API keys, health, and the typed errors the API answers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from conftest import Live
from prompt_ledger import (
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PromptLedger,
    PromptLedgerError,
    RateLimitError,
    ValidationError,
)
from prompt_ledger import _ops as ops
from prompt_ledger.errors import error_from_response

Name = Callable[[str], str]


def test_models_and_prices(ledger: PromptLedger) -> None:
    models = ledger.list_models()
    assert any((m.provider, m.model_name) == ("openai", "gpt-4o-mini") for m in models)
    mini = ledger.get_model("openai", "gpt-4o-mini")
    assert mini.input_usd_per_mtok > 0 and mini["output_usd_per_mtok"] > 0
    model_name = f"gpt-priced-{uuid.uuid4().hex[:6]}"
    priced = ledger.set_model_prices("openai", model_name, input_usd_per_mtok=1.5, output_usd_per_mtok=3)
    assert (priced.input_usd_per_mtok, priced.output_usd_per_mtok) == (1.5, 3.0)
    assert ledger.get_model("openai", model_name).updated_at is not None
    with pytest.raises(NotFoundError):
        ledger.get_model("openai", f"unknown-{uuid.uuid4().hex}")
    with pytest.raises(ValidationError) as bad:
        ledger.set_model_prices("openai", model_name, input_usd_per_mtok=-1, output_usd_per_mtok=1)
    assert bad.value.field == "input_usd_per_mtok"


def test_api_keys_and_scopes(ledger: PromptLedger, live: Live, name: Name) -> None:
    created = ledger.create_api_key(name("reader"), "read")
    assert created.scope == "read" and created.key.startswith(created.key_prefix)
    assert created.id in [k.id for k in ledger.list_api_keys()]

    with PromptLedger(api_url=live.url, api_key=created.key) as reader:
        assert reader.list_models()
        with pytest.raises(PermissionDeniedError) as denied:
            reader.create_prompt(name("nope"), "x")
        assert (denied.value.status, denied.value.code) == (403, "forbidden")
        with pytest.raises(PermissionDeniedError):
            reader.list_api_keys()

        revoked = ledger.revoke_api_key(created.id)
        assert revoked.revoked_at is not None
        assert created.id not in [k.id for k in ledger.list_api_keys()]
        assert created.id in [k.id for k in ledger.list_api_keys(include_revoked=True)]
        with pytest.raises(AuthenticationError) as refused:
            reader.list_models()
        assert refused.value.status == 401
    with pytest.raises(NotFoundError):
        ledger.revoke_api_key(str(uuid.uuid4()))
    with pytest.raises(ValidationError) as bad:
        ledger.create_api_key("", "read")
    assert bad.value.field == "name"


def test_an_unknown_key_is_an_authentication_error(live: Live) -> None:
    with (
        PromptLedger(api_url=live.url, api_key="pl-wrong") as ledger,
        pytest.raises(AuthenticationError) as e,
    ):
        ledger.list_prompts().first_page()
    assert e.value.code == "unauthorized" and "API key" in e.value.message
    assert e.value.headers.get("www-authenticate") == "Bearer"


def test_health(ledger: PromptLedger) -> None:
    health = ledger.health()
    assert health["status"] == "ok" and health["checks"]["database"]["status"] == "ok"


def test_errors_carry_code_message_details_and_status(ledger: PromptLedger, name: Name) -> None:
    with pytest.raises(ValidationError) as invalid:
        ledger.create_prompt("not a valid name!", "x")
    error = invalid.value
    assert isinstance(error, PromptLedgerError)
    assert (error.status, error.code, error.field) == (422, "validation_failed", "name")
    assert error.details["field"] == "name" and error.message.startswith("name:")
    assert "422 validation_failed" in str(error)

    n = name("dup")
    ledger.create_prompt(n, "x")
    with pytest.raises(ConflictError) as taken:
        ledger.create_prompt(n, "x")
    assert taken.value.status == 409

    with pytest.raises(ValidationError) as syntax:
        ledger.create_version(n, "{% if %}")
    assert syntax.value.code == "template_syntax" and "line" in syntax.value.details

    with pytest.raises(NotFoundError) as missing:
        ledger.get_version(n, 99)
    assert missing.value.code == "not_found" and missing.value.status == 404

    with pytest.raises(ValidationError) as limit:
        ledger.list_prompts(page_size=1000).first_page()
    assert limit.value.field == "limit"

    with pytest.raises(ValidationError) as cursor:
        ledger._send(ops.list_prompts_page("garbage", None, None, None, None, None))
    assert cursor.value.field == "cursor"


def test_bad_request_and_too_large(ledger: PromptLedger, name: Name) -> None:
    # The SDK never sends malformed JSON; send some past it to see the server's 400 typed.
    raw = httpx.post(
        f"{ledger.api_url}/v1/prompts",
        content=b"{not json",
        headers={"X-API-Key": ledger.api_key, "Content-Type": "application/json"},
    )
    bad = error_from_response(raw)
    assert isinstance(bad, BadRequestError) and bad.status == 400 and bad.code == "bad_request"
    with pytest.raises(ValidationError) as unparsable:
        ledger.list_executions(version="one").first_page()  # type: ignore[arg-type]
    assert unparsable.value.field == "version"
    with pytest.raises(PayloadTooLargeError) as large:
        ledger.create_prompt(name("big"), "x" * (5 * 1024 * 1024))
    assert large.value.status == 413 and large.value.code == "payload_too_large"


def limits_supported(ledger: PromptLedger, name: Name) -> bool:
    """Key limits are new on the server: older servers refuse the fields."""
    try:
        probe = ledger.create_api_key(name("probe"), "read", rate_limit_per_minute=1000)
    except ValidationError:
        return False
    ledger.revoke_api_key(probe.id)
    return True


def test_key_rate_limits_are_typed_errors(ledger: PromptLedger, live: Live, name: Name) -> None:
    if not limits_supported(ledger, name):
        pytest.skip("this server has no per-key limits")
    created = ledger.create_api_key(name("limited"), "write", rate_limit_per_minute=3)
    assert created.rate_limit_per_minute == 3 and created.monthly_budget_usd is None
    with PromptLedger(api_url=live.url, api_key=created.key, max_retries=0) as limited:
        started = time.monotonic()
        limits_hit = None
        for _ in range(8):
            try:
                limited.list_models()
            except RateLimitError as e:
                limits_hit = e
                break
        assert limits_hit is not None and time.monotonic() - started < 5
        assert limits_hit.code == "rate_limited" and limits_hit.status == 429
        assert limits_hit.retry_after is not None and 0 <= limits_hit.retry_after <= 60
        assert "ratelimit" in limits_hit.headers
        detail = ledger.get_api_key(created.id)
        assert detail.rate_limit_per_minute == 3 and detail.usage.requests_this_minute >= 3
        lifted = ledger.set_api_key_limits(created.id, rate_limit_per_minute=None)
        assert lifted.rate_limit_per_minute is None
        assert limited.list_models()  # at once
    ledger.revoke_api_key(created.id)


def test_a_spent_budget_is_refused_without_retries(ledger: PromptLedger, live: Live, name: Name) -> None:
    if not limits_supported(ledger, name):
        pytest.skip("this server has no per-key limits")
    created = ledger.create_api_key(name("budget"), "write", monthly_budget_usd=0.000001)
    n = name("budget-run")
    ledger.create_prompt(n, "spend {{ x }}")
    with PromptLedger(api_url=live.url, api_key=created.key) as spender:
        spender.execute(
            n, {"x": 1}, {"provider": "openai", "model_name": "gpt-4o-mini"}
        )  # costs over the budget
        started = time.monotonic()
        with pytest.raises(BudgetExceededError) as spent:
            spender.execute(n, {"x": 2}, {"provider": "openai", "model_name": "gpt-4o-mini"})
        assert time.monotonic() - started < 2  # raised at once, not retried for a month
        assert spent.value.code == "budget_exceeded" and (spent.value.retry_after or 0) > 60
    assert ledger.get_api_key(created.id).usage.spent_this_month_usd > 0.000001
    ledger.set_api_key_limits(created.id, monthly_budget_usd=None)
    ledger.revoke_api_key(created.id)
