import { describe, expect, it } from "vitest";
import { hasData, mergeSeries, rangeStart, versionColumns, versionRows, xSpan } from "./chartdata";
import { parseUnified, sideBySide } from "./diff";
import { layout } from "./waterfall";
import type { Schemas } from "./api";

const stats = (over: Partial<Schemas["Stats"]> = {}): Schemas["Stats"] => ({
  executions: 0,
  succeeded: 0,
  failed: 0,
  canceled: 0,
  success_rate: null,
  prompt_tokens: 0,
  response_tokens: 0,
  total_tokens: 0,
  cost_usd: 0,
  cost_nanos: 0,
  latency_ms: { count: 0, mean: null, p50: null, p95: null, p99: null },
  errors_by_type: {},
  ...over,
});
const lat = (count: number, p50: number) => ({ count, mean: p50, p50, p95: p50 * 2, p99: p50 * 3 });

describe("mergeSeries", () => {
  it("adds counts per bucket and weights percentiles by executions", () => {
    const a = [
      { ...stats({ executions: 3, failed: 1, cost_usd: 0.5, total_tokens: 30, latency_ms: lat(3, 100) }), bucket_start: "2026-12-07T01:00:00Z" },
      { ...stats({ executions: 1, latency_ms: lat(1, 10) }), bucket_start: "2026-12-07T00:00:00Z" },
    ];
    const b = [{ ...stats({ executions: 1, failed: 1, cost_usd: 0.25, total_tokens: 5, latency_ms: lat(1, 500) }), bucket_start: "2026-12-07T01:00:00.000000Z" }];
    const merged = mergeSeries([a, b]);
    expect(merged.xs).toEqual([Date.UTC(2026, 11, 7, 0) / 1000, Date.UTC(2026, 11, 7, 1) / 1000]);
    expect(merged.executions).toEqual([1, 4]);
    expect(merged.errors).toEqual([0, 2]);
    expect(merged.cost).toEqual([0, 0.75]);
    expect(merged.tokens).toEqual([0, 35]);
    expect(merged.p50).toEqual([10, 200]);
    expect(merged.p95).toEqual([20, 400]);
  });
  it("leaves percentiles empty where nothing ran", () => {
    const merged = mergeSeries([[{ ...stats(), bucket_start: "2026-12-07T00:00:00Z" }]]);
    expect(merged.p50).toEqual([null]);
    expect(mergeSeries([]).xs).toEqual([]);
  });
});

describe("versions", () => {
  const v = (version: number, over: Partial<Schemas["Stats"]>) => ({ ...stats(over), version, prompt_version_id: `id${version}` });
  const series = [
    { ...stats(), bucket_start: "2026-12-08T00:00:00Z", versions: [v(2, { executions: 4 })] },
    { ...stats(), bucket_start: "2026-12-07T00:00:00Z", versions: [v(1, { executions: 2 }), v(2, { executions: 1 })] },
  ];
  it("draws one column per version, sorted by time, gaps as null", () => {
    const { columns, versions } = versionColumns(series, (s) => s.executions);
    expect(versions).toEqual([1, 2]);
    expect(columns).toEqual([[Date.UTC(2026, 11, 7) / 1000, Date.UTC(2026, 11, 8) / 1000], [2, null], [1, 4]]);
    expect(hasData(columns)).toBe(true);
    expect(hasData([[1, 2], [null, null]])).toBe(false);
  });
  it("builds the A/B rows newest first with per-run figures", () => {
    const rows = versionRows([
      v(1, { executions: 2, success_rate: 0.5, total_tokens: 20, cost_usd: 0.02, latency_ms: lat(2, 200) }),
      v(2, { executions: 4, success_rate: 1, total_tokens: 20, cost_usd: 0.02, latency_ms: lat(4, 100) }),
      v(3, {}),
    ]);
    expect(rows.map((r) => r.version)).toEqual([3, 2, 1]);
    expect(rows[1]).toMatchObject({ executions: 4, successRate: 1, meanTokens: 5, costPerRun: 0.005, p50Ratio: 1 });
    expect(rows[2]).toMatchObject({ meanTokens: 10, costPerRun: 0.01, p50Ratio: 2 });
    expect(rows[0]).toMatchObject({ executions: 0, successRate: null, meanTokens: null, p50Ratio: null });
  });
  it("spans the chosen range, or the data padded by a bucket", () => {
    const now = Date.UTC(2026, 11, 8, 12) ;
    const x = Date.UTC(2026, 11, 8, 10) / 1000;
    expect(xSpan([x], "2026-12-07T12:00:00Z", "hour", now)).toEqual([Date.UTC(2026, 11, 7, 12) / 1000, now / 1000]);
    expect(xSpan([x], null, "day", now)).toEqual([x - 86_400, x + 86_400]);
  });
  it("turns a named range into a start time", () => {
    const now = Date.UTC(2026, 11, 8);
    expect(rangeStart("24h", now)).toBe("2026-12-07T00:00:00.000Z");
    expect(rangeStart("all", now)).toBeNull();
  });
});

describe("diff", () => {
  const text = "--- greet@v1\n+++ greet@v2\n@@ -1,2 +1,3 @@\n keep\n-old\n+new\n+extra\n\\ No newline at end of file\n";
  it("numbers the lines of both versions", () => {
    const lines = parseUnified(text);
    expect(lines.map((l) => l.kind)).toEqual(["meta", "meta", "hunk", "context", "del", "add", "add"]);
    expect(lines[3]).toMatchObject({ text: "keep", oldNo: 1, newNo: 1 });
    expect(lines[4]).toMatchObject({ text: "old", oldNo: 2, newNo: null });
    expect(lines[6]).toMatchObject({ text: "extra", oldNo: null, newNo: 3 });
  });
  it("pairs changed lines side by side", () => {
    const rows = sideBySide(parseUnified(text));
    expect(rows[0]?.hunk).toMatch(/^@@/);
    expect(rows[1]?.left?.text).toBe("keep");
    expect([rows[2]?.left?.text, rows[2]?.right?.text]).toEqual(["old", "new"]);
    expect([rows[3]?.left, rows[3]?.right?.text]).toEqual([null, "extra"]);
  });
});

describe("waterfall", () => {
  const span = (id: string, start: number, end: number, children: Schemas["Span"][] = []): Schemas["Span"] =>
    ({
      span_id: id,
      parent_span_id: null,
      name: id,
      started_at: new Date(Date.UTC(2026, 0, 1) + start).toISOString(),
      ended_at: new Date(Date.UTC(2026, 0, 1) + end).toISOString(),
      duration_ms: end - start,
      children,
    }) as unknown as Schemas["Span"];
  it("nests children under parents and scales to the trace", () => {
    const { bars, totalMs } = layout([span("root", 0, 100, [span("late", 60, 100), span("early", 10, 50)])]);
    expect(totalMs).toBe(100);
    expect(bars.map((b) => [b.span.span_id, b.depth])).toEqual([["root", 0], ["early", 1], ["late", 1]]);
    expect(bars[1]).toMatchObject({ left: 0.1, width: 0.4, startMs: 10, durationMs: 40 });
  });
  it("gives an instant trace full-width bars", () => {
    const { bars, totalMs } = layout([span("only", 5, 5)]);
    expect(totalMs).toBe(0);
    expect(bars[0]?.width).toBe(1);
    expect(layout([]).bars).toEqual([]);
  });
});
