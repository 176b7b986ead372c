"""Type-checked with mypy --strict by run-tests.sh (never run): what an
application's type checker sees of the public API."""

from __future__ import annotations

from typing_extensions import assert_type

from prompt_ledger import (
    AsyncExecutionHandle,
    AsyncPromptLedger,
    Execution,
    ExecutionHandle,
    Paginator,
    PromptLedger,
    PromptVersion,
    ValidationError,
)


def sync_usage(ledger: PromptLedger) -> None:
    assert_type(ledger.execute("p", {"x": 1}, "mock-1"), Execution)
    assert_type(ledger.execute("p", mode="async"), ExecutionHandle)
    assert_type(ledger.execute("p", mode="async").wait(), Execution)
    assert_type(ledger.get_prompt("p", label="production", fallback="hi"), PromptVersion)
    assert_type(ledger.list_executions(status="failed"), Paginator[Execution])
    for e in ledger.list_executions():
        assert_type(e.usage.total_tokens, int | None)
    text: str | None = ledger.execute("p")["response_text"]
    del text
    try:
        ledger.render_prompt("p")
    except ValidationError as e:
        assert_type(e.field, str | None)
        assert_type(e.missing, list[str])


async def async_usage(ledger: AsyncPromptLedger) -> None:
    assert_type(await ledger.execute("p"), Execution)
    handle = await ledger.execute("p", mode="async")
    assert_type(handle, AsyncExecutionHandle)
    assert_type(await handle.wait(), Execution)
    async for prompt in ledger.list_prompts():
        assert_type(prompt.name, str)
