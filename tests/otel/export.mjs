// Exports a small GenAI trace with the JavaScript OpenTelemetry SDK's
// OTLP/HTTP exporter (JSON encoding) and reads it back as a tree.
import assert from "node:assert/strict";
import { context, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";

const url = process.env.PROMPT_LEDGER_URL;
const key = process.env.PROMPT_LEDGER_API_KEY;
assert.ok(url && key, "PROMPT_LEDGER_URL and PROMPT_LEDGER_API_KEY are required");

const service = `otel-js-${Math.random().toString(16).slice(2, 10)}`;
const exporter = new OTLPTraceExporter({ url: `${url}/v1/traces`, headers: { "X-API-Key": key } });
const provider = new TracerProvider({
  resource: resourceFromAttributes({ "service.name": service }),
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});
const tracer = provider.getTracer("prompt-ledger-otel-test");

const agent = tracer.startSpan("invoke_agent support", { attributes: { "gen_ai.operation.name": "invoke_agent" } });
const chat = tracer.startSpan(
  "chat gpt-4o-mini",
  {
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.system": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.usage.input_tokens": 42,
      "gen_ai.usage.output_tokens": 7,
    },
  },
  trace.setSpan(context.active(), agent),
);
chat.end();
agent.end();
await provider.forceFlush();
await provider.shutdown();

const traceId = agent.spanContext().traceId;
const response = await fetch(`${url}/v1/traces/${traceId}`, { headers: { "X-API-Key": key } });
assert.equal(response.status, 200, await response.clone().text());
const tree = await response.json();
assert.equal(tree.service_name, service);
assert.equal(tree.span_count, 2);
assert.equal(tree.spans.length, 1, "one root");
const [root] = tree.spans;
assert.equal(root.name, "invoke_agent support");
assert.equal(root.children.length, 1);
const [llm] = root.children;
assert.equal(llm.model, "gpt-4o-mini");
assert.equal(llm.prompt_tokens, 42);
assert.equal(llm.completion_tokens, 7);
console.log(`otel js (OTLP/JSON): 2 spans exported, read back as a tree (trace ${traceId})`);
