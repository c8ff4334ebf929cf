/**
 * The runs page: newest first, status chips with counts (executions-stats), filters kept in the
 * URL, keyset "load more" with the API's nextCursor, and live updates by polling: every
 * pollIntervalMs the newest rows (as many as are shown plus a page, at most 100) and the stats
 * are read again and merged by id (model.ts mergeWindow), so new runs appear and statuses change
 * in place. Bulk actions (bulk.tsx) act on every run matching the filters.
 */
import { useMemo, useRef, useState } from "preact/hooks";
import type { Api, Run, Stats, WorkflowSummary } from "./api.ts";
import {
  apiFilter,
  appendPage,
  executionStatuses,
  type ExecutionStatus,
  type Filters,
  filtersToParams,
  formatDuration,
  formatPercent,
  formatRelative,
  formatTime,
  mergeWindow,
  pollLimit,
  runDuration,
  type RunsList,
  statusLabels,
  stuckLabel,
  stuckState,
  withTag,
} from "./model.ts";
import { BulkActions } from "./bulk.tsx";
import { ErrorNote, FilterBar, LiveIndicator, StatusBadge, TagList, usePolling } from "./ui.tsx";

export const PAGE_SIZE = 25;

export function RunsPage(props: {
  api: Api;
  filters: Filters;
  onFilters: (filters: Filters) => void;
  workflows: WorkflowSummary[];
  workflowsDerived: boolean;
  onRowsSeen: (rows: Run[]) => void;
  pollIntervalMs: number;
  notice: string | null;
  onDismissNotice: () => void;
  /** Bulk actions act for one owner: a user, not the service role (which would have to name one). */
  canBulk: boolean;
}) {
  const { api, filters } = props;
  const filterKey = filtersToParams(filters).toString();
  const [list, setList] = useState<RunsList & { key: string; loaded: boolean }>({ rows: [], cursor: null, key: filterKey, loaded: false });
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [paused, setPaused] = useState(false);
  const [now, setNow] = useState(Date.now());
  const listRef = useRef(list);
  listRef.current = list;
  const keyRef = useRef(filterKey);
  keyRef.current = filterKey;

  // A new filter starts a new list at once (never merge rows of another filter).
  const current = list.key === filterKey ? list : { rows: [], cursor: null, key: filterKey, loaded: false };

  const lastUpdate = usePolling(async () => {
    const key = filterKey;
    const shown = listRef.current.key === key ? listRef.current.rows.length : 0;
    const limit = pollLimit(shown, PAGE_SIZE);
    const filter = apiFilter(filters);
    try {
      const [window, newStats] = await Promise.all([api.listRuns(filter, { limit }), api.stats(filter)]);
      if (keyRef.current !== key) return; // the filters changed while this was in flight
      setList((prev) => {
        const base = prev.key === key ? prev : { rows: [], cursor: null, key, loaded: false };
        return { ...mergeWindow(base, window, limit), key, loaded: true };
      });
      setStats(newStats);
      setNow(Date.now());
      setError(null);
      props.onRowsSeen(window.data);
    } catch (e) {
      setError(`Could not refresh: ${(e as Error).message}`);
      throw e;
    }
  }, props.pollIntervalMs, [filterKey, api], !paused);

  async function loadMore() {
    const from = listRef.current;
    if (!from.cursor || from.key !== filterKey) return;
    setLoadingMore(true);
    try {
      const page = await api.listRuns(apiFilter(filters), { limit: PAGE_SIZE, cursor: from.cursor });
      // Only onto the list the cursor belongs to (a poll may have replaced it meanwhile: click again).
      setList((prev) => (prev.key === from.key && prev.cursor === from.cursor ? { ...appendPage(prev, page), key: prev.key, loaded: true } : prev));
      props.onRowsSeen(page.data);
      setError(null);
    } catch (e) {
      setError(`Could not load more: ${(e as Error).message}`);
    } finally {
      setLoadingMore(false);
    }
  }

  const toggleStatus = (status: ExecutionStatus | null) => {
    if (status === null) return props.onFilters({ ...filters, status: [] });
    const next = filters.status.includes(status) ? filters.status.filter((s) => s !== status) : [...filters.status, status];
    props.onFilters({ ...filters, status: executionStatuses.filter((s) => next.includes(s)) });
  };

  const matching = useMemo(() => {
    if (!stats) return null;
    return filters.status.length ? filters.status.reduce((sum, s) => sum + stats.byStatus[s], 0) : stats.total;
  }, [stats, filters.status]);
  const stuckCount = current.rows.filter((r) => stuckState(r, now)).length;

  return (
    <section aria-labelledby="runs-title">
      <div class="page-head">
        <h1 id="runs-title">Runs</h1>
        <LiveIndicator lastUpdate={lastUpdate} intervalMs={props.pollIntervalMs} paused={paused} onToggle={() => setPaused(!paused)} />
      </div>
      <ErrorNote error={props.notice} onDismiss={props.onDismissNotice} />
      <FilterBar filters={filters} workflows={props.workflows} workflowsDerived={props.workflowsDerived} onChange={props.onFilters} />
      <div class="chips" role="group" aria-label="Filter by status (counts for the workflow and time range)">
        <button type="button" class="chip" aria-pressed={filters.status.length === 0} onClick={() => toggleStatus(null)}>
          All <span class="count" data-count="total">{stats ? stats.total : "…"}</span>
        </button>
        {executionStatuses.map((s) => (
          <button key={s} type="button" class={`chip status-${s}`} data-status={s} aria-pressed={filters.status.includes(s)} onClick={() => toggleStatus(s)}>
            {statusLabels[s]} <span class="count" data-count={s}>{stats ? stats.byStatus[s] : "…"}</span>
          </button>
        ))}
      </div>
      {stats && (
        <p class="summary">
          Success rate <strong data-summary="success-rate">{formatPercent(stats.successRate)}</strong> · p50{" "}
          <strong>{formatDuration(stats.p50DurationMs)}</strong> · p95 <strong>{formatDuration(stats.p95DurationMs)}</strong>
          {stuckCount > 0 && <> · <span class="stuck-count">{stuckCount} stuck shown</span></>}
          {" "}· <a href={`#/numbers?${filterKey}`}>All numbers</a>
        </p>
      )}
      {props.canBulk && <BulkActions api={api} filter={() => apiFilter(filters)} pollIntervalMs={props.pollIntervalMs} />}
      <ErrorNote error={error} />
      {!current.loaded ? (
        <p class="muted">Loading runs…</p>
      ) : current.rows.length === 0 ? (
        <p class="empty">No runs match these filters.</p>
      ) : (
        <table class="runs data">
          <caption class="visually-hidden">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Workflow</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Temporal workflow id</th>
            </tr>
          </thead>
          <tbody>
            {current.rows.map((run) => <RunRow key={run.id} run={run} now={now} onTag={(tag) => props.onFilters(withTag(filters, tag))} />)}
          </tbody>
        </table>
      )}
      <div class="more">
        {current.loaded && (
          <p class="muted" data-shown={current.rows.length}>
            Showing {current.rows.length}
            {matching !== null ? ` of ${matching}` : ""}
          </p>
        )}
        {current.cursor && (
          <button type="button" class="secondary" onClick={loadMore} disabled={loadingMore}>
            {loadingMore ? "Loading…" : "Load more"}
          </button>
        )}
      </div>
    </section>
  );
}

function RunRow({ run, now, onTag }: { run: Run; now: number; onTag: (tag: string) => void }) {
  const stuck = stuckState(run, now);
  return (
    <tr class={stuck ? "stuck" : undefined} data-run-id={run.id} data-status={run.status}>
      <td data-label="Status">
        <span class="badges">
          <StatusBadge status={run.status} />
          {stuck && <span class="badge stuck" title={stuckLabel(stuck, now)}>{stuck.kind === "overdue" ? "Overdue" : "Stop unconfirmed"}</span>}
        </span>
      </td>
      <td data-label="Workflow">
        <a class="run-link" href={`#/runs/${run.id}`}>{run.workflow?.name ?? run.workflowId}</a>
        {stuck && <span class="visually-hidden">: {stuckLabel(stuck, now)}</span>}
        <TagList tags={run.tags ?? []} onTag={onTag} />
      </td>
      <td data-label="Started"><time dateTime={run.startedAt} title={formatTime(run.startedAt)}>{formatRelative(run.startedAt, now)}</time></td>
      <td data-label="Duration">{formatDuration(runDuration(run, now))}</td>
      <td data-label="Temporal id"><span class="mono ellipsis" title={run.temporalWorkflowId ?? undefined}>{run.temporalWorkflowId ?? "–"}</span></td>
    </tr>
  );
}
