// The dashboard's end-to-end journey in Debian's Chromium (playwright-core,
// no downloaded browser), against the real app. Fails on any console error,
// page error, failed request or HTTP error the journey did not ask for, and
// on any serious or critical axe-core violation. Screenshots every page.
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./server.mjs";
import { clientChecks } from "./client.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const shots = join(root, "target/ui-screenshots");
const browserPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TIMEOUT = 15_000;

const problems = [];
const expected = []; // [method, url fragment, status]: failures the journey provokes on purpose
const matched = []; // statuses of expected failures that happened
const resourceErrors = []; // Chromium's console line for each HTTP error response
const pages = [];
let axeSerious = 0;

function expect(cond, message) {
  if (!cond) throw new Error(`expectation failed: ${message}`);
}

async function main() {
  rmSync(shots, { recursive: true, force: true }); // this run's screenshots only
  mkdirSync(shots, { recursive: true });
  const server = await startServer(root);
  const profile = mkdtempSync(join(tmpdir(), "promptledger-chromium-"));
  let context;
  try {
    await clientChecks(server);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: browserPath,
      headless: true,
      args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
      viewport: { width: 1366, height: 900 },
      baseURL: server.url,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    watch(page);
    await journey(page, server);
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
  }
  if (problems.length) {
    console.error(`dashboard: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`dashboard: journey passed, ${pages.length} pages, ${axeSerious} axe serious/critical (host: ${server.host})`);
}

function watch(page) {
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const resource = /^Failed to load resource: the server responded with a status of (\d+)/.exec(msg.text());
    if (resource) resourceErrors.push({ status: Number(resource[1]), where: page.url() });
    else problems.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error on ${page.url()}: ${error.message}`));
  page.on("requestfailed", (request) => problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`));
  page.on("response", (response) => {
    const status = response.status();
    if (status < 400) return;
    const method = response.request().method();
    const i = expected.findIndex(([m, fragment, s]) => m === method && response.url().includes(fragment) && s === status);
    if (i >= 0) matched.push(expected.splice(i, 1)[0][2]);
    else problems.push(`HTTP ${status}: ${method} ${response.url()}`);
  });
}

async function visit(page, name) {
  await page.waitForLoadState("networkidle");
  await page.locator(".state.loading").first().waitFor({ state: "detached", timeout: TIMEOUT }).catch(() => {});
  await page.screenshot({ path: join(shots, `${String(pages.length + 1).padStart(2, "0")}-${name}.png`), fullPage: true });
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) {
    axeSerious += 1;
    problems.push(`axe ${v.impact} on ${name}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  }
  pages.push(name);
  const minor = result.violations.filter((v) => !bad.includes(v)).map((v) => `${v.id}/${v.impact}`);
  console.log(`  page ${pages.length}: ${name}: ${bad.length} axe serious/critical${minor.length ? ` (minor: ${minor.join(", ")})` : ""}`);
}

async function journey(page, server) {
  const name = `journey.greet-${Date.now().toString(36)}`;

  // Sign in.
  await page.goto("/");
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await visit(page, "sign-in");
  await page.getByLabel("API key").fill(server.apiKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Prompts" }).waitFor();
  expect((await page.evaluate(() => sessionStorage.getItem("promptledger.key"))) === server.apiKey, "the key is kept in sessionStorage");
  expect(!page.url().includes(server.apiKey), "the key never appears in the URL");

  // Create a prompt.
  await page.getByRole("button", { name: "New prompt" }).click();
  const form = page.getByRole("form", { name: "New prompt" });
  await form.getByLabel("Name").fill(name);
  await form.getByLabel("Owner team").fill("support");
  await form.getByLabel("Description").fill("Greets a customer");
  await form.getByLabel(/First version/).fill("Hello {{ name }}, tell me about {{ topic }}.");
  await form.getByRole("button", { name: "Create prompt" }).click();
  await page.getByRole("heading", { name }).waitFor();
  await page.getByRole("region", { name: "Versions" }).getByText("v1", { exact: true }).waitFor();

  // A syntax error first: the API's line and column are shown.
  const editor = page.getByLabel("Template (Jinja)");
  await editor.fill("Hi {{ name ");
  expected.push(["POST", "/versions", 422]);
  await page.getByRole("button", { name: "Save version" }).click();
  const syntax = page.locator(".syntax-error");
  await syntax.waitFor();
  expect(/line 1, column \d+/.test(await syntax.innerText()), "the syntax error names line and column");

  // Add a version; the variables the template reads are listed.
  await editor.fill("Hi {{ name }}!\nLet us talk about {{ topic }} in {{ language }}.");
  expect((await page.locator("#template-help").innerText()).includes("language"), "the editor lists the variables");
  await page.getByLabel("Message").fill("Friendlier, asks for a language");
  await page.getByRole("button", { name: "Save version" }).click();
  await page.getByText("Saved v2.").waitFor();

  // See the diff.
  const diff = page.getByTestId("diff");
  await diff.getByText("Let us talk about {{ topic }} in {{ language }}.").waitFor();
  expect((await diff.locator(".d-add").count()) > 0 && (await diff.locator(".d-del").count()) > 0, "the diff highlights both sides");
  await page.getByLabel("Unified").check();
  await diff.locator("tr.d-add").first().waitFor();
  await visit(page, "prompt");

  // Move production to v2, with a confirmation.
  const labels = page.getByRole("region", { name: "Labels" });
  await labels.getByLabel("Label", { exact: true }).fill("production");
  await labels.getByLabel("To version").selectOption("2");
  await labels.getByRole("button", { name: "Move label" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("is new").waitFor();
  await dialog.getByRole("button", { name: "Move production to v2" }).click();
  await labels.getByRole("cell", { name: "v2" }).waitFor();

  // Run in the playground with the mock provider.
  await page.getByRole("link", { name: "Try v2" }).click();
  await page.getByRole("heading", { name: "Playground" }).waitFor();
  await page.locator('textarea[name="var-name"]').fill("Ada");
  await page.locator('textarea[name="var-topic"]').fill("ledgers");
  await page.locator('textarea[name="var-language"]').fill("French");
  await page.getByRole("button", { name: "Render" }).click();
  await page.getByText("Let us talk about ledgers in French.").first().waitFor();
  await page.getByRole("button", { name: "Run v2" }).click();
  const result = page.getByTestId("run-result").first();
  await result.getByText(/Mock response to: Hi Ada!/).waitFor();
  expect((await result.innerText()).includes("succeeded"), "the run succeeded");
  // Two versions side by side on the same variables.
  await page.getByLabel("Compare two versions side by side").check();
  await page.getByRole("button", { name: "Run v1" }).click();
  await page.getByTestId("run-result").nth(1).getByText(/Mock response to: Hello Ada, tell me about ledgers/).waitFor();
  await visit(page, "playground");

  // Open the execution, then its trace.
  await result.getByRole("link", { name: "Open execution" }).click();
  await page.getByRole("heading", { name: /Execution/ }).waitFor();
  await page.getByText("Mock response to: Hi Ada!", { exact: false }).first().waitFor();
  await visit(page, "execution");
  await page.getByRole("link", { name: /Open trace/ }).click();
  await page.getByRole("heading", { name: /Trace/ }).waitFor();
  await page.locator(".wf-bar").first().waitFor();
  await page.getByRole("link", { name: `${name} v2` }).waitFor();
  await visit(page, "trace");

  // A client's trace: nested spans, an error and an orphan on the waterfall.
  const traceId = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const t0 = Date.now() - 5000;
  const at = (ms) => new Date(t0 + ms).toISOString();
  const ingest = await fetch(`${server.url}/v1/traces`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": server.apiKey },
    body: JSON.stringify({
      trace_id: traceId,
      service_name: "journey-agent",
      spans: [
        { span_id: "a000000000000001", name: "agent.run", started_at: at(0), ended_at: at(120), status: "ok", span_type: "agent" },
        { span_id: "a000000000000002", parent_span_id: "a000000000000001", name: "retrieve", started_at: at(5), ended_at: at(40), status: "ok", input: { query: "ledgers" } },
        { span_id: "a000000000000003", parent_span_id: "a000000000000001", name: "llm.call", started_at: at(45), ended_at: at(110), status: "error", attributes: { "error.type": "timeout" } },
        { span_id: "a000000000000004", parent_span_id: "ffffffffffffffff", name: "late.callback", started_at: at(60), ended_at: at(70), status: "ok" },
      ],
    }),
  });
  expect(ingest.ok, `the trace was ingested (HTTP ${ingest.status}: ${await ingest.clone().text()})`);
  await page.goto(`/traces/${traceId}`);
  await page.locator(".wf-row").nth(3).waitFor();
  expect((await page.locator(".wf-row.is-error").count()) === 1, "the failed span is highlighted");
  await page.locator(".wf-row").filter({ hasText: "orphan" }).waitFor();
  await page.locator(".wf-row").filter({ hasText: "llm.call" }).click();
  await page.getByRole("heading", { name: /llm\.call/ }).waitFor();
  await visit(page, "trace-waterfall");

  // The lists.
  await page.getByRole("link", { name: "Executions", exact: true }).click();
  await page.getByRole("table", { name: "Executions" }).getByRole("link", { name: `${name} v2` }).first().waitFor();
  await visit(page, "executions");
  await page.getByRole("link", { name: "Traces", exact: true }).click();
  await page.getByRole("table", { name: "Traces" }).waitFor();
  await visit(page, "traces");
  await page.getByRole("link", { name: "Prompts", exact: true }).click();
  await page.getByRole("table", { name: "Prompts" }).getByRole("link", { name }).waitFor();
  await page.getByRole("searchbox", { name: "Name prefix" }).fill("journey.");
  await page.getByRole("table", { name: "Prompts" }).getByRole("link", { name }).waitFor();
  await visit(page, "prompts");

  // Analytics: the charts are drawn with data.
  await page.goto(`/analytics?range=24h&prompt=${encodeURIComponent(name)}`);
  await page.getByRole("heading", { name: "Analytics" }).waitFor();
  const drawn = page.locator(".chart-box[data-drawn='true']").first();
  await drawn.waitFor();
  const points = Number(await drawn.getAttribute("data-points"));
  expect(points > 0, "the executions chart has data points");
  expect((await drawn.locator("canvas").count()) > 0, "the chart drew on a canvas");
  await page.getByRole("table", { name: `Versions of ${name}` }).getByRole("rowheader", { name: "v2" }).waitFor();
  await visit(page, "analytics");

  // Admin: create a key (secret shown once), then revoke it.
  await page.getByRole("link", { name: "Admin", exact: true }).click();
  const keys = page.getByRole("region", { name: "API keys" });
  const keyName = `journey-${Date.now().toString(36)}`;
  await keys.getByLabel("Name").fill(keyName);
  await keys.getByLabel("Scope").selectOption("read");
  await keys.getByRole("button", { name: "Create key" }).click();
  const secret = page.getByTestId("new-secret");
  await secret.waitFor();
  expect(/^pl_[0-9a-f]{20,}$/.test((await secret.locator("code").innerText()).trim()), "the new secret is shown");
  await secret.getByRole("button", { name: "Copy" }).click();
  await secret.getByText(/Copied|refused the clipboard/).waitFor();
  await visit(page, "admin");
  await keys.getByRole("button", { name: `Revoke ${keyName}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
  await page.getByText(`Revoked ${keyName}.`).waitFor();
  await keys.getByLabel("Show revoked keys").check();
  await keys.getByRole("row", { name: new RegExp(keyName) }).getByText(/revoked/).waitFor();

  // A read key: what its scope does not allow is shown disabled.
  await keys.getByLabel("Name").fill(`${keyName}-reader`);
  await keys.getByLabel("Scope").selectOption("read");
  await keys.getByRole("button", { name: "Create key" }).click();
  await page.getByTestId("new-secret").getByText(`${keyName}-reader`).waitFor();
  const readKey = (await page.getByTestId("new-secret").locator("code").innerText()).trim();
  await page.getByRole("button", { name: "Sign out" }).click();
  expected.push(["GET", "/v1/api-keys", 403], ["POST", "/v1/prompts", 403]); // the sign-in scope probe
  await page.getByLabel("API key").fill(readKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  const create = page.getByRole("button", { name: "New prompt" });
  await create.waitFor();
  expect(await create.isDisabled(), "a read key cannot create prompts");
  expect((await create.getAttribute("title"))?.includes("write scope"), "the disabled button says why");
  await page.getByRole("link", { name: "Admin", exact: true }).click();
  await page.getByText(/scope is read/).waitFor();
  expect(await page.getByRole("button", { name: "Create key" }).isDisabled(), "a read key cannot create keys");
  await visit(page, "admin-read-key");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API key").fill(server.apiKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Prompts" }).waitFor();

  // The same pages in dark mode and on a narrow screen (screenshots only, plus axe on one).
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByLabel("Theme").selectOption("dark");
  await page.goto(`/prompts/${encodeURIComponent(name)}`);
  await page.getByRole("heading", { name }).waitFor();
  await visit(page, "prompt-dark-narrow");
  await page.goto(`/analytics?range=24h`);
  await page.locator(".chart-box[data-drawn='true']").first().waitFor();
  await page.screenshot({ path: join(shots, "analytics-dark-narrow.png"), fullPage: true });
  await page.getByLabel("Theme").selectOption("light");
  await page.setViewportSize({ width: 1366, height: 900 });

  // Time to the first rendered prompt list, from a fresh load of the page.
  const started = Date.now();
  await page.goto("/prompts");
  await page.getByRole("table", { name: "Prompts" }).getByRole("link").first().waitFor();
  const firstList = Date.now() - started;
  const nav = await page.evaluate(() => {
    const [entry] = performance.getEntriesByType("navigation");
    return entry ? Math.round(entry.domContentLoadedEventEnd) : null;
  });
  console.log(`  first rendered prompt list: ${firstList} ms after navigation start (DOMContentLoaded ${nav} ms), host ${server.host}`);

  // Sign out clears the key.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  expect((await page.evaluate(() => sessionStorage.length)) === 0, "signing out empties sessionStorage");
  // Chromium logs every HTTP error response to the console; only those the
  // journey provoked on purpose are let through.
  for (const { status, where } of resourceErrors) {
    const i = matched.indexOf(status);
    if (i >= 0) matched.splice(i, 1);
    else problems.push(`console error on ${where}: a resource answered ${status}`);
  }
  if (expected.length) problems.push(`expected failures that never happened: ${JSON.stringify(expected)}`);
}

main().catch((error) => {
  console.error(`dashboard: journey failed: ${error.stack ?? error}`);
  if (problems.length) console.error(`  also:\n  ${problems.join("\n  ")}`);
  process.exit(1);
});
