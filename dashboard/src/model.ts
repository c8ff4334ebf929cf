/**
 * The pure parts of the pages: filters in the URL, time ranges, the runs list merged from
 * pages and polls (keyset order, never a row twice or a gap), and what counts as stuck.
 */
import { executionStatuses, type ExecutionStatus, isLive } from "../../shared/status.ts";
import type { Run, RunFilter } from "./api.ts";

export { executionStatuses, isLive };
export type { ExecutionStatus };

export type RangePreset = "all" | "1h" | "24h" | "7d" | "custom";
export const rangePresets: { value: RangePreset; label: string; ms?: number }[] = [
  { value: "all", label: "All time" },
  { value: "1h", label: "Last hour", ms: 3600_000 },
  { value: "24h", label: "Last 24 h", ms: 24 * 3600_000 },
  { value: "7d", label: "Last 7 days", ms: 7 * 24 * 3600_000 },
  { value: "custom", label: "Custom range" },
];

export interface Filters {
  status: ExecutionStatus[];
  workflowId: string | null;
  range: RangePreset;
  /** ISO 8601 instants (custom range): from inclusive, to exclusive, as the API takes them. */
  from: string | null;
  to: string | null;
}

export const emptyFilters: Filters = { status: [], workflowId: null, range: "all", from: null, to: null };

export function parseFilters(params: URLSearchParams): Filters {
  const status = (params.get("status") ?? "").split(",").filter((s): s is ExecutionStatus => (executionStatuses as readonly string[]).includes(s));
  const range = rangePresets.some((p) => p.value === params.get("range")) ? (params.get("range") as RangePreset) : "all";
  const instant = (key: string) => {
    const value = params.get(key);
    return value && !Number.isNaN(Date.parse(value)) ? new Date(value).toISOString() : null;
  };
  return { status, workflowId: params.get("workflow") || null, range, from: instant("from"), to: instant("to") };
}

export function filtersToParams(filters: Filters): URLSearchParams {
  const params = new URLSearchParams();
  if (filters.status.length) params.set("status", filters.status.join(","));
  if (filters.workflowId) params.set("workflow", filters.workflowId);
  if (filters.range !== "all") params.set("range", filters.range);
  if (filters.range === "custom") {
    if (filters.from) params.set("from", filters.from);
    if (filters.to) params.set("to", filters.to);
  }
  return params;
}

/** The API filter of these filters now: a preset slides with the clock (re-evaluated on each poll). */
export function apiFilter(filters: Filters, now = Date.now()): RunFilter {
  const preset = rangePresets.find((p) => p.value === filters.range);
  const startedAfter = preset?.ms ? new Date(now - preset.ms).toISOString() : filters.range === "custom" ? filters.from ?? undefined : undefined;
  const startedBefore = filters.range === "custom" ? filters.to ?? undefined : undefined;
  return {
    status: filters.status.length ? filters.status : undefined,
    workflowId: filters.workflowId ?? undefined,
    startedAfter,
    startedBefore,
  };
}

// ---------------------------------------------------------------------------------------------
// The runs list
// ---------------------------------------------------------------------------------------------

export interface RunsList {
  rows: Run[];
  /** The API's nextCursor after the last row (null: nothing older). */
  cursor: string | null;
}

/** The API's order: startedAt descending, then id descending. Negative when a comes first. */
export function compareRuns(a: Run, b: Run): number {
  const byTime = Date.parse(b.startedAt) - Date.parse(a.startedAt);
  if (byTime !== 0) return byTime;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** "Load more": the next page goes after the rows we have (the cursor guarantees no overlap; ids are checked anyway). */
export function appendPage(list: RunsList, page: { data: Run[]; nextCursor: string | null }): RunsList {
  const seen = new Set(list.rows.map((r) => r.id));
  return { rows: [...list.rows, ...page.data.filter((r) => !seen.has(r.id))], cursor: page.nextCursor };
}

/** How many rows a poll re-reads: those shown plus room for new arrivals (the API's maximum is 100). */
export function pollLimit(shown: number, pageSize: number): number {
  return Math.min(shown + pageSize, 100);
}

/**
 * Merges a poll (the newest `limit` rows, re-read) into the list. New runs appear at the top,
 * changed runs update in place, and deleted ones (or ones that no longer match the filter) go;
 * the list never grows downwards by itself (that is "load more"), and never holds a gap.
 *
 * Positions come from the API's own order wherever a row of ours is in the window: the API
 * orders by started_at in microseconds, the JSON carries milliseconds, so comparing times here
 * is only a fallback (for a last row that has gone).
 *  - our last row is in the window: the fresh rows down to it replace ours, our cursor stays;
 *  - it has gone, and the window passes where it was: the fresh rows before it;
 *  - the window ends before our last row: fresh rows, then ours after the window;
 *  - no row of ours in the window at all: start again from the window and its own cursor.
 */
export function mergeWindow(list: RunsList, window: { data: Run[]; nextCursor: string | null }, limit: number): RunsList {
  if (list.rows.length === 0) return { rows: window.data, cursor: window.nextCursor };
  const index = new Map(window.data.map((r, i) => [r.id, i]));
  const complete = window.data.length < limit;
  const last = list.rows[list.rows.length - 1];
  const k = index.get(last.id);
  if (k !== undefined) {
    return { rows: window.data.slice(0, k + 1), cursor: complete && k === window.data.length - 1 ? null : list.cursor };
  }
  const windowLast = window.data[window.data.length - 1];
  if (complete || compareRuns(windowLast, last) > 0) {
    const rows = window.data.filter((r) => compareRuns(r, last) < 0);
    return { rows, cursor: complete && rows.length === window.data.length ? null : list.cursor };
  }
  let anchor = -1;
  for (let i = list.rows.length - 1; i >= 0 && anchor < 0; i--) if (index.has(list.rows[i].id)) anchor = i;
  if (anchor < 0) return { rows: window.data, cursor: window.nextCursor };
  const older = list.rows.slice(anchor + 1).filter((r) => !index.has(r.id) && compareRuns(r, windowLast) > 0);
  return { rows: [...window.data, ...older], cursor: list.cursor };
}

// ---------------------------------------------------------------------------------------------
// Stuck runs
// ---------------------------------------------------------------------------------------------

export type Stuck = { kind: "overdue"; since: string } | { kind: "stop-unconfirmed"; since: string };

/**
 * A live run past its deadline (the sweeper times it out within a minute or so: longer means
 * nothing is sweeping), or one whose stop was requested and that Temporal has not confirmed.
 * `stopRequestedAt` is read when the API has it (older deployments do not).
 */
export function stuckState(run: Run, now = Date.now()): Stuck | null {
  if (!isLive(run.status)) return null;
  const stopRequestedAt = (run as { stopRequestedAt?: string | null }).stopRequestedAt ?? null;
  if (stopRequestedAt) return { kind: "stop-unconfirmed", since: stopRequestedAt };
  if (run.timeoutAt && Date.parse(run.timeoutAt) < now) return { kind: "overdue", since: run.timeoutAt };
  return null;
}

export function stuckLabel(stuck: Stuck, now = Date.now()): string {
  const ago = formatDuration(now - Date.parse(stuck.since));
  return stuck.kind === "overdue" ? `Overdue: past its timeout by ${ago}` : `Stop requested ${ago} ago, not confirmed by Temporal`;
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

export const statusLabels: Record<ExecutionStatus, string> = {
  pending: "Pending",
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  timed_out: "Timed out",
};

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "–";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function formatRelative(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  if (ms < 5_000) return "just now";
  if (ms < 60_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 3600_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 48 * 3600_000) return `${Math.round(ms / 3600_000)} h ago`;
  return `${Math.round(ms / 86_400_000)} d ago`;
}

export function formatPercent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)}%`;
}

/** How long a run has taken: its duration when ended, the time since it started while live. */
export function runDuration(run: Run, now = Date.now()): number | null {
  if (run.durationMs !== null && run.durationMs !== undefined) return run.durationMs;
  if (isLive(run.status)) return now - Date.parse(run.startedAt);
  return run.completedAt ? Date.parse(run.completedAt) - Date.parse(run.startedAt) : null;
}

/** A `datetime-local` input's value for an ISO instant, in the browser's time zone. */
export function toLocalInput(iso: string | null): string {
  if (!iso) return "";
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
