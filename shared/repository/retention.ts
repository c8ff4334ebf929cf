/**
 * The SQL of the sweeper's retention step (shared/sweeper.ts; migration
 * 20261202000600_execution_retention.sql): terminal executions deleted by the age of
 * `started_at`, globally and per owner (public.execution_retention_policies, which can only
 * shorten what an owner keeps: least(policy, global)).
 *
 * Every batch is one short service-role transaction that first marks itself as pruning
 * (`execution_tracker.prune`, so the statistics keep the deleted runs: §5.2), takes its rows
 * with `for update skip locked` (a row a writer holds is left for the next batch, nobody waits)
 * and finds them through an index, oldest first:
 *
 *   global     idx_workflow_executions_started (started_at desc, id desc), read backwards from
 *              the oldest row, resuming after the last row the previous batch deleted, so rows it
 *              walked past (live, locked, failed) are not read again in the same sweep;
 *   per owner  idx_workflow_executions_created_by (created_by, started_at desc, id desc), one
 *              probe per policy shorter than the global period (a lateral join).
 *
 * The status lists are literal so the planner sees them as plain filters of the index scan.
 */
import type { Tx } from "../db.ts";
import { type ClaimScope, eligible } from "./sweeper.ts";

/** Where the global pass resumes: the (started_at, id) of the last row it deleted; started_at as PostgreSQL's text (microseconds kept). */
export interface RetentionCursor {
  startedAt: string;
  id: string;
}

/** A deleted row; `startedAt` as PostgreSQL's text. */
export interface PrunedRow {
  id: string;
  startedAt: string;
}

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

/** The statistics keep what this transaction deletes (migration 20261202000200, `execution_tracker.prune`). */
export async function markAsPruning(tx: Tx): Promise<void> {
  await tx`select set_config('execution_tracker.prune', 'on', true)`;
}

const terminal = (tx: Tx) => tx`e.status in ('completed', 'failed', 'cancelled', 'timed_out')`;

// ---------------------------------------------------------------------------------------------
// Global: every terminal row started more than `retentionDays` ago
// ---------------------------------------------------------------------------------------------

const globallyExpired = (tx: Tx, retentionDays: number, after: RetentionCursor | null, scope: Pick<ClaimScope, "skip" | "id">) => tx`
  ${terminal(tx)}
  and e.started_at < now() - make_interval(days => ${retentionDays})
  ${after ? tx`and (e.started_at, e.id) > (${after.startedAt}::timestamptz, ${after.id}::uuid)` : tx``}
  and ${eligible(tx, "retention", scope)}`;

/** Deletes one batch of globally expired rows, oldest first, after `after`; returns them in that order. */
export async function pruneExpired(tx: Tx, retentionDays: number, after: RetentionCursor | null, scope: ClaimScope): Promise<PrunedRow[]> {
  const rows = await tx<Row[]>`
    with batch as (
      select e.id from public.workflow_executions e
       where ${globallyExpired(tx, retentionDays, after, scope)}
       order by e.started_at, e.id
       limit ${scope.limit}
       for update of e skip locked
    ), pruned as (
      delete from public.workflow_executions e using batch where e.id = batch.id
      returning e.id, e.started_at
    )
    select id, started_at::text as started_at from pruned order by pruned.started_at, pruned.id`;
  return rows.map((row) => ({ id: row.id, startedAt: row.started_at }));
}

/** The ids pruneExpired would take (read only: for deleting them one by one). */
export async function expiredIds(tx: Tx, retentionDays: number, after: RetentionCursor | null, scope: ClaimScope): Promise<string[]> {
  const rows = await tx<Row[]>`
    select e.id from public.workflow_executions e
     where ${globallyExpired(tx, retentionDays, after, scope)}
     order by e.started_at, e.id
     limit ${scope.limit}`;
  return rows.map((row) => row.id);
}

// ---------------------------------------------------------------------------------------------
// Per owner: the policies shorter than the global period (all of them when there is none)
// ---------------------------------------------------------------------------------------------

/** The rows expired under their owner's policy, at most `scope.limit`; locked (skip locked) when `lock`. */
const expiredByPolicy = (tx: Tx, globalDays: number | null, scope: ClaimScope, lock: boolean) => tx`
  select x.id
    from public.execution_retention_policies p
   cross join lateral (
     select e.id from public.workflow_executions e
      where e.created_by = p.created_by
        and ${terminal(tx)}
        and e.started_at < now() - make_interval(days => p.retention_days)
        and ${eligible(tx, "retention", scope)}
      order by e.started_at, e.id
      limit ${scope.limit}
      ${lock ? tx`for update of e skip locked` : tx``}
   ) x
   ${globalDays === null ? tx`` : tx`where p.retention_days < ${globalDays}`}
   limit ${scope.limit}`;

/** Deletes one batch of rows expired under their owner's policy. */
export async function pruneByPolicy(tx: Tx, globalDays: number | null, scope: ClaimScope): Promise<PrunedRow[]> {
  const rows = await tx<Row[]>`
    with batch as (${expiredByPolicy(tx, globalDays, scope, true)}),
    pruned as (
      delete from public.workflow_executions e using batch where e.id = batch.id
      returning e.id, e.started_at
    )
    select id, started_at::text as started_at from pruned`;
  return rows.map((row) => ({ id: row.id, startedAt: row.started_at }));
}

/** The ids pruneByPolicy would take (read only: for deleting them one by one). */
export async function expiredByPolicyIds(tx: Tx, globalDays: number | null, scope: ClaimScope): Promise<string[]> {
  const rows = await tx<Row[]>`${expiredByPolicy(tx, globalDays, scope, false)}`;
  return rows.map((row) => row.id);
}

/** Expired rows left under either rule, up to `upTo` (a row both rules expire may count twice). */
export async function countExpired(tx: Tx, globalDays: number | null, upTo: number): Promise<number> {
  const scope = { limit: upTo, skip: [] };
  const global = globalDays === null ? tx`select 0 as n` : tx`
    select count(*) as n from (
      select from public.workflow_executions e where ${globallyExpired(tx, globalDays, null, scope)} limit ${upTo}) g`;
  const [row] = await tx<Row[]>`
    select ((${global}) + (select count(*) from (${expiredByPolicy(tx, globalDays, scope, false)}) o))::int as n`;
  return Math.min(row.n, upTo);
}
