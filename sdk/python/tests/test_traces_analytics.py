"""Traces, spans and analytics through the sync client."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from prompt_ledger import NotFoundError, PromptLedger, Trace, ValidationError

Name = Callable[[str], str]


def spans_of(trace_id: str) -> list[dict[str, object]]:
    return [
        {
            "span_id": "root",
            "name": "handle-request",
            "span_type": "agent",
            "started_at": "2026-03-01T10:00:00Z",
            "ended_at": "2026-03-01T10:00:02Z",
            "status": "ok",
        },
        {
            "span_id": "llm",
            "parent_span_id": "root",
            "name": "chat gpt-4o-mini",
            "span_type": "llm",
            "started_at": "2026-03-01T10:00:00.500Z",
            "ended_at": "2026-03-01T10:00:01.500Z",
            "attributes": {
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 5,
            },
            "input": {"q": "hi"},
            "output": "hello",
        },
        {
            "span_id": "tool",
            "parent_span_id": "llm",
            "name": "lookup",
            "span_type": "tool",
            "started_at": "2026-03-01T10:00:01Z",
            "ended_at": "2026-03-01T10:00:01.100Z",
            "status": "error",
        },
    ]


def test_ingest_a_trace_and_read_it_as_a_tree(ledger: PromptLedger) -> None:
    trace_id = uuid.uuid4().hex
    service = f"svc-{trace_id[:8]}"
    result = ledger.ingest_trace({"trace_id": trace_id, "service_name": service, "spans": spans_of(trace_id)})
    assert (result.accepted, result.rejected, result.trace_id) == (3, [], trace_id)

    trace = ledger.get_trace(trace_id)
    assert isinstance(trace, Trace)
    assert (trace.span_count, trace.service_name, trace.has_error, trace.name) == (
        3,
        service,
        True,
        "handle-request",
    )
    assert trace.duration_ms == 2000.0 and trace.started_at == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    root = trace.spans[0]
    assert root.span_id == "root" and [c.span_id for c in root.children] == ["llm"]
    llm = root.children[0]
    assert (llm.model, llm.prompt_tokens, llm.completion_tokens) == ("gpt-4o-mini", 12, 5)
    assert llm.input == {"q": "hi"} and llm.output == "hello" and llm.duration_ms == 1000.0
    assert [s.span_id for s in trace.all_spans()] == ["root", "llm", "tool"]

    listed = ledger.list_traces(service=service).to_list()
    assert [t.trace_id for t in listed] == [trace_id]
    assert [t.trace_id for t in ledger.list_traces(service=service, has_error=True)] == [trace_id]
    assert ledger.list_traces(service=service, has_error=False).to_list() == []
    since = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
    assert (
        len(ledger.list_traces(service=service, since=since, until=since + timedelta(hours=2)).to_list()) == 1
    )
    assert ledger.list_traces(service=service, since="2026-03-02T00:00:00Z").to_list() == []


def test_spans_batches_partial_and_atomic(ledger: PromptLedger) -> None:
    trace_id = uuid.uuid4().hex
    good = {"trace_id": trace_id, "span_id": "s1", "name": "ok", "started_at": "2026-03-01T10:00:00Z"}
    bad = {"trace_id": trace_id, "span_id": "s2", "name": "", "started_at": "2026-03-01T10:00:00Z"}
    partial = ledger.ingest_spans([good, bad])
    assert partial.accepted == 1 and [r["index"] for r in partial.rejected] == [1]
    with pytest.raises(ValidationError) as atomic:
        ledger.ingest_spans([good, bad], atomic=True)
    assert atomic.value.status == 422 and atomic.value.details["atomic"] is True
    assert ledger.get_trace(trace_id).span_count == 1
    with pytest.raises(NotFoundError):
        ledger.get_trace(uuid.uuid4().hex)


def test_executions_land_in_their_trace(ledger: PromptLedger, name: Name) -> None:
    n = name("lineage")
    ledger.create_prompt(n, "x")
    trace_id = uuid.uuid4().hex
    ledger.ingest_trace(
        {
            "trace_id": trace_id,
            "service_name": "app",
            "spans": [
                {
                    "span_id": "aaaaaaaaaaaaaaaa",
                    "name": "app-root",
                    "started_at": datetime.now(timezone.utc).isoformat(),
                }
            ],
        }
    )
    run = ledger.execute(n, model="mock-1", trace_id=trace_id, parent_span_id="aaaaaaaaaaaaaaaa")
    assert run.trace_id == trace_id
    trace = ledger.get_trace(trace_id)
    child = trace.spans[0].children[0]
    assert child.execution_id == run.execution_id
    assert child.execution is not None and child.execution.prompt_name == n


def test_analytics(ledger: PromptLedger, name: Name) -> None:
    n = name("stats")
    ledger.create_prompt(n, "v1 {{ i }}")
    for i in range(3):
        ledger.execute(n, {"i": i}, "mock-1")
    ledger.update_prompt(n, "v2 {{ i }}")
    ledger.execute(n, {"i": 9}, "mock-1")
    with pytest.raises(Exception):  # noqa: B017 PT011 a recorded provider failure
        ledger.execute(n, {"i": 0}, {"provider": "openai", "model_name": "fail-500"})

    stats = ledger.prompt_analytics(n, bucket="hour")
    assert (stats.executions, stats.succeeded, stats.failed) == (5, 4, 1)
    assert stats.success_rate == 0.8 and stats.errors_by_type == {"provider_server_error": 1}
    assert {v.version: v.executions for v in stats.versions} == {1: 3, 2: 2}
    assert stats.prompt is not None and stats.prompt["name"] == n
    assert stats.latency_ms.count == 5 and sum(p.executions for p in stats.series) == 5
    day = ledger.prompt_analytics(n, since=datetime.now(timezone.utc) - timedelta(days=1))
    assert day.executions == 5
    empty = ledger.prompt_analytics(n, until="2020-01-01T00:00:00Z")
    assert empty.executions == 0 and empty.success_rate is None

    summary = ledger.analytics_summary(since=datetime.now(timezone.utc) - timedelta(hours=1))
    assert summary.executions >= 5 and summary.total_tokens >= summary.prompt_tokens
    assert any(p["prompt_name"] == n for p in summary.top_prompts) or len(summary.top_prompts) == 10
    assert any(m["provider"] == "mock" for m in summary.by_provider)
    with pytest.raises(NotFoundError):
        ledger.prompt_analytics(name("absent"))
    with pytest.raises(ValidationError) as bucket:
        ledger.prompt_analytics(n, bucket="week")  # type: ignore[arg-type]
    assert bucket.value.field == "bucket"
