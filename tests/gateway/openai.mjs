// The official `openai` npm client against PromptLedger's gateway, built with
// nothing but baseURL and apiKey (the PromptLedger key): a completion, a
// stream with usage, a tools round trip and an error raised as the SDK's own
// exception, each call looked up in the ledger and counted at the fake.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import OpenAI from "openai";

const url = process.env.PROMPT_LEDGER_URL.replace(/\/$/, "");
const key = process.env.PROMPT_LEDGER_API_KEY;
const fake = process.env.FAKE_PROVIDER_URL.replace(/\/$/, "");
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });

const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 12)}`;
const calls = async (model) => (await (await fetch(`${fake}/calls?model=${encodeURIComponent(model)}`)).json()).calls;
const execution = async (id) => {
  const response = await fetch(`${url}/v1/executions/${id}`, { headers: { "X-API-Key": key } });
  assert.equal(response.status, 200);
  return response.json();
};

const tests = {
  async completionIsRecorded() {
    const model = unique("node");
    const { data, response } = await client.chat.completions
      .create({ model: `openai/${model}`, messages: [{ role: "user", content: "hello from node" }] })
      .withResponse();
    assert.equal(data.choices[0].message.content, "echo: hello from node");
    assert.equal(data.choices[0].finish_reason, "stop");
    const recorded = await execution(response.headers.get("promptledger-execution-id"));
    assert.equal(recorded.status, "succeeded");
    assert.equal(recorded.usage.total_tokens, data.usage.total_tokens);
    assert.equal(await calls(model), 1);
  },

  async streamWithUsage() {
    const model = unique("node-stream");
    const stream = await client.chat.completions.create({
      model: `openai/${model}`,
      messages: [{ role: "user", content: "stream from node" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, "echo: stream from node");
    assert.ok(usage && usage.total_tokens > 0, "the usage chunk arrives last");
    assert.equal(await calls(model), 1);
  },

  async toolsRoundTrip() {
    const model = unique("tools");
    const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }];
    const messages = [{ role: "user", content: "define ledger" }];
    const first = await client.chat.completions.create({ model: `openai/${model}`, messages, tools });
    const call = first.choices[0].message.tool_calls[0];
    assert.equal(first.choices[0].finish_reason, "tool_calls");
    assert.deepEqual(JSON.parse(call.function.arguments), { query: "define ledger" });
    messages.push(first.choices[0].message, { role: "tool", tool_call_id: call.id, content: "a book of accounts" });
    const second = await client.chat.completions.create({ model: `openai/${model}`, messages, tools });
    assert.equal(second.choices[0].message.content, "tool said: a book of accounts");
    assert.equal(await calls(model), 2);
  },

  async errorsAreTheSdksExceptions() {
    await assert.rejects(
      client.chat.completions.create({ model: "openai/fail-400", messages: [{ role: "user", content: "x" }] }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400,
    );
    await assert.rejects(
      client.chat.completions.create({ model: "openai/rate-limit", messages: [{ role: "user", content: "x" }] }),
      (e) => e instanceof OpenAI.RateLimitError && e.headers.get("retry-after") === "1",
    );
    const stranger = new OpenAI({ baseURL: `${url}/v1`, apiKey: "not-a-key", maxRetries: 0 });
    await assert.rejects(
      stranger.chat.completions.create({ model: "mock/m", messages: [{ role: "user", content: "x" }] }),
      (e) => e instanceof OpenAI.AuthenticationError,
    );
  },
};

let passed = 0;
for (const [name, test] of Object.entries(tests)) {
  await test();
  console.log(`ok   ${name}`);
  passed += 1;
}
console.log(`gateway openai npm client: ${passed} passed`);
