/**
 * Charts over time, hand-written SVG (no chart library): runs per status per bucket (stacked
 * bars, the chips' colours) and p50/p95 duration per bucket (lines), drawn from the series of
 * executions-stats (`?bucket=hour|day`, served from the rollups: no rows reach the browser).
 *
 * Each chart is one keyboard stop: the arrow keys (Home, End, Page Up/Down) move between
 * buckets, and the readout under the chart says the bucket's numbers; the pointer does the
 * same. A chart wider than the screen (many buckets) scrolls sideways. Every number is also in
 * a table under <details>, for screen readers and for copying.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import type { Series } from "./api.ts";
import { bucketLabel, DAY_MS, durationTicks, executionStatuses, formatDuration, HOUR_MS, niceTicks, statusLabels } from "./model.ts";

type Bucket = Series["buckets"][number];

const MARGIN = { top: 10, right: 18, bottom: 36, left: 54 };
const HEIGHT = 210;
/** Pixels per bucket at least: more buckets than fit make the chart scroll sideways. */
const MIN_SLOT = 6;
/** About this many pixels between labels on the time axis. */
const LABEL_GAP = 64;

interface Geometry {
  width: number;
  slot: number;
  plotHeight: number;
  /** The left edge of bucket i. */
  x: (i: number) => number;
}

function geometry(n: number, available: number): Geometry {
  const width = Math.max(available || 600, 240, n * MIN_SLOT + MARGIN.left + MARGIN.right);
  const slot = (width - MARGIN.left - MARGIN.right) / Math.max(n, 1);
  return { width, slot, plotHeight: HEIGHT - MARGIN.top - MARGIN.bottom, x: (i) => MARGIN.left + i * slot };
}

function useWidth(ref: { current: HTMLElement | null }): number {
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const update = () => setWidth(element.clientWidth);
    update();
    const observer = new ResizeObserver(update);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return width;
}

const unitName = (bucket: Series["bucket"], n = 1) => (bucket === "hour" ? (n === 1 ? "hour" : "hours") : n === 1 ? "day" : "days");

/** The time axis: labels every k buckets, k a round number of hours or days, aligned on UTC. */
function TimeAxis({ series, g }: { series: Series; g: Geometry }) {
  const hourly = series.bucket === "hour";
  const steps = hourly ? [1, 2, 3, 4, 6, 12, 24, 48, 96, 168] : [1, 2, 7, 14, 28, 56, 91, 182, 364];
  const every = steps.find((k) => k * g.slot >= LABEL_GAP) ?? steps[steps.length - 1];
  const size = hourly ? HOUR_MS : DAY_MS;
  const labels: ComponentChildren[] = [];
  let lastDay = "";
  series.buckets.forEach((b, i) => {
    const date = new Date(b.start);
    if (Math.floor(date.getTime() / size) % every !== 0) return;
    const day = date.toLocaleDateString("en-GB", { timeZone: "UTC", day: "numeric", month: "short" });
    const cx = g.x(i) + g.slot / 2;
    const y = MARGIN.top + g.plotHeight;
    labels.push(
      <g key={b.start}>
        <line x1={cx} x2={cx} y1={y} y2={y + 4} />
        <text x={cx} y={y + 15} text-anchor="middle">{hourly ? `${String(date.getUTCHours()).padStart(2, "0")}:00` : day}</text>
        {hourly && day !== lastDay && <text x={cx} y={y + 28} text-anchor="middle">{day}</text>}
      </g>,
    );
    lastDay = day;
  });
  return <g class="axis x-axis" aria-hidden="true">{labels}</g>;
}

function ValueAxis({ ticks, max, label, g }: { ticks: number[]; max: number; label: (v: number) => string; g: Geometry }) {
  return (
    <g class="axis y-axis" aria-hidden="true">
      {ticks.map((t) => {
        const y = MARGIN.top + g.plotHeight - (t / max) * g.plotHeight;
        return (
          <g key={t}>
            <line class="grid" x1={MARGIN.left} x2={g.width - MARGIN.right} y1={y} y2={y} />
            <text x={MARGIN.left - 6} y={y + 4} text-anchor="end">{label(t)}</text>
          </g>
        );
      })}
    </g>
  );
}

/** The frame both charts share: title, legend, the scrolling plot, keyboard and pointer, the readout. */
function ChartFrame(props: {
  name: string;
  title: string;
  summary: string;
  series: Series;
  legend: ComponentChildren;
  readout: (bucket: Bucket) => string;
  draw: (g: Geometry, selected: number) => ComponentChildren;
}) {
  const { series } = props;
  const n = series.buckets.length;
  const scrollRef = useRef<HTMLDivElement>(null);
  const width = useWidth(scrollRef);
  const [chosen, setChosen] = useState<number | null>(null);
  const [focused, setFocused] = useState(false);
  const titleId = useId();
  const readoutId = useId();
  const g = geometry(n, width);
  // Nothing chosen: the newest bucket (the current one, when the range ends now).
  const selected = chosen === null || chosen >= n ? n - 1 : chosen;

  const choose = (i: number) => {
    setChosen(i);
    const element = scrollRef.current;
    if (!element) return;
    const left = g.x(i) - MARGIN.left;
    const right = g.x(i) + g.slot + MARGIN.right;
    if (left < element.scrollLeft) element.scrollLeft = left;
    else if (right > element.scrollLeft + element.clientWidth) element.scrollLeft = right - element.clientWidth;
  };
  const onKeyDown = (e: KeyboardEvent) => {
    const moves: Record<string, number> = {
      ArrowLeft: selected - 1, ArrowRight: selected + 1, ArrowDown: selected - 1, ArrowUp: selected + 1,
      Home: 0, End: n - 1, PageUp: selected - 10, PageDown: selected + 10,
    };
    if (!(e.key in moves) || n === 0) return;
    e.preventDefault();
    choose(Math.min(n - 1, Math.max(0, moves[e.key])));
  };
  const onPointerMove = (e: PointerEvent) => {
    const box = (e.currentTarget as SVGSVGElement).getBoundingClientRect();
    const i = Math.floor((e.clientX - box.left - MARGIN.left) / g.slot);
    if (i >= 0 && i < n && i !== chosen) setChosen(i);
  };

  return (
    <figure class="chart" data-chart={props.name} aria-labelledby={titleId}>
      <figcaption id={titleId}>{props.title}</figcaption>
      {props.legend}
      <div
        class="chart-plot"
        ref={scrollRef}
        tabIndex={0}
        role="group"
        aria-label={`${props.title}: the arrow keys move between ${unitName(series.bucket, 2)}`}
        aria-describedby={readoutId}
        onKeyDown={onKeyDown}
        onFocus={() => setFocused(true)}
        onBlur={() => setFocused(false)}
      >
        <svg width={g.width} height={HEIGHT} viewBox={`0 0 ${g.width} ${HEIGHT}`} role="img" aria-label={props.summary} onPointerMove={onPointerMove} onPointerDown={onPointerMove}>
          <title>{props.summary}</title>
          {n > 0 && <rect class="selected" x={g.x(selected)} y={MARGIN.top} width={g.slot} height={g.plotHeight} />}
          {props.draw(g, selected)}
          <TimeAxis series={series} g={g} />
        </svg>
      </div>
      <p class="chart-readout" id={readoutId} aria-live={focused ? "polite" : "off"} data-readout>
        {n > 0 ? props.readout(series.buckets[selected]) : "No buckets in this range."}
      </p>
    </figure>
  );
}

export function RunsPerStatusChart({ series }: { series: Series }) {
  const peak = Math.max(0, ...series.buckets.map((b) => b.total));
  const ticks = niceTicks(peak, 4, 1);
  const max = ticks[ticks.length - 1];
  const all = series.buckets.reduce((sum, b) => sum + b.total, 0);
  const unit = unitName(series.bucket);
  const title = `Runs per status, per ${unit} (UTC)`;
  return (
    <ChartFrame
      name="runs"
      title={title}
      series={series}
      summary={`${title}, stacked bars over ${series.buckets.length} ${unitName(series.bucket, series.buckets.length)}: ${all} runs in all, at most ${peak} in one ${unit}.`}
      legend={
        <ul class="legend" aria-hidden="true">
          {executionStatuses.map((s) => <li key={s}><span class={`swatch status-${s}`} />{statusLabels[s]}</li>)}
        </ul>
      }
      readout={(b) => {
        const parts = executionStatuses.filter((s) => b.byStatus[s] > 0).map((s) => `${b.byStatus[s]} ${statusLabels[s].toLowerCase()}`);
        return `${bucketLabel(b.start, series.bucket)}: ${b.total === 0 ? "no runs" : `${b.total} ${b.total === 1 ? "run" : "runs"} (${parts.join(", ")})`}`;
      }}
      draw={(g) => {
        const barWidth = Math.max(1, Math.min(g.slot * 0.72, 48));
        return (
          <>
            <ValueAxis ticks={ticks} max={max} label={String} g={g} />
            {series.buckets.map((b, i) => {
              let y = MARGIN.top + g.plotHeight;
              return (
                <g key={b.start} class="bucket" data-bucket={b.start} data-total={b.total}>
                  {executionStatuses.map((s) => {
                    const count = b.byStatus[s];
                    if (count === 0) return null;
                    const h = (count / max) * g.plotHeight;
                    y -= h;
                    return <rect key={s} class={`status-${s}`} data-status={s} data-count={count} x={g.x(i) + (g.slot - barWidth) / 2} y={y} width={barWidth} height={h} />;
                  })}
                </g>
              );
            })}
          </>
        );
      }}
    />
  );
}

export function DurationChart({ series }: { series: Series }) {
  const values = series.buckets.flatMap((b) => [b.p50DurationMs, b.p95DurationMs]).filter((v): v is number => v !== null);
  const peak = Math.max(0, ...values);
  const { ticks, label } = durationTicks(peak || 1000);
  const max = ticks[ticks.length - 1];
  const unit = unitName(series.bucket);
  const title = `p50 and p95 duration, per ${unit} (UTC)`;
  const withDuration = series.buckets.filter((b) => b.p50DurationMs !== null).length;
  return (
    <ChartFrame
      name="durations"
      title={title}
      series={series}
      summary={`${title}, lines over ${series.buckets.length} ${unitName(series.bucket, series.buckets.length)}: ${withDuration} with finished runs${values.length ? `, p95 at most ${formatDuration(peak)}` : ""}.`}
      legend={
        <ul class="legend" aria-hidden="true">
          <li><span class="swatch line p50" />p50</li>
          <li><span class="swatch line p95" />p95</li>
        </ul>
      }
      readout={(b) =>
        `${bucketLabel(b.start, series.bucket)}: ${b.p50DurationMs === null ? "no finished runs with a duration" : `p50 ${formatDuration(b.p50DurationMs)}, p95 ${formatDuration(b.p95DurationMs)}`}`}
      draw={(g) => {
        const y = (v: number) => MARGIN.top + g.plotHeight - (v / max) * g.plotHeight;
        const line = (field: "p50DurationMs" | "p95DurationMs", name: string) => {
          let d = "";
          let open = false;
          const dots: ComponentChildren[] = [];
          series.buckets.forEach((b, i) => {
            const v = b[field];
            if (v === null) {
              open = false;
              return;
            }
            const cx = g.x(i) + g.slot / 2;
            d += `${open ? "L" : "M"}${cx.toFixed(1)},${y(v).toFixed(1)}`;
            // A dot where the line alone would not show the point: few buckets, or one between gaps.
            const alone = !open && series.buckets[i + 1]?.[field] == null;
            if (series.buckets.length <= 60 || alone) dots.push(<circle key={b.start} class={name} cx={cx} cy={y(v)} r={2.5} />);
            open = true;
          });
          return (
            <g data-line={name}>
              <path class={`line ${name}`} d={d} />
              {dots}
            </g>
          );
        };
        return (
          <>
            <ValueAxis ticks={ticks} max={max} label={label} g={g} />
            {line("p95DurationMs", "p95")}
            {line("p50DurationMs", "p50")}
            {values.length === 0 && (
              <text class="empty-note" x={MARGIN.left + (g.width - MARGIN.left - MARGIN.right) / 2} y={MARGIN.top + g.plotHeight / 2} text-anchor="middle">
                No finished runs with a duration
              </text>
            )}
          </>
        );
      }}
    />
  );
}

/** Every bucket's numbers, as a table (collapsed): what the charts draw, readable without them. */
export function SeriesTable({ series }: { series: Series }) {
  const unit = unitName(series.bucket);
  return (
    <details class="series-numbers">
      <summary>The numbers per {unit} ({series.buckets.length} {unitName(series.bucket, series.buckets.length)})</summary>
      <div class="table-scroll" tabIndex={0} role="region" aria-label={`The numbers per ${unit}`}>
        <table class="series" data-bucket-size={series.bucket}>
          <caption class="visually-hidden">Runs per status and p50/p95 duration per {unit}, UTC</caption>
          <thead>
            <tr>
              <th scope="col">{series.bucket === "hour" ? "Hour" : "Day"} (UTC)</th>
              <th scope="col">Runs</th>
              {executionStatuses.map((s) => <th key={s} scope="col">{statusLabels[s]}</th>)}
              <th scope="col">p50</th>
              <th scope="col">p95</th>
            </tr>
          </thead>
          <tbody>
            {series.buckets.map((b) => (
              <tr key={b.start} data-bucket={b.start}>
                <th scope="row">{bucketLabel(b.start, series.bucket)}</th>
                <td data-count="total">{b.total}</td>
                {executionStatuses.map((s) => <td key={s} data-count={s}>{b.byStatus[s]}</td>)}
                <td data-duration="p50">{formatDuration(b.p50DurationMs)}</td>
                <td data-duration="p95">{formatDuration(b.p95DurationMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}
