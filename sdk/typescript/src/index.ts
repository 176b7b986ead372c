/**
 * Typed client for the PromptLedger API: openapi-fetch over the paths in
 * `schema.ts`, the key sent on every call, and the API's error body
 * turned into a {@link PromptLedgerError}.
 *
 * ```ts
 * const ledger = createPromptLedger({ baseUrl: "https://ledger.example", apiKey });
 * const run = await ledger.run({ prompt_name: "greet", environment: "production",
 *   variables: { name: "Ada" }, model: { provider: "openai", model_name: "gpt-4o-mini" } });
 * const stats = await ledger.promptAnalytics("greet", { since: "2026-12-01T00:00:00Z" });
 * ```
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths } from "./schema.js";
type Generated = components["schemas"];
/** The spec's schemas, plus short names for shapes it nests inside others. */
export type Schemas = Generated & {
  /** The counters every analytics level shares. */
  Stats: Omit<Generated["AnalyticsSummary"], "by_model" | "by_provider" | "top_prompts" | "rollups_through" | "since" | "until">;
  Summary: Generated["AnalyticsSummary"];
  VersionStats: Generated["PromptAnalytics"]["series"][number]["versions"][number];
  PromptListItem: Generated["PromptSummary"];
  Span: Generated["SpanNode"];
  Trace: Generated["TraceTree"];
  TraceListItem: Generated["TraceSummary"];
  Diff: Generated["VersionDiff"];
  Rendered: Generated["RenderResult"];
  Scope: Generated["ApiKey"]["scope"];
};
export type PromptLedgerClient = Client<paths>;

export interface Options {
  /** Where the API is served; "" for the page's own origin. */
  baseUrl?: string;
  /** An API key (`X-API-Key`); a function is asked before every call. */
  apiKey?: string | (() => string | null | undefined);
  /** A fetch implementation (tests, server runtimes). */
  fetch?: typeof globalThis.fetch;
  /** Extra headers on every call. */
  headers?: Record<string, string>;
}

/** The API's error (`{"error": {code, message, details}}`) with its HTTP status. */
export class PromptLedgerError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown> | null;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> | null = null) {
    super(message);
    this.name = "PromptLedgerError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Builds the error from whatever a failed call returned. */
  static from(status: number, body: unknown): PromptLedgerError {
    const error = (body as Schemas["Error"] | undefined)?.error;
    if (error && typeof error.message === "string") {
      return new PromptLedgerError(status, error.code ?? "error", error.message, error.details ?? null);
    }
    return new PromptLedgerError(status, "http_error", `HTTP ${status}`);
  }
}

/** The raw openapi-fetch client: every path, typed, with the key attached. */
export function createApiClient(options: Options = {}): PromptLedgerClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl ?? "",
    fetch: options.fetch,
    headers: options.headers,
  });
  const auth: Middleware = {
    onRequest({ request }) {
      const key = typeof options.apiKey === "function" ? options.apiKey() : options.apiKey;
      if (key) request.headers.set("X-API-Key", key);
      return request;
    },
  };
  client.use(auth);
  return client;
}

/** Unwraps an openapi-fetch result: the data, or a thrown {@link PromptLedgerError}. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    throw PromptLedgerError.from(result.response.status, result.error);
  }
  return result.data as T;
}

export type RunRequest = Schemas["RunRequest"];
export type Execution = Schemas["Execution"];
export type PromptAnalytics = Schemas["PromptAnalytics"];
export type AnalyticsQuery = NonNullable<paths["/v1/analytics/prompts/{name}"]["get"]["parameters"]["query"]>;

export interface RunOptions {
  /** Sent as `Idempotency-Key`: a retry returns the first execution. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** The client with the integration guide's two calls as methods. */
export interface PromptLedger {
  api: PromptLedgerClient;
  /** `POST /v1/executions:run`: the result (sync) or the queued execution (async). */
  run(body: RunRequest, options?: RunOptions): Promise<Execution>;
  /** `GET /v1/analytics/prompts/{name}`: totals, series and per-version (A/B) statistics. */
  promptAnalytics(name: string, query?: AnalyticsQuery, signal?: AbortSignal): Promise<PromptAnalytics>;
}

export function createPromptLedger(options: Options = {}): PromptLedger {
  const api = createApiClient(options);
  return {
    api,
    async run(body, runOptions = {}) {
      const headers = runOptions.idempotencyKey ? { "Idempotency-Key": runOptions.idempotencyKey } : undefined;
      return unwrap(await api.POST("/v1/executions:run", { body, params: { header: headers }, signal: runOptions.signal }));
    },
    async promptAnalytics(name, query, signal) {
      return unwrap(await api.GET("/v1/analytics/prompts/{name}", { params: { path: { name }, query }, signal }));
    },
  };
}
