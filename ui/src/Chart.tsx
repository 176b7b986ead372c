/**
 * A time-series chart (uPlot). The charting code loads on first use, so
 * pages without charts never download it. The figure says in words what
 * it shows; `data-points` counts drawn values (the browser test reads it).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { hasData, type Columns } from "./lib/chartdata";
import type { ChartSpec } from "./lib/uplot-chart";

export type Series = ChartSpec["series"][number];

export function Chart(props: {
  title: string;
  columns: Columns;
  series: Series[];
  yLabel: string;
  formatY: (v: number) => string;
  height?: number;
  xRange?: [number, number];
  integer?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const points = props.columns.slice(1).reduce((n, ys) => n + ys.filter((y) => y !== null).length, 0);
  const empty = !hasData(props.columns);
  useEffect(() => {
    const el = box.current;
    if (!el || empty) return;
    let chart: { destroy: () => void; resize: (w: number) => void } | null = null;
    let live = true;
    const observer = new ResizeObserver(() => chart?.resize(el.clientWidth));
    import("./lib/uplot-chart").then(
      ({ draw }) => {
        if (!live) return;
        el.replaceChildren();
        chart = draw(el, {
          columns: props.columns,
          series: props.series,
          yLabel: props.yLabel,
          formatY: props.formatY,
          height: props.height ?? 220,
          xRange: props.xRange,
          integer: props.integer,
        });
        el.dataset.drawn = "true";
        observer.observe(el);
      },
      (e: Error) => live && setFailed(e.message),
    );
    return () => {
      live = false;
      observer.disconnect();
      chart?.destroy();
    };
  }, [props.columns, props.series, empty]);
  return (
    <figure class="chart" aria-label={props.title}>
      <figcaption>{props.title}</figcaption>
      {empty ? (
        <p class="muted chart-empty">No data in this range.</p>
      ) : failed ? (
        <p class="field-error">The chart could not load: {failed}</p>
      ) : (
        <div ref={box} class="chart-box" data-points={points} role="img" aria-label={`${props.title}: ${points} values across ${props.columns[0].length} time buckets`} />
      )}
      {!empty && (
        <ul class="legend">
          {props.series.map((s) => (
            <li key={s.label}>
              <span class={`swatch ${s.dash ? "dashed" : ""}`} style={{ borderColor: s.color, background: s.bars ? s.color : undefined }} aria-hidden="true" />
              {s.label}
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}
