// The server under test: PROMPT_LEDGER_URL when given, else a live host
// started here (built first when missing) and stopped at the end.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";

export async function startServer(root) {
  if (process.env.PROMPT_LEDGER_URL) {
    return {
      url: process.env.PROMPT_LEDGER_URL.replace(/\/$/, ""),
      apiKey: process.env.PROMPT_LEDGER_API_KEY,
      host: process.env.PROMPT_LEDGER_TEST_HOST ?? "native",
      stop: async () => {},
    };
  }
  const bin = join(root, "target/debug/live-host");
  if (!existsSync(bin)) {
    console.log("e2e: building the live host (cargo build -p scenarios --bin live-host)");
    const built = spawnSync("cargo", ["build", "-p", "scenarios", "--bin", "live-host"], { cwd: root, stdio: "inherit" });
    if (built.status !== 0) throw new Error("cargo build of the live host failed");
  }
  const child = spawn(bin, ["--backend", process.env.PROMPT_LEDGER_BACKEND ?? "sqlite"], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the live host did not print its ready line within 120 s")), 120_000);
    createInterface({ input: child.stdout }).once("line", (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    child.once("exit", (code) => reject(new Error(`the live host exited (${code}) before it was ready`)));
  });
  const ready = JSON.parse(line);
  return {
    url: ready.url,
    apiKey: ready.api_key,
    host: ready.host,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
