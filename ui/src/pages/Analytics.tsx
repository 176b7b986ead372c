import { useMemo, useState } from "preact/hooks";
import { api, ledger, unwrap, type Schemas } from "../lib/api";
import { Empty, PageHeader, Show, useAsync } from "../components";
import { Chart } from "../Chart";
import { mergeSeries, rangeStart, versionColumns, versionRows, xSpan, type Columns } from "../lib/chartdata";
import { formatCost, formatCount, formatDuration, formatPercent, formatTime } from "../lib/format";
import { Link, href, setQuery, useLocation } from "../lib/router";
import { Stat } from "./Executions";

const RANGES = [
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
  ["30d", "Last 30 days"],
  ["90d", "Last 90 days"],
  ["all", "All time"],
] as const;
const PALETTE = ["#3b5bdb", "#c2255c", "#2b8a3e", "#e8590c", "#7048e8", "#0c8599", "#5c940d", "#a61e4d"];
const TOP = 10;

export function AnalyticsPage() {
  const { query } = useLocation();
  const range = query.get("range") ?? "7d";
  const picked = query.get("prompt") ?? "";
  const bucket: "hour" | "day" = range === "24h" || range === "7d" ? "hour" : "day";
  const since = useMemo(() => rangeStart(range) ?? undefined, [range]);
  const summary = useAsync(async () => unwrap(await api.GET("/v1/analytics/summary", { params: { query: { since } } })), [since]);
  // The summary has no series: the charts over time add up the top prompts' series.
  const series = useAsync(async () => {
    const top = (summary.data?.top_prompts ?? []).filter((p) => p.prompt_name).slice(0, TOP);
    const all = await Promise.all(top.map((p) => ledger.promptAnalytics(p.prompt_name!, { since, bucket })));
    return mergeSeries(all.map((a) => a.series));
  }, [summary.data, bucket]);

  return (
    <section>
      <PageHeader title="Analytics">
        <label class="inline-label">
          Range
          <select value={range} onChange={(e) => setQuery({ range: (e.target as HTMLSelectElement).value, prompt: picked })}>
            {RANGES.map(([k, label]) => (
              <option key={k} value={k}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>
      <Show state={summary} what="Loading analytics">
        {(s) =>
          s.executions === 0 ? (
            <Empty title="No executions in this range.">
              <p>
                Run a prompt in the <Link href="/playground">playground</Link>; the beat folds runs into the rollups every few seconds.
              </p>
            </Empty>
          ) : (
            <>
              <SummaryCards s={s} />
              {s.rollups_through && <p class="small muted">Rollups complete through {formatTime(s.rollups_through)}; newer runs are read live.</p>}
              <Show state={series} what="Loading the charts">
                {(t) => <OverTime t={t} approximated={s.top_prompts.length > 1} span={xSpan(t.xs, since, bucket)} />}
              </Show>
              <PromptAB summary={s} picked={picked || s.top_prompts[0]?.prompt_name || ""} range={range} since={since} bucket={bucket} />
              <ByModel s={s} />
            </>
          )
        }
      </Show>
    </section>
  );
}

function SummaryCards({ s }: { s: Schemas["Summary"] }) {
  return (
    <div class="cards" role="list" aria-label="Summary">
      {[
        ["Executions", formatCount(s.executions), `${formatCount(s.failed)} failed · ${formatCount(s.canceled)} canceled`],
        ["Success rate", formatPercent(s.success_rate), `${formatCount(s.succeeded)} succeeded`],
        ["Latency p50", formatDuration(s.latency_ms.p50), `mean ${formatDuration(s.latency_ms.mean)}`],
        ["p95 / p99", `${formatDuration(s.latency_ms.p95)} / ${formatDuration(s.latency_ms.p99)}`, ""],
        ["Tokens", formatCount(s.total_tokens, true), `${formatCount(s.prompt_tokens, true)} in / ${formatCount(s.response_tokens, true)} out`],
        ["Cost", formatCost(s.cost_usd), ""],
      ].map(([label, value, sub]) => (
        <div role="listitem" key={label}>
          <Stat label={label!} value={value!} sub={sub || undefined} />
        </div>
      ))}
    </div>
  );
}

function OverTime({ t, approximated, span }: { t: ReturnType<typeof mergeSeries>; approximated: boolean; span: [number, number] }) {
  const runs: Columns = useMemo(() => [t.xs, t.executions, t.errors], [t]);
  const latency: Columns = useMemo(() => [t.xs, t.p50, t.p95, t.p99], [t]);
  const cost: Columns = useMemo(() => [t.xs, t.cost], [t]);
  const runSeries = useMemo(() => [{ label: "Executions", color: PALETTE[0]!, bars: true }, { label: "Errors", color: PALETTE[1]! }], []);
  const latencySeries = useMemo(
    () => [
      { label: "p50", color: PALETTE[2]! },
      { label: "p95", color: PALETTE[3]! },
      { label: "p99", color: PALETTE[1]!, dash: true },
    ],
    [],
  );
  const costSeries = useMemo(() => [{ label: "Cost (USD)", color: PALETTE[4]! }], []);
  return (
    <div class="chart-grid">
      <Chart title="Executions and errors" columns={runs} series={runSeries} yLabel="runs" integer xRange={span} formatY={(v) => formatCount(v, true)} />
      <Chart
        title={approximated ? "Latency percentiles (weighted across prompts)" : "Latency percentiles"}
        columns={latency}
        series={latencySeries}
        yLabel="ms"
        xRange={span}
        formatY={(v) => formatDuration(v)}
      />
      <Chart title="Cost" columns={cost} series={costSeries} yLabel="USD" xRange={span} formatY={(v) => formatCost(v)} />
    </div>
  );
}

function PromptAB(props: { summary: Schemas["Summary"]; picked: string; range: string; since?: string; bucket: "hour" | "day" }) {
  const [metric, setMetric] = useState<"executions" | "p50" | "success">("executions");
  const data = useAsync(
    async () => (props.picked ? ledger.promptAnalytics(props.picked, { since: props.since, bucket: props.bucket }) : null),
    [props.picked, props.since, props.bucket],
  );
  const pick = {
    executions: (v: Schemas["VersionStats"]) => v.executions,
    p50: (v: Schemas["VersionStats"]) => v.latency_ms.p50,
    success: (v: Schemas["VersionStats"]) => (v.executions ? v.success_rate : null),
  }[metric];
  const shaped = useMemo(() => (data.data ? versionColumns(data.data.series, pick) : null), [data.data, metric]);
  const series = useMemo(() => shaped?.versions.map((v, i) => ({ label: `v${v}`, color: PALETTE[i % PALETTE.length]! })) ?? [], [shaped]);
  const format = metric === "p50" ? (v: number) => formatDuration(v) : metric === "success" ? (v: number) => formatPercent(v) : (v: number) => formatCount(v, true);
  return (
    <div class="card" role="region" aria-labelledby="ab-title">
      <h2 id="ab-title">Versions compared</h2>
      <div class="inline-form">
        <label>
          Prompt
          <select value={props.picked} onChange={(e) => setQuery({ range: props.range, prompt: (e.target as HTMLSelectElement).value })}>
            {props.summary.top_prompts.filter((p) => p.prompt_name).map((p) => (
              <option key={p.prompt_id} value={p.prompt_name!}>
                {p.prompt_name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Chart
          <select value={metric} onChange={(e) => setMetric((e.target as HTMLSelectElement).value as typeof metric)}>
            <option value="executions">Executions</option>
            <option value="p50">Latency p50</option>
            <option value="success">Success rate</option>
          </select>
        </label>
        {props.picked && <Link href={href.prompt(props.picked)}>Open prompt</Link>}
      </div>
      <Show state={data as typeof data & { data: Schemas["PromptAnalytics"] | null | undefined }} what="Loading versions">
        {(a) =>
          !a ? (
            <p class="muted">No prompt ran in this range.</p>
          ) : (
            <>
              <div class="table-wrap">
                <table class="table" aria-label={`Versions of ${a.prompt.name}`}>
                  <thead>
                    <tr>
                      <th scope="col">Version</th>
                      <th scope="col" class="num">Executions</th>
                      <th scope="col" class="num">Success</th>
                      <th scope="col" class="num">p50</th>
                      <th scope="col" class="num">p95</th>
                      <th scope="col" class="num">Tokens / run</th>
                      <th scope="col" class="num">Cost / run</th>
                    </tr>
                  </thead>
                  <tbody>
                    {versionRows(a.versions).map((r) => (
                      <tr key={r.version}>
                        <th scope="row">v{r.version}</th>
                        <td class="num">{formatCount(r.executions)}</td>
                        <td class="num">{formatPercent(r.successRate)}</td>
                        <td class="num">
                          {formatDuration(r.p50)}
                          {r.p50Ratio !== null && r.p50Ratio > 1.001 && <span class="muted small"> ×{r.p50Ratio.toFixed(1)}</span>}
                        </td>
                        <td class="num">{formatDuration(r.p95)}</td>
                        <td class="num">{r.meanTokens === null ? "–" : r.meanTokens.toFixed(1)}</td>
                        <td class="num">{formatCost(r.costPerRun)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {shaped && <Chart title={`${a.prompt.name}: ${metric === "p50" ? "latency p50" : metric === "success" ? "success rate" : "executions"} per version`} columns={shaped.columns} series={series} yLabel={metric === "p50" ? "ms" : metric === "success" ? "rate" : "runs"} integer={metric === "executions"} xRange={xSpan(shaped.columns[0], props.since, props.bucket)} formatY={format} />}
            </>
          )
        }
      </Show>
    </div>
  );
}

function ByModel({ s }: { s: Schemas["Summary"] }) {
  return (
    <div class="card" role="region" aria-labelledby="models-title">
      <h2 id="models-title">By provider and model</h2>
      <div class="table-wrap">
        <table class="table" aria-label="By model">
          <thead>
            <tr>
              <th scope="col">Provider</th>
              <th scope="col">Model</th>
              <th scope="col" class="num">Executions</th>
              <th scope="col" class="num">Success</th>
              <th scope="col" class="num">p50</th>
              <th scope="col" class="num">p95</th>
              <th scope="col" class="num">Tokens</th>
              <th scope="col" class="num">Cost</th>
            </tr>
          </thead>
          <tbody>
            {s.by_model.map((m) => (
              <tr key={`${m.provider}/${m.model_name}`}>
                <td>{m.provider}</td>
                <th scope="row">{m.model_name}</th>
                <td class="num">{formatCount(m.executions)}</td>
                <td class="num">{formatPercent(m.success_rate)}</td>
                <td class="num">{formatDuration(m.latency_ms.p50)}</td>
                <td class="num">{formatDuration(m.latency_ms.p95)}</td>
                <td class="num">{formatCount(m.total_tokens, true)}</td>
                <td class="num">{formatCost(m.cost_usd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
