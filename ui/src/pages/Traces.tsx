import { useState } from "preact/hooks";
import { api, unwrap, type Schemas } from "../lib/api";
import { Chip, Empty, PageHeader, Pager, Show, useAsync, useCursorPaging } from "../components";
import { formatDuration, formatRelative, formatTime, short } from "../lib/format";
import { layout } from "../lib/waterfall";
import { Link, href, setQuery, useLocation } from "../lib/router";

export function TracesPage() {
  const { query } = useLocation();
  const service = query.get("service") ?? "";
  const status = query.get("status") ?? "";
  const paging = useCursorPaging();
  const { cursor } = paging;
  const list = useAsync(
    async () =>
      unwrap(
        await api.GET("/v1/traces", {
          params: { query: { service: service || undefined, status: (status || undefined) as "ok" | "error" | undefined, cursor, limit: 50 } },
        }),
      ),
    [service, status, cursor],
  );
  return (
    <section>
      <PageHeader title="Traces" />
      <form class="filters" role="search" aria-label="Filter traces" onSubmit={(e) => e.preventDefault()}>
        <label>
          Service
          <input value={service} onChange={(e) => setQuery({ service: (e.target as HTMLInputElement).value, status })} />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setQuery({ service, status: (e.target as HTMLSelectElement).value })}>
            <option value="">Any</option>
            <option value="ok">ok</option>
            <option value="error">error</option>
          </select>
        </label>
      </form>
      <Show state={list} what="Loading traces">
        {(page) =>
          page.data.length === 0 ? (
            <Empty title="No traces match.">
              <p>Every execution writes a span; clients send theirs to <code>POST /v1/traces</code> (OTLP/JSON or span lists).</p>
            </Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table class="table" aria-label="Traces">
                  <thead>
                    <tr>
                      <th scope="col">Trace</th>
                      <th scope="col">Root span</th>
                      <th scope="col">Service</th>
                      <th scope="col">Status</th>
                      <th scope="col" class="num">Spans</th>
                      <th scope="col" class="num">Duration</th>
                      <th scope="col">Started</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((t) => (
                      <tr key={t.trace_id}>
                        <td>
                          <Link class="mono" href={href.trace(t.trace_id)} aria-label={`Trace ${t.trace_id}`}>
                            {short(t.trace_id, 12)}
                          </Link>
                        </td>
                        <td>{t.name ?? "–"}</td>
                        <td>{t.service_name ?? "–"}</td>
                        <td>
                          <Chip status={t.has_error ? "error" : (t.status ?? "unset")} />
                        </td>
                        <td class="num">{t.span_count}</td>
                        <td class="num">{formatDuration(t.duration_ms)}</td>
                        <td title={formatTime(t.started_at)}>{formatRelative(t.started_at)}</td>
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

export function TracePage({ id }: { id: string }) {
  const state = useAsync(async () => unwrap(await api.GET("/v1/traces/{trace_id}", { params: { path: { trace_id: id } } })), [id]);
  return (
    <Show state={state} what="Loading the trace">
      {(t) => <Waterfall trace={t} />}
    </Show>
  );
}

function Waterfall({ trace }: { trace: Schemas["Trace"] }) {
  const { bars, totalMs } = layout(trace.spans);
  const [selected, setSelected] = useState<string | null>(bars[0]?.span.span_id ?? null);
  const span = bars.find((b) => b.span.span_id === selected)?.span;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <section>
      <PageHeader
        title={
          <>
            Trace <span class="mono">{short(trace.trace_id, 12)}</span> <Chip status={trace.has_error ? "error" : (trace.status ?? "unset")} />
          </>
        }
      />
      <p class="muted">
        {trace.span_count} spans · {formatDuration(trace.duration_ms)} · started {formatTime(trace.started_at)}
        {trace.orphan_count > 0 && ` · ${trace.orphan_count} orphan span${trace.orphan_count === 1 ? "" : "s"} (the parent never arrived)`}
        {trace.truncated && " · truncated"}
      </p>
      <div class="card waterfall" role="region" aria-label="Waterfall">
        <div class="wf-axis" aria-hidden="true">
          <span class="wf-name" />
          <span class="wf-track">
            {ticks.map((t) => (
              <span key={t} class="wf-tick" style={{ left: `${t * 100}%` }}>
                {formatDuration(t * totalMs)}
              </span>
            ))}
          </span>
        </div>
        <ul class="wf-rows">
          {bars.map((b) => (
            <li key={b.span.span_id}>
              <button
                type="button"
                class={`wf-row ${b.span.span_id === selected ? "selected" : ""} ${b.span.status === "error" ? "is-error" : ""}`}
                aria-pressed={b.span.span_id === selected}
                onClick={() => setSelected(b.span.span_id)}
              >
                <span class="wf-name" style={{ paddingLeft: `${b.depth * 1.1}rem` }}>
                  {b.span.name}
                  {b.span.orphan && <span class="chip chip-wait">orphan</span>}
                  {b.span.status === "error" && <span class="visually-hidden"> (error)</span>}
                </span>
                <span class="wf-track">
                  <span class="wf-bar" style={{ left: `${b.left * 100}%`, width: `${b.width * 100}%` }} />
                  <span class="wf-dur">{formatDuration(b.durationMs)}</span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      </div>
      {span && <SpanDetail span={span} />}
    </section>
  );
}

function SpanDetail({ span }: { span: Schemas["Span"] }) {
  const show = (v: unknown) => (v === null || v === undefined ? "–" : typeof v === "string" ? v : JSON.stringify(v, null, 2));
  return (
    <div class="columns">
      <div class="card" role="region" aria-labelledby="span-title">
        <h2 id="span-title">
          {span.name} <Chip status={span.status} />
        </h2>
        <dl class="facts">
          <dt>Span id</dt>
          <dd class="mono">{span.span_id}</dd>
          <dt>Parent</dt>
          <dd class="mono">{span.parent_span_id ?? "–"}</dd>
          <dt>Type</dt>
          <dd>{span.span_type ?? "–"}</dd>
          <dt>Service</dt>
          <dd>{span.service_name ?? "–"}</dd>
          <dt>Duration</dt>
          <dd>{formatDuration(span.duration_ms)}</dd>
          {span.model && (
            <>
              <dt>Model</dt>
              <dd>{span.model}</dd>
            </>
          )}
          {span.execution && (
            <>
              <dt>Execution</dt>
              <dd>
                <Link href={href.execution(span.execution.id)}>{short(span.execution.id, 13)}</Link> <Chip status={span.execution.status} />
              </dd>
              <dt>Prompt version</dt>
              <dd>{span.execution.prompt_name ? <Link href={href.prompt(span.execution.prompt_name)}>{`${span.execution.prompt_name} v${span.execution.version}`}</Link> : "inline"}</dd>
            </>
          )}
        </dl>
        <h3>Attributes</h3>
        <pre class="code">{JSON.stringify(span.attributes ?? {}, null, 2)}</pre>
      </div>
      <div class="card">
        <h3>Input</h3>
        <pre class="code">{show(span.input)}</pre>
        <h3>Output</h3>
        <pre class="code">{show(span.output)}</pre>
        {span.events?.length > 0 && (
          <>
            <h3>Events</h3>
            <pre class="code">{JSON.stringify(span.events, null, 2)}</pre>
          </>
        )}
      </div>
    </div>
  );
}
