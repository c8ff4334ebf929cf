/**
 * The pure parts of the pages: filters in the URL, time ranges, the runs list merged from
 * pages and polls (keyset order, never a row twice or a gap), and what counts as stuck.
 */
import { executionStatuses, type ExecutionStatus, isLive } from "../../shared/status.ts";
import { metadataLimits, normalizeTags, tagLimits, tagRule } from "../../shared/execution-limits.ts";
import type { Run, RunFilter, SeriesFilter } from "./api.ts";

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
  /** Runs with all of these tags (sorted, as the API stores them). */
  tags: string[];
  /** Runs whose metadata has each of these values (as text), keys sorted: `metadata.<key>=<value>` in the URL and the API. */
  metadata: Record<string, string>;
  range: RangePreset;
  /** ISO 8601 instants (custom range): from inclusive, to exclusive, as the API takes them. */
  from: string | null;
  to: string | null;
}

export const emptyFilters: Filters = { status: [], workflowId: null, tags: [], metadata: {}, range: "all", from: null, to: null };

/**
 * Tags typed into the filter (separated by commas or spaces): the tags, or what is wrong with
 * them in words (the API would answer 400, so the filter is not applied).
 */
export function parseTagInput(text: string): { tags: string[] } | { error: string } {
  const tags = normalizeTags(text.split(/[\s,]+/).filter(Boolean));
  const invalid = tags.find((t) => !tagLimits.pattern.test(t));
  if (invalid !== undefined) return { error: `"${invalid}" is not a tag: a tag is ${tagRule}` };
  if (tags.length > tagLimits.maxTags) return { error: `at most ${tagLimits.maxTags} tags` };
  return { tags };
}

/** The filters with this metadata value required (a click on a run's metadata), or with `key` dropped when `value` is null. */
export function withMetadata(filters: Filters, key: string, value: string | null): Filters {
  const metadata = { ...filters.metadata };
  if (value === null) delete metadata[key];
  else if (key in metadata || Object.keys(metadata).length < metadataLimits.maxKeys) metadata[key] = value;
  return { ...filters, metadata: sortedKeys(metadata) };
}

/** A metadata value as the filter compares it: the text PostgreSQL gives for it (`metadata->>key`). */
export function metadataText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

const sortedKeys = (record: Record<string, string>) => Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** `metadata.<key>=<value>` parameters the API would take (others are dropped, as a hand-edited URL may hold them). */
function metadataParams(params: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of params) {
    const key = name.startsWith("metadata.") ? name.slice("metadata.".length) : null;
    if (key === null || !metadataLimits.keyPattern.test(key) || value.length > metadataLimits.maxStringLength) continue;
    if (Object.keys(metadata).length < metadataLimits.maxKeys) metadata[key] = value;
  }
  return sortedKeys(metadata);
}

/** The filters with this tag added (a click on a run's tag). */
export function withTag(filters: Filters, tag: string): Filters {
  return filters.tags.includes(tag) || filters.tags.length >= tagLimits.maxTags ? filters : { ...filters, tags: normalizeTags([...filters.tags, tag]) };
}

export function parseFilters(params: URLSearchParams): Filters {
  const status = (params.get("status") ?? "").split(",").filter((s): s is ExecutionStatus => (executionStatuses as readonly string[]).includes(s));
  const range = rangePresets.some((p) => p.value === params.get("range")) ? (params.get("range") as RangePreset) : "all";
  const instant = (key: string) => {
    const value = params.get(key);
    return value && !Number.isNaN(Date.parse(value)) ? new Date(value).toISOString() : null;
  };
  const tags = parseTagInput(params.get("tag") ?? "");
  return {
    status,
    workflowId: params.get("workflow") || null,
    tags: "tags" in tags ? tags.tags : [],
    metadata: metadataParams(params),
    range,
    from: instant("from"),
    to: instant("to"),
  };
}

export function filtersToParams(filters: Filters): URLSearchParams {
  const params = new URLSearchParams();
  if (filters.status.length) params.set("status", filters.status.join(","));
  if (filters.workflowId) params.set("workflow", filters.workflowId);
  if (filters.tags.length) params.set("tag", filters.tags.join(","));
  for (const [key, value] of Object.entries(filters.metadata)) params.set(`metadata.${key}`, value);
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
    tags: filters.tags.length ? filters.tags : undefined,
    metadata: Object.keys(filters.metadata).length ? filters.metadata : undefined,
    startedAfter,
    startedBefore,
  };
}

// ---------------------------------------------------------------------------------------------
// The time series (charts over time)
// ---------------------------------------------------------------------------------------------

export const HOUR_MS = 3600_000;
export const DAY_MS = 24 * HOUR_MS;
/** Ranges up to this long are charted per hour, longer ones per day. */
export const HOURLY_UP_TO_MS = 2 * DAY_MS;
/** The API's limit on buckets per series. */
export const MAX_BUCKETS = 1000;

export interface SeriesQuery {
  filter: SeriesFilter;
  /** What the chart covers, in words ("the last 30 days" when the filters have no start). */
  covers: string | null;
  /** True when the range held more than MAX_BUCKETS days and only the last ones are charted. */
  clipped: boolean;
}

/**
 * The series query of these filters now: the filters' range in hour buckets up to 2 days, in
 * day buckets above, within the API's 1,000 buckets (a longer range charts its last 1,000 days).
 * Without a start (All time, or a custom range without From) the last 30 days, per day.
 */
export function seriesQuery(filters: Filters, now = Date.now()): SeriesQuery {
  const { workflowId, tags, metadata, startedAfter, startedBefore } = apiFilter(filters, now);
  if (!startedAfter) {
    return { filter: { bucket: "day", workflowId, tags, metadata, startedBefore }, covers: startedBefore ? "the 30 days before the end of the range" : "the last 30 days", clipped: false };
  }
  const before = startedBefore ? Date.parse(startedBefore) : now;
  const after = Date.parse(startedAfter);
  const bucket = before - after <= HOURLY_UP_TO_MS ? "hour" : "day";
  let clipped = false;
  let from = startedAfter;
  if (bucket === "day") {
    const lastStart = Math.floor((before - 1) / DAY_MS) * DAY_MS;
    const earliest = lastStart - (MAX_BUCKETS - 1) * DAY_MS;
    if (after < earliest) {
      clipped = true;
      from = new Date(earliest).toISOString();
    }
  }
  return { filter: { bucket, workflowId, tags, metadata, startedAfter: from, startedBefore }, covers: clipped ? `the last ${MAX_BUCKETS} days of the range` : null, clipped };
}

/** A bucket's span in words, UTC: "1 Dec 08:00–09:00 UTC", or "1 Dec 2026 (UTC)". */
export function bucketLabel(start: string, bucket: "hour" | "day"): string {
  const date = new Date(start);
  const day = date.toLocaleDateString("en-GB", { timeZone: "UTC", day: "numeric", month: "short", ...(bucket === "day" ? { year: "numeric" } : {}) });
  if (bucket === "day") return `${day} (UTC)`;
  const hh = (d: Date) => `${String(d.getUTCHours()).padStart(2, "0")}:00`;
  return `${day} ${hh(date)}–${hh(new Date(date.getTime() + HOUR_MS))} UTC`;
}

/** Round numbers for an axis from 0 to at least `max`: about `count` steps of 1, 2 or 5 × 10ⁿ (at least `minStep`). */
export function niceTicks(max: number, count = 4, minStep = 0): number[] {
  if (!(max > 0)) max = 1;
  const raw = Math.max(max / count, minStep);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw - 1e-9) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = 0; t < max + step - 1e-9; t += step) ticks.push(Math.round(t * 1e6) / 1e6);
  return ticks;
}

/** Durations on an axis: nice ticks in ms, s, min or h (so an axis reads 0, 2 s, 4 s, not 0, 2000, 4000). */
export function durationTicks(maxMs: number, count = 4): { ticks: number[]; label: (ms: number) => string } {
  const units: [number, string][] = [[HOUR_MS, "h"], [60_000, "min"], [1000, "s"], [1, "ms"]];
  const [unit, name] = units.find(([u]) => maxMs >= 2 * u) ?? units[units.length - 1];
  const ticks = niceTicks(maxMs / unit, count).map((t) => t * unit);
  return { ticks, label: (ms) => (ms === 0 ? "0" : `${Math.round((ms / unit) * 100) / 100} ${name}`) };
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
export function appendPage<T extends { id: string }>(list: { rows: T[]; cursor: string | null }, page: { data: T[]; nextCursor: string | null }): { rows: T[]; cursor: string | null } {
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

/**
 * A random idempotency key (a UUID v4). crypto.randomUUID exists only in secure contexts (https,
 * localhost); getRandomValues everywhere, so a dashboard served over plain http still works.
 */
export function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
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
