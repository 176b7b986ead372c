/** Lays a trace's span tree out on a time axis for the waterfall view. */
import type { Schemas } from "./api";

type Span = Schemas["Span"];

export interface Bar {
  span: Span;
  depth: number;
  /** Offset from the trace start and length, as fractions of the trace's duration. */
  left: number;
  width: number;
  startMs: number;
  durationMs: number;
}

const ms = (iso: string | null) => (iso ? new Date(iso).getTime() : NaN);

/** Depth-first rows (children after their parent, by start time); orphans keep their flag. */
export function layout(roots: Span[]): { bars: Bar[]; totalMs: number } {
  const flat: { span: Span; depth: number }[] = [];
  const walk = (spans: Span[], depth: number) => {
    const ordered = [...spans].sort((a, b) => ms(a.started_at) - ms(b.started_at));
    for (const span of ordered) {
      flat.push({ span, depth });
      walk(span.children ?? [], depth + 1);
    }
  };
  walk(roots, 0);
  if (flat.length === 0) return { bars: [], totalMs: 0 };
  const starts = flat.map((f) => ms(f.span.started_at)).filter(Number.isFinite);
  const ends = flat.map((f) => endOf(f.span)).filter(Number.isFinite);
  const t0 = Math.min(...starts);
  const t1 = Math.max(...ends, ...starts);
  const total = Math.max(t1 - t0, 0);
  const bars = flat.map(({ span, depth }) => {
    const start = ms(span.started_at);
    const duration = Math.max(endOf(span) - start, 0);
    return {
      span,
      depth,
      startMs: start - t0,
      durationMs: duration,
      left: total ? (start - t0) / total : 0,
      width: total ? Math.max(duration / total, 0.005) : 1,
    };
  });
  return { bars, totalMs: total };
}

function endOf(span: Span): number {
  const end = ms(span.ended_at);
  if (Number.isFinite(end)) return end;
  return ms(span.started_at) + (span.duration_ms ?? 0);
}
