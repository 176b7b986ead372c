/**
 * Shapes analytics responses into the column arrays uPlot draws
 * (`[xs, ...ys]`, x in seconds), and the rows of the A/B table.
 * Pure functions, unit-tested.
 */
import type { Schemas } from "./api";

type Stats = Schemas["Stats"];
type Point = Stats & { bucket_start: string };
export type Columns = [number[], ...(number | null)[][]];

export interface TimeSeries {
  /** Bucket starts, epoch seconds, ascending. */
  xs: number[];
  executions: number[];
  errors: number[];
  p50: (number | null)[];
  p95: (number | null)[];
  p99: (number | null)[];
  cost: number[];
  tokens: number[];
}

const seconds = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);

/**
 * Adds several prompts' series bucket by bucket (the summary has no series
 * of its own). Counts, tokens and cost add up; percentiles cannot be added,
 * so each bucket takes the execution-weighted mean of the prompts'
 * percentiles, an approximation labelled as such on the chart.
 */
export function mergeSeries(seriesList: Point[][]): TimeSeries {
  const buckets = new Map<number, Point[]>();
  for (const series of seriesList) {
    for (const point of series) {
      const x = seconds(point.bucket_start);
      if (!Number.isFinite(x)) continue;
      const list = buckets.get(x);
      if (list) list.push(point);
      else buckets.set(x, [point]);
    }
  }
  const xs = [...buckets.keys()].sort((a, b) => a - b);
  const out: TimeSeries = { xs, executions: [], errors: [], p50: [], p95: [], p99: [], cost: [], tokens: [] };
  for (const x of xs) {
    const points = buckets.get(x)!;
    out.executions.push(sum(points, (p) => p.executions));
    out.errors.push(sum(points, (p) => p.failed));
    out.cost.push(sum(points, (p) => p.cost_usd));
    out.tokens.push(sum(points, (p) => p.total_tokens));
    out.p50.push(weighted(points, (p) => p.latency_ms.p50));
    out.p95.push(weighted(points, (p) => p.latency_ms.p95));
    out.p99.push(weighted(points, (p) => p.latency_ms.p99));
  }
  return out;
}

function sum(points: Point[], pick: (p: Point) => number | null | undefined): number {
  return points.reduce((total, p) => total + (pick(p) ?? 0), 0);
}

function weighted(points: Point[], pick: (p: Point) => number | null | undefined): number | null {
  let weight = 0;
  let total = 0;
  for (const p of points) {
    const value = pick(p);
    const count = p.latency_ms.count || p.executions;
    if (value === null || value === undefined || !count) continue;
    weight += count;
    total += value * count;
  }
  return weight ? total / weight : null;
}

export type PromptSeries = Schemas["PromptAnalytics"]["series"];

/** One line per version over time: `[xs, v1, v2, ...]` for the chosen metric, and the version numbers. */
export function versionColumns(
  series: PromptSeries,
  metric: (v: Schemas["VersionStats"]) => number | null,
): { columns: Columns; versions: number[] } {
  const versions = [...new Set(series.flatMap((point) => point.versions.map((v) => v.version)))]
    .filter((v): v is number => v !== null)
    .sort((a, b) => a - b);
  const points = [...series].sort((a, b) => seconds(a.bucket_start) - seconds(b.bucket_start));
  const xs = points.map((p) => seconds(p.bucket_start));
  const ys = versions.map((version) =>
    points.map((p) => {
      const stats = p.versions.find((v) => v.version === version);
      return stats ? metric(stats) : null;
    }),
  );
  return { columns: [xs, ...ys], versions };
}

export interface VersionRow {
  version: number;
  executions: number;
  successRate: number | null;
  p50: number | null;
  p95: number | null;
  meanTokens: number | null;
  costPerRun: number | null;
  /** p50 relative to the best version's p50 (1 = fastest). */
  p50Ratio: number | null;
}

/** The A/B table: per version, newest first, with per-run cost and tokens. */
export function versionRows(all: Schemas["VersionStats"][]): VersionRow[] {
  // A null version is a version since deleted: it has no row to compare.
  const versions = all.filter((v): v is Schemas["VersionStats"] & { version: number } => v.version !== null);
  const fastest = Math.min(...versions.map((v) => v.latency_ms.p50 ?? Infinity));
  return [...versions]
    .sort((a, b) => b.version - a.version)
    .map((v) => ({
      version: v.version,
      executions: v.executions,
      successRate: v.executions ? v.success_rate : null,
      p50: v.latency_ms.p50,
      p95: v.latency_ms.p95,
      meanTokens: v.executions ? v.total_tokens / v.executions : null,
      costPerRun: v.executions ? v.cost_usd / v.executions : null,
      p50Ratio: v.latency_ms.p50 !== null && Number.isFinite(fastest) && fastest > 0 ? v.latency_ms.p50 / fastest : null,
    }));
}

/** Whether a chart has something to draw (at least one non-null y). */
export function hasData(columns: Columns): boolean {
  return columns.slice(1).some((ys) => ys.some((y) => y !== null && y !== undefined));
}

/** `since` for a named range, relative to `now` (ms); `null` for everything. */
export function rangeStart(range: string, now: number = Date.now()): string | null {
  const hours: Record<string, number> = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30, "90d": 24 * 90 };
  const h = hours[range];
  return h ? new Date(now - h * 3_600_000).toISOString() : null;
}

/** The x span for a chart: the chosen range (or the data's), padded by one bucket, ending now at the latest. */
export function xSpan(xs: number[], since: string | null | undefined, bucket: "hour" | "day", nowMs: number = Date.now()): [number, number] {
  const step = bucket === "hour" ? 3600 : 86_400;
  const now = Math.floor(nowMs / 1000);
  const first = xs.length ? Math.min(...xs) : now - step;
  const last = xs.length ? Math.max(...xs) : now;
  const start = since ? Math.min(Math.floor(new Date(since).getTime() / 1000), first) : first - step;
  return [start, Math.max(now, last + step)];
}
