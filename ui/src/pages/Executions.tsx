import { useEffect } from "preact/hooks";
import { api, unwrap, type Schemas } from "../lib/api";
import { Chip, Empty, Guarded, PageHeader, Pager, Show, useAsync, useCursorPaging, useNotice } from "../components";
import { formatCost, formatCount, formatDuration, formatRelative, formatTime, short } from "../lib/format";
import { Link, href, setQuery, useLocation } from "../lib/router";

const STATUSES = ["queued", "running", "succeeded", "failed", "canceled"] as const;
const FIELDS = ["prompt", "version", "status", "provider", "model", "correlation_id", "since", "until"] as const;
type Field = (typeof FIELDS)[number];

/** `<input type="datetime-local">` speaks local time without a zone; the API wants RFC 3339. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function ExecutionsPage() {
  const { query } = useLocation();
  const f = Object.fromEntries(FIELDS.map((k) => [k, query.get(k) ?? ""])) as Record<Field, string>;
  const paging = useCursorPaging();
  const { cursor } = paging;
  const notice = useNotice();
  const list = useAsync(
    async () =>
      unwrap(
        await api.GET("/v1/executions", {
          params: {
            query: {
              prompt: f.prompt || undefined,
              version: f.version ? Number(f.version) : undefined,
              status: (f.status || undefined) as (typeof STATUSES)[number] | undefined,
              provider: f.provider || undefined,
              model: f.model || undefined,
              correlation_id: f.correlation_id || undefined,
              since: toIso(f.since),
              until: toIso(f.until),
              cursor,
              limit: 50,
            },
          },
        }),
      ),
    [...FIELDS.map((k) => f[k]), cursor],
  );
  const pending = list.data?.data.some((e) => e.status === "queued" || e.status === "running") ?? false;
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(list.reload, 2000);
    return () => clearInterval(timer);
  }, [pending]);

  const set = (k: Field) => (e: Event) => {
    paging.setTrail([]);
    setQuery({ ...f, [k]: (e.target as HTMLInputElement).value });
  };
  const cancel = async (id: string) => {
    try {
      unwrap(await api.POST("/v1/executions/{id}:cancel", { params: { path: { id } } }));
      notice.ok("Canceled.");
      list.reload();
    } catch (e) {
      notice.fail(e);
    }
  };

  return (
    <section>
      <PageHeader title="Executions">
        {pending && (
          <span class="live" role="status">
            <span class="dot" aria-hidden="true" /> Refreshing while runs are pending
          </span>
        )}
      </PageHeader>
      <form class="filters" role="search" aria-label="Filter executions" onSubmit={(e) => e.preventDefault()}>
        <label>
          Prompt
          <input value={f.prompt} onChange={set("prompt")} />
        </label>
        <label>
          Version
          <input type="number" min={1} value={f.version} onChange={set("version")} />
        </label>
        <label>
          Status
          <select value={f.status} onChange={set("status")}>
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Provider
          <select value={f.provider} onChange={set("provider")}>
            <option value="">Any</option>
            {["openai", "anthropic", "mock"].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model
          <input value={f.model} onChange={set("model")} />
        </label>
        <label>
          Correlation id
          <input value={f.correlation_id} onChange={set("correlation_id")} />
        </label>
        <label>
          From
          <input type="datetime-local" value={f.since} onChange={set("since")} />
        </label>
        <label>
          To
          <input type="datetime-local" value={f.until} onChange={set("until")} />
        </label>
      </form>
      {notice.view}
      <Show state={list} what="Loading executions">
        {(page) =>
          page.data.length === 0 ? (
            <Empty title="No executions match.">
              <p>
                Run a prompt in the <Link href="/playground">playground</Link> or through <code>POST /v1/executions:run</code>.
              </p>
            </Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table class="table" aria-label="Executions">
                  <thead>
                    <tr>
                      <th scope="col">Execution</th>
                      <th scope="col">Status</th>
                      <th scope="col">Prompt</th>
                      <th scope="col">Model</th>
                      <th scope="col" class="num">Tokens</th>
                      <th scope="col" class="num">Cost</th>
                      <th scope="col" class="num">Latency</th>
                      <th scope="col">Created</th>
                      <th scope="col">
                        <span class="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((e) => (
                      <tr key={e.execution_id}>
                        <td>
                          <Link href={href.execution(e.execution_id)} class="mono" aria-label={`Execution ${e.execution_id}`}>
                            {short(e.execution_id, 13)}
                          </Link>
                        </td>
                        <td>
                          <Chip status={e.status} />
                        </td>
                        <td>{e.prompt ? <Link href={href.prompt(e.prompt.name)}>{`${e.prompt.name} v${e.prompt.version}`}</Link> : <span class="muted">inline</span>}</td>
                        <td>
                          {e.model.provider}/{e.model.model_name}
                        </td>
                        <td class="num">{formatCount(e.usage.total_tokens)}</td>
                        <td class="num">{formatCost(e.cost.usd)}</td>
                        <td class="num">{formatDuration(e.latency_ms.total)}</td>
                        <td title={formatTime(e.created_at)}>{formatRelative(e.created_at)}</td>
                        <td>
                          {e.status === "queued" && (
                            <Guarded needs="write" class="button secondary small" onClick={() => cancel(e.execution_id)}>
                              Cancel
                            </Guarded>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager paging={paging} next={page.next_cursor} />
            </>
          )
        }
      </Show>
    </section>
  );
}

export function ExecutionPage({ id }: { id: string }) {
  const state = useAsync(async () => unwrap(await api.GET("/v1/executions/{id}", { params: { path: { id } } })), [id]);
  const pending = state.data && (state.data.status === "queued" || state.data.status === "running");
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(state.reload, 1500);
    return () => clearInterval(timer);
  }, [pending]);
  return (
    <Show state={state} what="Loading the execution">
      {(e) => <ExecutionView e={e} onChanged={state.reload} />}
    </Show>
  );
}

function ExecutionView({ e, onChanged }: { e: Schemas["ExecutionDetail"]; onChanged: () => void }) {
  const notice = useNotice();
  const json = (v: unknown) => JSON.stringify(v ?? {}, null, 2);
  return (
    <section>
      <PageHeader
        title={
          <>
            Execution <span class="mono">{short(e.execution_id, 13)}</span> <Chip status={e.status} />
          </>
        }
      >
        {e.status === "queued" && (
          <Guarded
            needs="write"
            class="button secondary"
            onClick={async () => {
              try {
                unwrap(await api.POST("/v1/executions/{id}:cancel", { params: { path: { id: e.execution_id } } }));
                onChanged();
              } catch (err) {
                notice.fail(err);
              }
            }}
          >
            Cancel
          </Guarded>
        )}
      </PageHeader>
      {notice.view}
      <div class="cards">
        <Stat label="Latency" value={formatDuration(e.latency_ms.total)} sub={`provider ${formatDuration(e.latency_ms.provider)}`} />
        <Stat label="Tokens" value={formatCount(e.usage.total_tokens)} sub={`${formatCount(e.usage.prompt_tokens)} in / ${formatCount(e.usage.response_tokens)} out`} />
        <Stat label="Cost" value={formatCost(e.cost.usd)} />
        <Stat label="Attempts" value={`${e.attempts} of ${e.max_attempts}`} />
      </div>
      <div class="columns">
        <div class="card">
          <h2>Run</h2>
          <dl class="facts">
            <dt>Id</dt>
            <dd class="mono">{e.execution_id}</dd>
            <dt>Prompt version</dt>
            <dd>{e.prompt ? <Link href={href.prompt(e.prompt.name)}>{`${e.prompt.name} v${e.prompt.version}`}</Link> : "inline template"}</dd>
            <dt>Model</dt>
            <dd>
              {e.model.provider}/{e.model.model_name}
            </dd>
            <dt>Mode</dt>
            <dd>{e.mode}</dd>
            <dt>Trace</dt>
            <dd>{e.trace_id ? <Link href={href.trace(e.trace_id)}>Open trace {short(e.trace_id, 12)}</Link> : "–"}</dd>
            <dt>Correlation id</dt>
            <dd>{e.correlation_id ?? "–"}</dd>
            <dt>Idempotency key</dt>
            <dd>{e.idempotency_key ?? "–"}</dd>
            <dt>Created</dt>
            <dd>{formatTime(e.created_at)}</dd>
            <dt>Started</dt>
            <dd>{formatTime(e.started_at)}</dd>
            <dt>Completed</dt>
            <dd>{formatTime(e.completed_at)}</dd>
            {e.next_attempt_at && (
              <>
                <dt>Next attempt</dt>
                <dd>{formatTime(e.next_attempt_at)}</dd>
              </>
            )}
          </dl>
        </div>
        <div class="card">
          <h2>Inputs</h2>
          <h3>Variables</h3>
          <pre class="code">{json(e.inputs?.variables)}</pre>
          <h3>Params</h3>
          <pre class="code">{json(e.inputs?.params)}</pre>
        </div>
      </div>
      {e.error && (
        <div class="card error-card" role="region" aria-label="Error">
          <h2>Error</h2>
          <pre class="code">{json(e.error)}</pre>
        </div>
      )}
      <div class="columns">
        <div class="card">
          <h2>Rendered prompt</h2>
          <pre class="code">{typeof e.rendered_prompt === "string" ? e.rendered_prompt : e.rendered_prompt ? json(e.rendered_prompt) : "–"}</pre>
        </div>
        <div class="card">
          <h2>Response</h2>
          <pre class="code output">{e.response_text ?? (e.status === "queued" || e.status === "running" ? "Waiting for the run…" : "–")}</pre>
        </div>
      </div>
    </section>
  );
}

export function Stat({ label, value, sub }: { label: string; value: string; sub?: string }) {
  return (
    <div class="stat">
      <div class="stat-label">{label}</div>
      <div class="stat-value">{value}</div>
      {sub && <div class="stat-sub">{sub}</div>}
    </div>
  );
}
