/**
 * Numbers for the selected workflow and time range, all from executions-stats (exact counts,
 * success rate and average; percentiles exact with a range, within 2% without). Charts over
 * time wait for the time-series stats of issue 11: no rows are fetched to fake them.
 */
import { useState } from "preact/hooks";
import type { Api, Stats, WorkflowSummary } from "./api.ts";
import { apiFilter, executionStatuses, type Filters, filtersToParams, formatDuration, formatPercent, statusLabels } from "./model.ts";
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
  const [error, setError] = useState<string | null>(null);
  const [paused, setPaused] = useState(false);
  const key = filtersToParams({ ...filters, status: [] }).toString();
  const lastUpdate = usePolling(async () => {
    try {
      setStats(await api.stats(apiFilter(filters)));
      setError(null);
    } catch (e) {
      setError(`Could not load the numbers: ${(e as Error).message}`);
      throw e;
    }
  }, props.pollIntervalMs, [key, api], !paused);

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
          <p class="muted small">Durations count finished runs. Without a time range the percentiles come from a histogram (within 2%); with one they are exact.</p>
        </>
      )}
      <h2>Over time</h2>
      <div class="placeholder" role="note">
        <strong>Charts over time are not available yet.</strong> Runs per status and p50/p95 per hour or day need the time-series
        statistics the API does not serve yet (issue 11). The dashboard will not fetch rows into the browser to fake them.
      </div>
    </section>
  );
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
