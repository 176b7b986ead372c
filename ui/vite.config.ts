import { defineConfig } from "vitest/config";

// Same origin as the API: `npm run dev` proxies the API paths to a running
// PromptLedger (PROMPT_LEDGER_URL, default http://127.0.0.1:3000).
const api = process.env.PROMPT_LEDGER_URL ?? "http://127.0.0.1:3000";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  resolve: { alias: { react: "preact/compat", "react-dom": "preact/compat" } },
  build: {
    target: "es2022",
    // No inline scripts or data URLs: the page is served under a strict CSP.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    proxy: Object.fromEntries(["/v1", "/health", "/openapi.json"].map((p) => [p, { target: api, changeOrigin: true }])),
  },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
