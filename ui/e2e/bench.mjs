// Dashboard figures for the issue note: seeds executions through the API
// (mock provider, inline template), then times the executions table in
// Debian's Chromium: first page rendered, and the next pages.
//   node e2e/bench.mjs [rows]   (default 10000; PROMPT_LEDGER_URL to reuse a server)
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./server.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const rows = Number(process.argv[2] ?? 10_000);

async function seed(server, count) {
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const response = await fetch(`${server.url}/v1/executions:run`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": server.apiKey },
        body: JSON.stringify({ template: "Row {{ n }}", variables: { n: i }, model: { provider: "mock", model_name: "mock-1" } }),
      });
      if (!response.ok) throw new Error(`seeding row ${i}: HTTP ${response.status} ${await response.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return Date.now() - started;
}

async function main() {
  const server = await startServer(root);
  const profile = mkdtempSync(join(tmpdir(), "promptledger-chromium-"));
  let context;
  try {
    const seeded = await seed(server, rows);
    console.log(`bench: seeded ${rows} executions in ${(seeded / 1000).toFixed(1)} s`);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-background-networking"],
      baseURL: server.url,
      viewport: { width: 1366, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto("/");
    await page.evaluate((key) => {
      sessionStorage.setItem("promptledger.key", key);
      sessionStorage.setItem("promptledger.scope", "admin");
    }, server.apiKey);
    const firstTimes = [];
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      await page.goto("/executions");
      await page.getByRole("table", { name: "Executions" }).locator("tbody tr").nth(49).waitFor();
      firstTimes.push(Date.now() - t0);
    }
    const nextTimes = [];
    for (let i = 0; i < 10; i++) {
      const before = await page.locator("tbody tr").first().innerText();
      const t0 = Date.now();
      await page.getByRole("button", { name: "Next" }).click();
      await page.waitForFunction((b) => document.querySelector("tbody tr")?.textContent !== b, before.replace(/\t/g, ""));
      nextTimes.push(Date.now() - t0);
    }
    const domRows = await page.locator("tbody tr").count();
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `bench: executions table with ${rows} rows seeded: first page (50 rows) median ${median(firstTimes)} ms over 5 loads, ` +
        `next page median ${median(nextTimes)} ms over 10, ${domRows} rows in the DOM (host: ${server.host})`,
    );
    const t0 = Date.now();
    await page.goto("/prompts");
    await page.getByRole("heading", { name: "Prompts" }).waitFor();
    await page.locator(".state.loading").waitFor({ state: "detached" }).catch(() => {});
    console.log(`bench: prompt list page rendered ${Date.now() - t0} ms after navigation (host: ${server.host})`);
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
  }
}

main().catch((error) => {
  console.error(`bench: ${error.stack ?? error}`);
  process.exit(1);
});
