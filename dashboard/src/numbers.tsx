/**
 * Numbers for the selected workflow and time range, all from executions-stats (exact counts,
 * success rate and average; percentiles within 2%), and charts over time from its series
 * (`bucket=hour` for ranges up to 2 days, `bucket=day` above): rollups, never rows.
 */
import { useState } from "preact/hooks";
import { type Api, ApiError, type Series, type Stats, type WorkflowSummary } from "./api.ts";
import { DurationChart, RunsPerStatusChart, SeriesTable } from "./charts.tsx";
import { apiFilter, executionStatuses, type Filters, filtersToParams, formatDuration, formatPercent, type SeriesQuery, seriesQuery, statusLabels } from "./model.ts";
import { ErrorNote, FilterBar, LiveIndicator, usePolling } from "./ui.tsx";

export function NumbersPage(props: {
  api: Api;
  filters: Filters;
  onFilters: (filters: Filters) => void;
  workflows: WorkflowSummary[];
  workflowsDerived: boolean;
  pollIntervalMs: number;
}) {
  const { api, filters } = props;
  const [stats, setStats] = useState<Stats | null>(null);
  const [series, setSeries] = useState<{ key: string; query: SeriesQuery; series: Series } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [seriesError, setSeriesError] = useState<string | null>(null);
  const [paused, setPaused] = useState(false);
  const key = filtersToParams({ ...filters, status: [] }).toString();
  const lastUpdate = usePolling(async () => {
    // One clock for both reads, so a sliding range ("last 24 h") is the same range in both.
    const now = Date.now();
    const query = seriesQuery(filters, now);
    const [summary, buckets] = await Promise.allSettled([api.stats(apiFilter(filters, now)), api.series(query.filter)]);
    if (buckets.status === "fulfilled") {
      setSeries({ key, query, series: buckets.value });
      setSeriesError(null);
    } else {
      setSeriesError(`Could not load the charts: ${(buckets.reason as Error).message}`);
    }
    if (summary.status === "rejected") {
      setError(`Could not load the numbers: ${(summary.reason as Error).message}`);
      throw summary.reason;
    }
    setStats(summary.value);
    setError(null);
    // A failed series read marks the page as not up to date, except on an API that has no series at all.
    if (buckets.status === "rejected" && !(buckets.reason instanceof ApiError && buckets.reason.code === "no_series")) throw buckets.reason;
  }, props.pollIntervalMs, [key, api], !paused);
  // The charts of other filters are not shown while the new ones load.
  const shown = series && series.key === key ? series : null;

  const terminal = stats ? stats.byStatus.completed + stats.byStatus.failed + stats.byStatus.cancelled + stats.byStatus.timed_out : 0;
  const max = stats ? Math.max(1, ...executionStatuses.map((s) => stats.byStatus[s])) : 1;
  return (
    <section aria-labelledby="numbers-title">
      <div class="page-head">
        <h1 id="numbers-title">Numbers</h1>
        <LiveIndicator lastUpdate={lastUpdate} intervalMs={props.pollIntervalMs} paused={paused} onToggle={() => setPaused(!paused)} />
      </div>
      <FilterBar filters={{ ...filters, status: [] }} workflows={props.workflows} workflowsDerived={props.workflowsDerived} onChange={props.onFilters} />
      <ErrorNote error={error} />
      {!stats ? <p class="muted">Loading…</p> : (
        <>
          <div class="cards">
            <Card label="Runs" value={String(stats.total)} field="total" />
            <Card label="Success rate" value={formatPercent(stats.successRate)} field="success-rate" hint={`completed of ${terminal} finished`} />
            <Card label="Average duration" value={formatDuration(stats.avgDurationMs)} field="avg" />
            <Card label="p50 duration" value={formatDuration(stats.p50DurationMs)} field="p50" />
            <Card label="p95 duration" value={formatDuration(stats.p95DurationMs)} field="p95" />
          </div>
          <h2>Runs per status</h2>
          <table class="bars">
            <caption class="visually-hidden">Runs per status</caption>
            <tbody>
              {executionStatuses.map((s) => (
                <tr key={s}>
                  <th scope="row"><a href={`#/?${new URLSearchParams({ ...Object.fromEntries(filtersToParams(filters)), status: s })}`}>{statusLabels[s]}</a></th>
                  <td class="bar-cell">
                    <span class={`bar status-${s}`} style={{ width: `${(stats.byStatus[s] / max) * 100}%` }} aria-hidden="true" />
                  </td>
                  <td class="num" data-count={s}>{stats.byStatus[s]}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="muted small">Durations count finished runs. The percentiles come from a histogram of the durations: within 2% of the exact value.</p>
        </>
      )}
      <h2 id="over-time">Over time</h2>
      <ErrorNote error={seriesError} />
      {!shown ? (!seriesError && <p class="muted">Loading…</p>) : (
        <>
          <p class="muted small" data-series-range>
            {describeSeries(shown.query, shown.series)}
          </p>
          <div class="charts">
            <RunsPerStatusChart series={shown.series} />
            <DurationChart series={shown.series} />
          </div>
          <SeriesTable series={shown.series} />
        </>
      )}
    </section>
  );
}

function describeSeries(query: SeriesQuery, series: Series): string {
  const n = series.buckets.length;
  const unit = series.bucket === "hour" ? (n === 1 ? "hour" : "hours") : n === 1 ? "day" : "days";
  const first = series.buckets[0]?.start;
  const span = first ? ` from ${new Date(first).toLocaleString("en-GB", { timeZone: "UTC", day: "numeric", month: "short", year: "numeric", ...(series.bucket === "hour" ? { hour: "2-digit", minute: "2-digit" } : {}) })} UTC` : "";
  return `${n} ${unit}${span}${query.covers ? ` (${query.covers})` : ""}. Buckets are UTC ${series.bucket}s (a range up to 2 days per hour, a longer one per day); a first or last bucket cut by the range counts only the runs inside it.`;
}

function Card({ label, value, hint, field }: { label: string; value: string; hint?: string; field: string }) {
  return (
    <div class="card">
      <div class="card-label">{label}</div>
      <div class="card-value" data-stat={field}>{value}</div>
      {hint && <div class="card-hint muted">{hint}</div>}
    </div>
  );
}
