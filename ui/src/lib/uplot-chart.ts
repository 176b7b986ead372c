/** The uPlot side of <Chart>: loaded on demand, with the analytics page's first chart. */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Columns } from "./chartdata";

export interface ChartSpec {
  columns: Columns;
  series: { label: string; color: string; bars?: boolean; dash?: boolean }[];
  yLabel: string;
  formatY: (v: number) => string;
  height: number;
  /** The x axis' span in epoch seconds (the chosen range), so one bucket does not fill years. */
  xRange?: [number, number];
  /** Counts: whole-number ticks only. */
  integer?: boolean;
}

export function draw(target: HTMLElement, spec: ChartSpec): { destroy: () => void; resize: (w: number) => void } {
  const css = getComputedStyle(target);
  const axis = css.getPropertyValue("--muted").trim() || "#555";
  const grid = css.getPropertyValue("--border").trim() || "#ddd";
  const bars = uPlot.paths.bars?.({ size: [0.6, 40] });
  const opts: uPlot.Options = {
    width: Math.max(target.clientWidth, 280),
    height: spec.height,
    cursor: { points: { size: 6 } },
    legend: { show: false },
    scales: {
      x: { time: true, range: spec.xRange ? () => spec.xRange! : undefined },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
    },
    axes: [
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
      {
        stroke: axis,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid },
        label: spec.yLabel,
        size: 64,
        incrs: spec.integer ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6] : undefined,
        values: (_u, splits) => splits.map((v) => spec.formatY(v)),
      },
    ],
    series: [
      { label: "Time" },
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        fill: s.bars ? `${s.color}55` : undefined,
        dash: s.dash ? [6, 4] : undefined,
        paths: s.bars ? bars : undefined,
        points: { show: spec.columns[0].length < 60, size: 5 },
        spanGaps: false,
      })),
    ],
  };
  const plot = new uPlot(opts, spec.columns as uPlot.AlignedData, target);
  return { destroy: () => plot.destroy(), resize: (w) => plot.setSize({ width: Math.max(w, 280), height: spec.height }) };
}
