/**
 * The SQL of statistics: the summary and the time series, both computed in SQL over the
 * rollups plus the not-yet-folded stat deltas (supabase/migrations/20261125000300_execution_stats.sql,
 * 20261201000500_execution_time_series.sql, 20261202000200_execution_stat_deltas.sql; reads and
 * fold made cheaper in 20261202000300_execution_stats_reads.sql), and the fold that moves
 * deltas into the rollups. Reads run inside a caller's transaction, so RLS scopes what is
 * counted; each read is one statement (one snapshot), so it is exact whatever the fold's lag.
 */
import type { Sql, Tx } from "../db.ts";
import type { StatsBucket, StatsHistory } from "../types.ts";

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
  /** Deleted by retention but still counted above (20261202000200); absent: none (rows read). */
  pruned_executions?: number;
  /** ISO 8601: every pruned run counted above started before it; null or absent when none is. */
  pruned_before?: string | null;
}

export interface StatsBucketRow extends StatsRow {
  /** The bucket's UTC start, ISO 8601 with milliseconds. */
  bucket_start: string;
}

const isoUtc = (tx: Tx, column: string) => tx.unsafe(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

const statsColumns = (tx: Tx) => tx`
  total::float8, pending::float8, running::float8, completed::float8, failed::float8,
  cancelled::float8, timed_out::float8, success_rate, avg_duration_ms,
  p50_duration_ms::float8, p95_duration_ms::float8, pruned_executions::float8,
  ${isoUtc(tx, "pruned_before")} as pruned_before`;

/** One row for the caller's scope through `execution_stats_overview` (the summary and its history). */
export async function readStats(tx: Tx, filter: { workflowId?: string; startedAfter?: string; startedBefore?: string }): Promise<StatsRow> {
  const [row] = await tx`
    select ${statsColumns(tx)}
      from public.execution_stats_overview(${filter.workflowId ?? null}::uuid,
             ${filter.startedAfter ?? null}::text::timestamptz, ${filter.startedBefore ?? null}::text::timestamptz)`;
  return row as unknown as StatsRow;
}

/** Every bucket of the range, oldest first, through `execution_stats_buckets` (the series and its history). */
export async function readStatsSeries(
  tx: Tx,
  filter: { bucket: StatsBucket; workflowId?: string; startedAfter?: string; startedBefore?: string },
): Promise<StatsBucketRow[]> {
  const rows = await tx`
    select ${isoUtc(tx, "bucket_start")} as bucket_start, ${statsColumns(tx)}
      from public.execution_stats_buckets(${filter.bucket}::text,
             ${filter.startedAfter ?? null}::text::timestamptz, ${filter.startedBefore ?? null}::text::timestamptz,
             ${filter.workflowId ?? null}::uuid)`;
  return rows as unknown as StatsBucketRow[];
}

/** The `history` of an answer made of these rows (one summary row, or a series' buckets). */
export function statsHistory(rows: Pick<StatsRow, "pruned_executions" | "pruned_before">[]): StatsHistory {
  const prunedExecutions = rows.reduce((n, row) => n + (row.pruned_executions ?? 0), 0);
  const prunedBefore = rows.reduce<string | null>((latest, row) =>
    row.pruned_before && (!latest || row.pruned_before > latest) ? row.pruned_before : latest, null);
  return { includesPruned: prunedExecutions > 0, prunedExecutions, prunedBefore };
}

/**
 * Folds up to `limit` unfolded stat deltas into the rollups (one transaction; concurrent folds
 * take disjoint batches) and returns how many it folded. Reads are exact without it: folding
 * keeps them cheap. Needs a role that may execute private.fold_execution_stat_deltas (the
 * database owner or the service's own connection, as the sweeper has).
 */
export async function foldStatDeltas(sql: Sql, limit = 10_000): Promise<number> {
  const [{ folded }] = await sql`select private.fold_execution_stat_deltas(${limit}::int) as folded`;
  return folded as number;
}

/** Folds until no delta is left (tests, the bench, a drain at shutdown). Returns the total. */
export async function foldAllStatDeltas(sql: Sql, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const folded = await foldStatDeltas(sql, batch);
    total += folded;
    if (folded < batch) return total;
  }
}
