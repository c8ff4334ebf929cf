/**
 * The SQL of statistics: the summary and the time series, both computed in SQL over the
 * trigger-maintained rollups (supabase/migrations/20261125000300_execution_stats.sql,
 * 20261201000500_execution_time_series.sql). Runs inside a caller's transaction, so RLS scopes
 * what is counted.
 */
import type { Tx } from "../db.ts";
import type { StatsBucket } from "../types.ts";

export interface StatsRow {
  total: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  timed_out: number;
  success_rate: number | null;
  avg_duration_ms: number | null;
  p50_duration_ms: number | null;
  p95_duration_ms: number | null;
}

export interface StatsBucketRow extends StatsRow {
  /** The bucket's UTC start, ISO 8601 with milliseconds. */
  bucket_start: string;
}

const statsColumns = (tx: Tx) => tx`
  total::float8, pending::float8, running::float8, completed::float8, failed::float8,
  cancelled::float8, timed_out::float8, success_rate, avg_duration_ms,
  p50_duration_ms::float8, p95_duration_ms::float8`;

/** One row for the caller's scope through `execution_stats_summary`. */
export async function readStats(tx: Tx, filter: { workflowId?: string; startedAfter?: string; startedBefore?: string }): Promise<StatsRow> {
  const [row] = await tx`
    select ${statsColumns(tx)}
      from public.execution_stats_summary(${filter.workflowId ?? null}::uuid,
             ${filter.startedAfter ?? null}::text::timestamptz, ${filter.startedBefore ?? null}::text::timestamptz)`;
  return row as unknown as StatsRow;
}

/** Every bucket of the range, oldest first, through `execution_stats_series`. */
export async function readStatsSeries(
  tx: Tx,
  filter: { bucket: StatsBucket; workflowId?: string; startedAfter?: string; startedBefore?: string },
): Promise<StatsBucketRow[]> {
  const rows = await tx`
    select to_char(bucket_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as bucket_start, ${statsColumns(tx)}
      from public.execution_stats_series(${filter.bucket}::text,
             ${filter.startedAfter ?? null}::text::timestamptz, ${filter.startedBefore ?? null}::text::timestamptz,
             ${filter.workflowId ?? null}::uuid)`;
  return rows as unknown as StatsBucketRow[];
}
