"""The async client against the live host."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from conftest import Live, Proxy
from prompt_ledger import (
    AsyncExecutionHandle,
    AsyncPromptLedger,
    ConflictError,
    Execution,
    NotFoundError,
    PromptLedgerError,
    PromptVersion,
    ProviderError,
    ValidationError,
)

Name = Callable[[str], str]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def test_prompts_and_sync_runs(live: Live, name: Name) -> None:
    async def main() -> None:
        async with AsyncPromptLedger(api_url=live.url, api_key=live.api_key) as ledger:
            n = name("async-p")
            created = await ledger.create_prompt(n, "A {{ x }}", owner_team="t")
            assert created.latest_version == 1
            await ledger.create_version(n, "B {{ x }}")
            await ledger.set_label(n, "beta", 2)
            version = await ledger.get_prompt(n)
            assert isinstance(version, PromptVersion) and version.template == "A {{ x }}"
            assert (await ledger.get_prompt(n, label="beta")).template == "B {{ x }}"
            assert (await ledger.render_prompt(n, {"x": 1}, version=2)).rendered == "B 1"
            assert (await ledger.diff_versions(n, 1, 2)).body_changed
            assert [v.version async for v in ledger.list_versions(n, page_size=1)] == [2, 1]
            assert [p.name async for p in ledger.list_prompts(prefix=n)] == [n]
            assert [lb.label for lb in await ledger.list_labels(n)] == ["beta"]
            await ledger.activate_version(n, 2)
            assert (await ledger.get_prompt(n)).template == "B {{ x }}"
            reg = await ledger.register_code_prompts([(name("ASYNC_REG"), "r")])
            assert reg.summary.created == 1

            result = await ledger.execute(n, {"x": "y"}, "mock-1")
            assert isinstance(result, Execution) and result["response_text"] == "Mock response to: B y"
            assert (await ledger.get_execution(result.execution_id)).inputs is not None
            with pytest.raises(ProviderError):
                await ledger.execute(n, {"x": 1}, {"provider": "openai", "model_name": "fail-500"})
            with pytest.raises(ValidationError):
                await ledger.execute(n, {}, "mock-1")
            with pytest.raises(NotFoundError):
                await ledger.get_prompt(name("absent"))
            await ledger.archive_prompt(n)
            with pytest.raises(NotFoundError):
                await ledger.get_prompt(n)

    run(main())


def test_async_mode_wait_cancel_and_lists(live: Live, name: Name) -> None:
    async def main() -> None:
        async with AsyncPromptLedger(api_url=live.url, api_key=live.api_key) as ledger:
            n = name("async-e")
            await ledger.create_prompt(n, "q {{ i }}")
            handle = await ledger.execute(n, {"i": 1}, "mock-1", mode="async")
            assert isinstance(handle, AsyncExecutionHandle) and handle.status == "queued"
            done = await handle.wait(timeout=30)
            assert done.status == "succeeded" and done.response_text == "Mock response to: q 1"

            for _ in range(3):  # the beat may claim a run before the cancel reaches it
                queued = await ledger.execute(n, {"i": 2}, "mock-1", mode="async")
                try:
                    assert (await queued.cancel()).status == "canceled"
                    break
                except ConflictError:
                    continue
            else:
                pytest.fail("no run stayed queued long enough to cancel")

            correlation = uuid.uuid4().hex
            runs = await asyncio.gather(
                *[ledger.execute(n, {"i": i}, "mock-1", correlation_id=correlation) for i in range(8)]
            )
            assert len({r.execution_id for r in runs}) == 8
            listed = [
                e.execution_id async for e in ledger.list_executions(correlation_id=correlation, page_size=3)
            ]
            assert sorted(listed) == sorted(r.execution_id for r in runs)
            pages = [
                len(p.items)
                async for p in ledger.list_executions(correlation_id=correlation, page_size=3).pages()
            ]
            assert pages == [3, 3, 2]
            assert len(await ledger.list_executions(prompt=n).to_list()) >= 10

    run(main())


def test_async_cache_refreshes_in_the_background(live: Live, proxy: Proxy, name: Name) -> None:
    async def main() -> None:
        n = name("async-c")
        async with AsyncPromptLedger(api_url=live.url, api_key=live.api_key) as writer:
            await writer.create_prompt(n, "one")
        async with AsyncPromptLedger(
            api_url=proxy.url, api_key=live.api_key, cache_ttl_seconds=0.2
        ) as ledger:
            first = await ledger.get_prompt(n)
            async with AsyncPromptLedger(api_url=live.url, api_key=live.api_key) as writer:
                await writer.update_prompt(n, "two")
            await asyncio.sleep(0.25)
            assert (await ledger.get_prompt(n)) is first  # stale, served at once
            await ledger.wait_for_refreshes()
            assert (await ledger.get_prompt(n)).template == "two"
            proxy.stop()
            await asyncio.sleep(0.25)
            started = time.perf_counter()
            assert (await ledger.get_prompt(n)).template == "two"  # the server is gone: still served
            assert time.perf_counter() - started < 0.5
            await ledger.wait_for_refreshes()
            assert (await ledger.get_prompt(n, fallback="fb")).template == "two"
            cold = await ledger.get_prompt(name("cold"), fallback="fb {{ a }}")
            assert cold.is_fallback

    run(main())


def test_async_traces_analytics_and_admin(live: Live, name: Name) -> None:
    async def main() -> None:
        async with AsyncPromptLedger(api_url=live.url, api_key=live.api_key) as ledger:
            trace_id = uuid.uuid4().hex
            span = {
                "span_id": "a1",
                "name": "root",
                "started_at": "2026-01-01T00:00:00Z",
                "ended_at": "2026-01-01T00:00:01Z",
            }
            accepted = await ledger.ingest_trace(
                {"trace_id": trace_id, "service_name": "async-svc", "spans": [span]}
            )
            assert accepted.accepted == 1
            assert (await ledger.get_trace(trace_id)).spans[0].name == "root"
            assert trace_id in [t.trace_id async for t in ledger.list_traces(service="async-svc")]
            assert (await ledger.analytics_summary()).executions >= 0
            assert await ledger.list_models()
            key = await ledger.create_api_key(name("async-key"), "read")
            assert (await ledger.revoke_api_key(key.id)).revoked_at is not None
            assert (await ledger.health())["status"] in ("ok", "degraded")

    run(main())


def test_the_rest_of_the_async_surface(live: Live, name: Name) -> None:
    async def main() -> None:
        ledger = AsyncPromptLedger(api_url=live.url, api_key=live.api_key)
        n = name("async-rest")
        await ledger.create_prompt(n, "one {{ x }}", owner_team="a")
        await ledger.update_prompt(n, "two {{ x }}")
        details = await ledger.get_prompt_details(n)
        assert details.latest_version == 2
        assert (await ledger.update_prompt_metadata(n, owner_team=None)).owner_team is None
        assert (await ledger.get_version(n, 1)).template == "one {{ x }}"
        assert (await ledger.rollback(n, 1)).status == "active"
        await ledger.set_label(n, "canary", 2)
        assert (await ledger.get_label(n, "canary")).version == 2
        assert (await ledger.delete_label(n, "canary")).version == 2
        await ledger.archive_prompt(n)
        assert not (await ledger.unarchive_prompt(n)).archived

        queued = await ledger.execute(n, {"x": 1}, "mock-1", mode="async")
        handle = await ledger.execution_handle(queued.id)
        assert (await handle.wait(timeout=30)).status == "succeeded"
        with pytest.raises(ConflictError):
            await ledger.cancel_execution(queued.id)
        stats = await ledger.prompt_analytics(n)
        assert stats.executions == 1

        trace_id = uuid.uuid4().hex
        spans = [{"trace_id": trace_id, "span_id": "s", "name": "one", "started_at": "2026-01-01T00:00:00Z"}]
        assert (await ledger.ingest_spans(spans)).accepted == 1

        model_name = f"gpt-async-{uuid.uuid4().hex[:6]}"
        await ledger.set_model_prices("openai", model_name, input_usd_per_mtok=1, output_usd_per_mtok=2)
        assert (await ledger.get_model("openai", model_name)).output_usd_per_mtok == 2

        key = await ledger.create_api_key(name("async-k"), "read")
        assert key.id in [k.id for k in await ledger.list_api_keys()]
        try:
            limited = await ledger.set_api_key_limits(key.id, rate_limit_per_minute=100)
        except PromptLedgerError as e:  # a server without per-key limits: 405
            if e.status != 405:
                raise
            limited = None
        if limited is not None:
            assert limited.rate_limit_per_minute == 100
            assert (await ledger.get_api_key(key.id)).rate_limit_per_minute == 100
        await ledger.revoke_api_key(key.id)
        await ledger.close()

    run(main())
