"""Exports a small GenAI trace with the Python OpenTelemetry SDK's OTLP/HTTP
exporter (protobuf, plain and gzip) and reads it back as a tree."""

import json
import os
import urllib.request
import uuid

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

URL = os.environ["PROMPT_LEDGER_URL"]
KEY = os.environ["PROMPT_LEDGER_API_KEY"]


def export(compression: Compression) -> tuple[str, str]:
    service = f"otel-py-{uuid.uuid4().hex[:8]}"
    exporter = OTLPSpanExporter(endpoint=f"{URL}/v1/traces", headers={"X-API-Key": KEY}, compression=compression)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("prompt-ledger-otel-test")
    with tracer.start_as_current_span("invoke_agent support") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat gpt-4o-mini") as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 42,
                    "gen_ai.usage.output_tokens": 7,
                }
            )
        trace_id = format(agent.get_span_context().trace_id, "032x")
    provider.shutdown()
    return service, trace_id


def read_tree(trace_id: str) -> dict:
    request = urllib.request.Request(f"{URL}/v1/traces/{trace_id}", headers={"X-API-Key": KEY})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


for compression in (Compression.NoCompression, Compression.Gzip):
    service, trace_id = export(compression)
    tree = read_tree(trace_id)
    assert tree["service_name"] == service, tree
    assert tree["span_count"] == 2, tree
    (root,) = tree["spans"]
    assert root["name"] == "invoke_agent support", root
    (llm,) = root["children"]
    assert (llm["model"], llm["prompt_tokens"], llm["completion_tokens"]) == ("gpt-4o-mini", 42, 7), llm
    print(f"otel python (OTLP/protobuf, {compression.value}): 2 spans exported, read back as a tree (trace {trace_id})")
