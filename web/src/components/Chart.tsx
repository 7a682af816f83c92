// A uPlot chart that follows its container's width. uPlot draws on a canvas; the bucket count
// is also written to data-buckets so tests and assistive tech can tell what was drawn.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  /** null: no value in that bucket (drawn as a gap). */
  values: (number | null)[];
  color: string;
  bars?: boolean;
  format?: (v: number) => string;
}

export function Chart({
  title,
  x,
  series,
  height = 220,
}: {
  title: string;
  x: number[];
  series: Series[];
  height?: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const bars = uPlot.paths.bars?.({ size: [0.8, 60] });
    const step = x.length > 1 ? (x[1] - x[0]) / 1000 : 3600;
    const plot = new uPlot(
      {
        width: Math.max(el.clientWidth, 280),
        height,
        legend: { show: true },
        scales: {
          // Half a bucket of room either side, so the first and last bars are whole.
          x: { time: true, range: (_u, min, max) => [min - step / 2, max + step / 2] },
          // Counts and ratios start at zero; an all-zero range still has a height.
          y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
        },
        axes: [{}, { size: 56, values: (_u, ticks) => ticks.map((v) => series[0].format?.(v) ?? String(v)) }],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            fill: s.bars ? `${s.color}99` : undefined,
            width: s.bars ? 0 : 2,
            paths: s.bars ? bars : undefined,
            value: (_u: uPlot, v: number | null) => (v == null ? '–' : (s.format?.(v) ?? String(v))),
          })),
        ],
      },
      [x.map((ms) => ms / 1000), ...series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 280), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [x, series, height]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div
        ref={host}
        class="chart-canvas"
        data-buckets={x.length}
        role="img"
        aria-label={`${title}, ${x.length} buckets`}
      />
    </figure>
  );
}
