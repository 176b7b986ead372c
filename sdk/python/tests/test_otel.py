"""OpenTelemetry: `execute` joins the caller's trace through `traceparent`,
and `configure_otel_exporter` sends the application's spans to the ledger
with the official OTLP/HTTP exporter."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable

import httpx
import pytest

from conftest import Live
from prompt_ledger import PromptLedger, configure_otel_exporter, current_trace_headers, otel

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace")

Name = Callable[[str], str]


def hex_ids(span: object) -> tuple[str, str]:
    ctx = span.get_span_context()  # type: ignore[attr-defined]
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def test_no_context_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_trace_headers() == {}
    # As if OpenTelemetry were not installed:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setattr(otel, "_propagate", None)
    monkeypatch.setattr(otel, "_looked", False)
    assert current_trace_headers() == {} and not otel.otel_available()


def test_execute_joins_the_current_trace(ledger: PromptLedger, name: Name) -> None:
    n = name("otel")
    ledger.create_prompt(n, "traced {{ x }}")
    tracer = otel_sdk.TracerProvider().get_tracer("sdk-tests")
    with tracer.start_as_current_span("app-request") as span:
        headers = current_trace_headers()
        run = ledger.execute(n, {"x": 1}, "mock-1")
    trace_id, span_id = hex_ids(span)
    assert headers["traceparent"].startswith(f"00-{trace_id}-{span_id}-")
    assert run.trace_id == trace_id
    stored = ledger.get_execution(run.execution_id)
    assert stored.span is not None and stored.span.parent_span_id == span_id


def protobuf_accepted(live: Live) -> bool:
    r = httpx.post(
        f"{live.url}/v1/traces",
        content=b"",
        headers={"X-API-Key": live.api_key, "Content-Type": "application/x-protobuf"},
    )
    return r.status_code != 415


def test_the_exporter_sends_spans_that_frame_the_execution(
    ledger: PromptLedger, live: Live, name: Name
) -> None:
    if not protobuf_accepted(live):
        pytest.skip("this server answers OTLP protobuf with 415")
    service = f"otel-app-{uuid.uuid4().hex[:8]}"
    provider = configure_otel_exporter(
        live.url, live.api_key, service_name=service, set_global=False, batch=False
    )
    tracer = provider.get_tracer("sdk-tests")
    n = name("otel-exp")
    ledger.create_prompt(n, "exported {{ x }}")
    with tracer.start_as_current_span("answer-question") as root:
        with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            llm.set_attribute("gen_ai.usage.input_tokens", 11)
            llm.set_attribute("gen_ai.usage.output_tokens", 4)
        run = ledger.execute(n, {"x": 2}, "mock-1")
    provider.force_flush()
    provider.shutdown()
    trace_id, root_id = hex_ids(root)

    trace = ledger.get_trace(trace_id)
    assert trace.service_name == service and trace.name == "answer-question"
    [top] = trace.spans
    assert top.span_id == root_id
    children = {c.name: c for c in top.children}
    chat = children["chat gpt-4o-mini"]
    assert (chat.span_type, chat.model, chat.prompt_tokens, chat.completion_tokens) == (
        "llm",
        "gpt-4o-mini",
        11,
        4,
    )
    executed = [c for c in top.children if c.execution_id == run.execution_id]
    assert executed and executed[0].execution is not None and executed[0].execution["prompt_name"] == n


def test_configure_needs_a_url_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMPT_LEDGER_URL", raising=False)
    monkeypatch.delenv("PROMPT_LEDGER_API_KEY", raising=False)
    with pytest.raises(ValueError, match="api_url"):
        configure_otel_exporter(set_global=False)
