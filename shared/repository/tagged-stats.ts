/**
 * Statistics of a filter the rollups do not key on (tags, metadata, retryOf;
 * docs/architecture.md §5.1): aggregated from the matching rows themselves, exactly, in one
 * statement. A tag or metadata filter reads its rows through the side table's index (the same
 * driver as the list, shared/repository/executions.ts `filterDriver`), retryOf through
 * idx_workflow_executions_retry_of; the rest of the filter is checked on the row. The cost
 * grows with the matching rows (not rollup-fast: the bench says how much). Same answer shape
 * as shared/repository/stats.ts; runs inside the caller's transaction, so RLS scopes it.
 */
import type { Tx } from "../db.ts";
import type { ExecutionFilter, StatsBucket } from "../types.ts";
import { executionFilterCondition, filterDriver } from "./executions.ts";
import type { StatsBucketRow, StatsRow } from "./stats.ts";

/** A filter stats can take: the list filter without statuses (stats count every status). */
export type FilteredStatsQuery = Omit<ExecutionFilter, "status"> & { ownerId?: string | null };

/** Whether a filter needs the rows (a tag, a metadata pair or retryOf) rather than the rollups. */
export const needsRowStats = (filter: Omit<ExecutionFilter, "status">) =>
  Boolean(filter.tags?.length || Object.keys(filter.metadata ?? {}).length || filter.retryOf);

/** The matching rows as `e` (through the side table `d` when a tag or metadata pair drives). */
function matchingRows(tx: Tx, query: FilteredStatsQuery) {
  const driver = filterDriver(tx, query, query.ownerId);
  if (driver) return driver.rows;
  const owner = query.ownerId ? tx`and e.created_by = ${query.ownerId}::uuid` : tx``;
  return tx`public.workflow_executions e where ${executionFilterCondition(tx, query)} ${owner}`;
}

/** The stats columns of a group of rows `e` (as shared/repository/stats.ts names them). */
const aggregates = (tx: Tx) => tx`
  count(*)::float8 as total,
  (count(*) filter (where e.status = 'pending'))::float8 as pending,
  (count(*) filter (where e.status = 'running'))::float8 as running,
  (count(*) filter (where e.status = 'completed'))::float8 as completed,
  (count(*) filter (where e.status = 'failed'))::float8 as failed,
  (count(*) filter (where e.status = 'cancelled'))::float8 as cancelled,
  (count(*) filter (where e.status = 'timed_out'))::float8 as timed_out,
  (count(*) filter (where e.status = 'completed'))::float8
    / nullif(count(*) filter (where e.status in ('completed', 'failed', 'cancelled', 'timed_out')), 0) as success_rate,
  avg(e.duration_ms)::float8 as avg_duration_ms,
  (percentile_disc(0.50) within group (order by e.duration_ms))::float8 as p50_duration_ms,
  (percentile_disc(0.95) within group (order by e.duration_ms))::float8 as p95_duration_ms`;

export async function readFilteredStats(tx: Tx, query: FilteredStatsQuery): Promise<StatsRow> {
  const [row] = await tx`select ${aggregates(tx)} from ${matchingRows(tx, query)}`;
  return row as unknown as StatsRow;
}

/**
 * Every bucket of the range (UTC hours or 24-hour days), oldest first, empty ones included;
 * the range is explicit (shared/service.ts seriesRange decides it and its limits).
 */
export async function readFilteredStatsSeries(
  tx: Tx,
  query: FilteredStatsQuery & { bucket: StatsBucket; startedAfter: string; startedBefore: string },
): Promise<StatsBucketRow[]> {
  const step = query.bucket === "hour" ? "1 hour" : "24 hours";
  const rows = await tx`
    with buckets as (
      select g as bucket_start
        from generate_series(date_trunc(${query.bucket}::text, ${query.startedAfter}::text::timestamptz, 'UTC'),
                             ${query.startedBefore}::text::timestamptz - interval '1 microsecond', ${step}::interval) g
    ),
    grouped as (
      select date_trunc(${query.bucket}::text, e.started_at, 'UTC') as bucket_start, ${aggregates(tx)}
        from ${matchingRows(tx, query)}
       group by 1
    )
    select to_char(b.bucket_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as bucket_start,
           coalesce(g.total, 0) as total, coalesce(g.pending, 0) as pending, coalesce(g.running, 0) as running,
           coalesce(g.completed, 0) as completed, coalesce(g.failed, 0) as failed, coalesce(g.cancelled, 0) as cancelled,
           coalesce(g.timed_out, 0) as timed_out, g.success_rate, g.avg_duration_ms, g.p50_duration_ms, g.p95_duration_ms
      from buckets b left join grouped g on g.bucket_start = b.bucket_start
     order by b.bucket_start`;
  return rows as unknown as StatsBucketRow[];
}
