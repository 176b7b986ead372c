// The TypeScript client against the live app, as an application's front end
// or Node service uses it: the integration guide's two calls, each one typed
// call, and the API's errors as PromptLedgerError.
import { createPromptLedger, PromptLedgerError, unwrap } from "@promptledger/client";

function check(cond, message) {
  if (!cond) throw new Error(`client check failed: ${message}`);
}

export async function clientChecks(server) {
  const ledger = createPromptLedger({ baseUrl: server.url, apiKey: server.apiKey });
  const name = `client.check-${Date.now().toString(36)}`;
  const created = await ledger.api.POST("/v1/prompts", { body: { name, template: "Summarise {{ text }}" } });
  check(created.response.status === 201, `create prompt: HTTP ${created.response.status}`);
  unwrap(await ledger.api.PUT("/v1/prompts/{name}/labels/{label}", { params: { path: { name, label: "production" } }, body: { version: 1 } }));

  const run = await ledger.run(
    { prompt_name: name, environment: "production", variables: { text: "the ledger" }, model: { provider: "mock", model_name: "mock-1" }, params: { temperature: 0 } },
    { idempotencyKey: `${name}-1` },
  );
  check(run.status === "succeeded" && run.response_text?.includes("Summarise the ledger"), `run: ${run.status} ${run.response_text}`);
  const replay = await ledger.run(
    { prompt_name: name, environment: "production", variables: { text: "the ledger" }, model: { provider: "mock", model_name: "mock-1" }, params: { temperature: 0 } },
    { idempotencyKey: `${name}-1` },
  );
  check(replay.execution_id === run.execution_id, "an idempotent retry returns the first execution");

  const stats = await ledger.promptAnalytics(name, { bucket: "hour" });
  check(stats.prompt.name === name && stats.executions >= 1, `promptAnalytics: ${stats.executions} executions`);
  check(stats.versions.some((v) => v.version === 1), "promptAnalytics has the version row");

  try {
    await ledger.run({ prompt_name: name, variables: {}, model: { provider: "mock", model_name: "mock-1" } });
    check(false, "a run missing a variable is refused");
  } catch (error) {
    check(error instanceof PromptLedgerError && error.status === 422, `missing variable: ${error}`);
  }
  try {
    await ledger.promptAnalytics("no.such-prompt");
    check(false, "analytics of an unknown prompt is a 404");
  } catch (error) {
    check(error instanceof PromptLedgerError && error.status === 404 && error.code === "not_found", `unknown prompt: ${error}`);
  }
  const anonymous = createPromptLedger({ baseUrl: server.url });
  const refused = await anonymous.api.GET("/v1/prompts");
  check(refused.response.status === 401 && refused.error?.error.code === "unauthorized", "no key is a 401");
  console.log("client: run (with idempotency), promptAnalytics and typed errors against the live app: ok");
}
