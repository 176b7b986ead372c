/**
 * The API's shapes in the form openapi-typescript emits (`paths`,
 * `components`), kept by hand until the repository's openapi.json
 * describes the paths; `npm run generate` then replaces this file.
 * Timestamps are RFC 3339 UTC strings.
 */

type Json<T> = { headers: { [name: string]: unknown }; content: { "application/json": T } };
type Body<T> = { content: { "application/json": T } };
type Failure = { default: Json<components["schemas"]["Error"]> };
type Params<Q = never, P = never> = { query?: Q; header?: never; cookie?: never } & ([P] extends [never]
  ? { path?: never }
  : { path: P });
type Get<R, Q = never, P = never> = {
  parameters: Params<Q, P>;
  requestBody?: never;
  responses: { 200: Json<R> } & Failure;
};
type Send<B, R, P = never, Ok extends 200 | 201 = 200> = {
  parameters: Params<never, P>;
  requestBody: Body<B>;
  responses: { [K in Ok]: Json<R> } & Failure;
};
type Act<R, P> = {
  parameters: Params<never, P>;
  requestBody?: never;
  responses: { 200: Json<R> } & Failure;
};
type S = components["schemas"];
type Name = { name: string };
type Timeish = string;

export interface paths {
  "/health": { get: Get<S["Health"]> };
  "/v1/prompts": {
    get: Get<
      S["Page"] & { data: S["PromptListItem"][] },
      { prefix?: string; mode?: "full" | "tracking"; owner_team?: string; include_archived?: boolean; limit?: number; cursor?: string }
    >;
    post: Send<S["CreatePrompt"], S["Prompt"], never, 201>;
  };
  "/v1/prompts/{name}": {
    get: Get<S["Prompt"], never, Name>;
    patch: Send<S["PatchPrompt"], S["Prompt"], Name>;
  };
  "/v1/prompts/{name}:archive": { post: Act<S["Prompt"], Name> };
  "/v1/prompts/{name}:unarchive": { post: Act<S["Prompt"], Name> };
  "/v1/prompts/{name}:render": { post: Send<S["RenderRequest"], S["Rendered"], Name> };
  "/v1/prompts/{name}/versions": {
    get: Get<S["Page"] & { data: S["Version"][] }, { limit?: number; cursor?: string }, Name>;
    post: Send<S["CreateVersion"], S["Version"], Name, 201 | 200>;
  };
  "/v1/prompts/{name}/versions/{version}": { get: Get<S["Version"], never, Name & { version: number }> };
  "/v1/prompts/{name}/versions/{version}:activate": { post: Act<S["Version"], Name & { version: number }> };
  "/v1/prompts/{name}/labels": { get: Get<{ data: S["Label"][] }, never, Name> };
  "/v1/prompts/{name}/labels/{label}": {
    get: Get<S["Label"], never, Name & { label: string }>;
    put: Send<{ version: number }, S["Label"], Name & { label: string }>;
    delete: Act<S["Label"], Name & { label: string }>;
  };
  "/v1/prompts/{name}/diff": { get: Get<S["Diff"], { from: number; to: number }, Name> };
  "/v1/executions:run": {
    post: {
      parameters: { query?: never; header?: { "Idempotency-Key"?: string; traceparent?: string }; path?: never; cookie?: never };
      requestBody: Body<S["RunRequest"]>;
      responses: { 200: Json<S["Execution"]>; 202: Json<S["Execution"]> } & Failure;
    };
  };
  "/v1/executions": {
    get: Get<
      S["Page"] & { data: S["Execution"][] },
      {
        prompt?: string;
        version?: number;
        status?: string;
        provider?: string;
        model?: string;
        correlation_id?: string;
        since?: Timeish;
        until?: Timeish;
        limit?: number;
        cursor?: string;
      }
    >;
  };
  "/v1/executions/{id}": { get: Get<S["ExecutionDetail"], never, { id: string }> };
  "/v1/executions/{id}:cancel": { post: Act<S["Execution"], { id: string }> };
  "/v1/traces": {
    get: Get<
      S["Page"] & { data: S["TraceListItem"][] },
      { service?: string; status?: "ok" | "error"; has_error?: boolean; since?: Timeish; until?: Timeish; limit?: number; cursor?: string }
    >;
  };
  "/v1/traces/{trace_id}": { get: Get<S["Trace"], never, { trace_id: string }> };
  "/v1/analytics/summary": { get: Get<S["Summary"], { since?: Timeish; until?: Timeish }> };
  "/v1/analytics/prompts/{name}": {
    get: Get<S["PromptAnalytics"], { since?: Timeish; until?: Timeish; bucket?: "hour" | "day" }, Name>;
  };
  "/v1/api-keys": {
    get: Get<{ data: S["ApiKey"][] }, { include_revoked?: boolean }>;
    post: Send<{ name: string; scope: S["Scope"] }, S["ApiKeyCreated"], never, 201>;
  };
  "/v1/api-keys/{id}": { delete: Act<S["ApiKey"], { id: string }> };
  "/v1/models": { get: Get<{ data: S["Model"][] }> };
  "/v1/models/{provider}/{model_name}": {
    get: Get<S["Model"], never, { provider: string; model_name: string }>;
    put: Send<{ input_usd_per_mtok: number; output_usd_per_mtok: number }, S["Model"], { provider: string; model_name: string }>;
  };
}

export interface components {
  schemas: {
    Error: { error: { code: string; message: string; details?: { [key: string]: unknown } | null } };
    Health: { status: string; [key: string]: unknown };
    Page: { next_cursor: string | null };
    Scope: "read" | "write" | "admin";
    ChatMessage: { role: string; content: string };
    PromptListItem: {
      id: string;
      name: string;
      description: string;
      owner_team: string | null;
      mode: "full" | "tracking";
      archived: boolean;
      archived_at: string | null;
      active_version: number | null;
      latest_version: number | null;
      created_at: string;
      updated_at: string;
    };
    Prompt: Omit<components["schemas"]["PromptListItem"], "active_version"> & {
      active_version: components["schemas"]["Version"] | null;
      labels: components["schemas"]["Label"][];
    };
    CreatePrompt: {
      name: string;
      description?: string;
      owner_team?: string | null;
      mode?: "full" | "tracking";
      template?: string;
      messages?: components["schemas"]["ChatMessage"][];
      config?: { [key: string]: unknown };
      created_by?: string;
    };
    PatchPrompt: { description?: string; owner_team?: string | null };
    Version: {
      id: string;
      prompt_id: string;
      prompt_name: string;
      version: number;
      kind: "text" | "chat";
      template?: string | null;
      messages?: components["schemas"]["ChatMessage"][] | null;
      config: { [key: string]: unknown };
      variables: string[];
      status: "draft" | "active" | "inactive" | string;
      checksum_hash: string;
      created_by: string | null;
      message: string | null;
      created_at: string;
      activated_at: string | null;
      labels?: string[];
    };
    CreateVersion: {
      template?: string;
      messages?: components["schemas"]["ChatMessage"][];
      config?: { [key: string]: unknown };
      status?: "draft" | "active";
      created_by?: string;
      message?: string;
    };
    Label: { label: string; version: number; version_id: string; updated_by: string | null; updated_at: string };
    RenderRequest: { variables?: { [key: string]: unknown }; version?: number; label?: string };
    Rendered: {
      prompt: { id: string; name: string };
      version: { id: string; number: number; checksum_hash: string };
      config: { [key: string]: unknown };
      variables: string[];
      kind: "text" | "chat";
      rendered?: string;
      messages?: components["schemas"]["ChatMessage"][];
    };
    Diff: {
      prompt_name: string;
      from: { id: string; version: number; kind: string; checksum_hash: string };
      to: { id: string; version: number; kind: string; checksum_hash: string };
      body_changed: boolean;
      config_changed: boolean;
      config_from: { [key: string]: unknown };
      config_to: { [key: string]: unknown };
      diff: string;
    };
    ModelRef: { provider: "openai" | "anthropic" | "mock" | string; model_name: string };
    RunRequest: {
      prompt_name?: string;
      version?: number;
      environment?: string;
      template?: string;
      messages?: components["schemas"]["ChatMessage"][];
      variables?: { [key: string]: unknown };
      model: components["schemas"]["ModelRef"];
      params?: { [key: string]: unknown };
      mode?: "sync" | "async";
      correlation_id?: string;
      idempotency_key?: string;
    };
    ExecutionStatus: "queued" | "running" | "succeeded" | "failed" | "canceled";
    Execution: {
      execution_id: string;
      status: components["schemas"]["ExecutionStatus"];
      mode: "sync" | "async";
      model: components["schemas"]["ModelRef"];
      prompt: { id: string; name: string; version: number; version_id: string } | null;
      rendered_prompt: string | null;
      response_text: string | null;
      usage: { prompt_tokens: number | null; response_tokens: number | null; total_tokens: number | null };
      cost: { usd: number | null; nanos: number | null };
      latency_ms: { total: number | null; provider: number | null };
      error: { type?: string; code?: string; message: string; [key: string]: unknown } | null;
      attempts: number;
      max_attempts: number;
      correlation_id: string | null;
      idempotency_key: string | null;
      trace_id: string | null;
      span_id: string | null;
      created_at: string;
      started_at: string | null;
      completed_at: string | null;
      next_attempt_at: string | null;
    };
    ExecutionDetail: components["schemas"]["Execution"] & {
      inputs: {
        template?: string | null;
        variables?: { [key: string]: unknown };
        params?: { [key: string]: unknown };
        model_config?: { [key: string]: unknown };
        [key: string]: unknown;
      } | null;
      span: { [key: string]: unknown } | null;
    };
    TraceListItem: {
      trace_id: string;
      name: string | null;
      service_name: string | null;
      status: string;
      has_error: boolean;
      span_count: number;
      started_at: string;
      ended_at: string | null;
      duration_ms: number | null;
    };
    Span: {
      span_id: string;
      parent_span_id: string | null;
      name: string;
      span_type: string | null;
      service_name: string | null;
      status: string;
      started_at: string;
      ended_at: string | null;
      duration_ms: number | null;
      model?: string | null;
      prompt_tokens?: number | null;
      completion_tokens?: number | null;
      attributes: { [key: string]: unknown };
      events: unknown[];
      input: unknown;
      output: unknown;
      orphan: boolean;
      execution_id: string | null;
      execution: {
        id: string;
        status: string;
        prompt_id: string | null;
        prompt_name: string | null;
        prompt_version_id: string | null;
        version: number | null;
        provider: string;
        model: string;
      } | null;
      children: components["schemas"]["Span"][];
    };
    Trace: components["schemas"]["TraceListItem"] & {
      spans: components["schemas"]["Span"][];
      orphan_count: number;
      truncated: boolean;
    };
    Latency: { count: number; mean: number | null; p50: number | null; p95: number | null; p99: number | null };
    Stats: {
      executions: number;
      succeeded: number;
      failed: number;
      canceled: number;
      success_rate: number | null;
      prompt_tokens: number;
      response_tokens: number;
      total_tokens: number;
      cost_usd: number;
      cost_nanos: number;
      latency_ms: components["schemas"]["Latency"];
      errors_by_type: { [type: string]: number };
    };
    Summary: components["schemas"]["Stats"] & {
      since: string | null;
      until: string | null;
      rollups_through: string | null;
      by_provider: (components["schemas"]["Stats"] & { provider: string })[];
      by_model: (components["schemas"]["Stats"] & { provider: string; model_name: string })[];
      top_prompts: (components["schemas"]["Stats"] & { prompt_id: string; prompt_name: string })[];
    };
    VersionStats: components["schemas"]["Stats"] & { version: number; prompt_version_id: string };
    PromptAnalytics: components["schemas"]["Stats"] & {
      prompt: { id: string; name: string };
      bucket: "hour" | "day";
      since: string | null;
      until: string | null;
      rollups_through: string | null;
      series: (components["schemas"]["Stats"] & { bucket_start: string; versions: components["schemas"]["VersionStats"][] })[];
      versions: (components["schemas"]["VersionStats"] & {
        by_model: (components["schemas"]["Stats"] & { provider: string; model_name: string })[];
      })[];
    };
    ApiKey: {
      id: string;
      name: string;
      scope: components["schemas"]["Scope"];
      key_prefix: string;
      created_at: string;
      revoked_at: string | null;
    };
    ApiKeyCreated: components["schemas"]["ApiKey"] & { key: string };
    Model: {
      id: string;
      provider: string;
      model_name: string;
      input_usd_per_mtok: number;
      output_usd_per_mtok: number;
      updated_at: string;
    };
  };
  responses: never;
  parameters: never;
  requestBodies: never;
  headers: never;
  pathItems: never;
}

export type $defs = Record<string, never>;
export type operations = Record<string, never>;
