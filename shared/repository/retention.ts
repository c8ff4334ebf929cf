/**
 * The SQL of the sweeper's retention step (shared/sweeper.ts; migration
 * 20261202000600_execution_retention.sql): terminal executions deleted by the age of
 * `started_at`, globally and per owner (public.execution_retention_policies, which can only
 * shorten what an owner keeps: least(policy, global)).
 *
 * A rule is a retention period, for everyone or for one owner. Every batch of a rule is one
 * short service-role transaction that first marks itself as pruning (`execution_tracker.prune`,
 * so the statistics keep the deleted runs: §5.2), takes its rows oldest first with
 * `for update skip locked` (a row a writer holds is left for the next batch; nobody waits) and
 * resumes after the last row the previous batch deleted, so rows it walked past (live, locked,
 * failed) are not read again in the same sweep. Each batch reads an existing index in order and
 * stops after its rows: the global rule idx_workflow_executions_started (started_at desc, id desc)
 * backwards, an owner's rule idx_workflow_executions_created_by (created_by, started_at desc,
 * id desc) backwards. An owner's rule is a statement of its own with the owner as a value, so the
 * planner plans it with that owner's statistics (a heavy owner gets the ordered scan, not a
 * bitmap of all their rows).
 *
 * The deleted rows are then found by primary key (`= any(array(...))`: a join on the batch
 * could hash the whole table). The status list is literal: a plain filter of the index scan.
 */
import type { Tx } from "../db.ts";
import { type ClaimScope, eligible } from "./sweeper.ts";

/** A retention period: for every owner (`createdBy` absent), or for one owner's policy. */
export interface RetentionRule {
  retentionDays: number;
  createdBy?: string;
}

/** Where a rule's batches resume: the (started_at, id) of the last row deleted; started_at as PostgreSQL's text (microseconds kept). */
export interface RetentionCursor {
  startedAt: string;
  id: string;
}

/** A deleted row; `startedAt` as PostgreSQL's text. */
export type PrunedRow = RetentionCursor;

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

/** The statistics keep what this transaction deletes (migration 20261202000200, `execution_tracker.prune`). */
export async function markAsPruning(tx: Tx): Promise<void> {
  await tx`select set_config('execution_tracker.prune', 'on', true)`;
}

const expired = (tx: Tx, rule: RetentionRule, after: RetentionCursor | null, scope: Pick<ClaimScope, "skip" | "id">) => tx`
  ${rule.createdBy ? tx`e.created_by = ${rule.createdBy}::uuid and` : tx``}
  e.status in ('completed', 'failed', 'cancelled', 'timed_out')
  and e.started_at < now() - make_interval(days => ${rule.retentionDays})
  ${after ? tx`and (e.started_at, e.id) > (${after.startedAt}::timestamptz, ${after.id}::uuid)` : tx``}
  and ${eligible(tx, "retention", scope)}`;

/** Deletes one batch of the rule's expired rows, oldest first, after `after`; returns them in that order. */
export async function pruneExpired(tx: Tx, rule: RetentionRule, after: RetentionCursor | null, scope: ClaimScope): Promise<PrunedRow[]> {
  const rows = await tx<Row[]>`
    with batch as (
      select e.id from public.workflow_executions e
       where ${expired(tx, rule, after, scope)}
       order by e.started_at, e.id
       limit ${scope.limit}
       for update of e skip locked
    ), pruned as (
      delete from public.workflow_executions e
       where e.id = any(array(select id from batch))
      returning e.id, e.started_at
    )
    select id, started_at::text as started_at from pruned order by pruned.started_at, pruned.id`;
  return rows.map((row) => ({ id: row.id, startedAt: row.started_at }));
}

/** The ids pruneExpired would take (read only: for deleting them one by one). */
export async function expiredIds(tx: Tx, rule: RetentionRule, after: RetentionCursor | null, scope: ClaimScope): Promise<string[]> {
  const rows = await tx<Row[]>`
    select e.id from public.workflow_executions e
     where ${expired(tx, rule, after, scope)}
     order by e.started_at, e.id
     limit ${scope.limit}`;
  return rows.map((row) => row.id);
}

/** A row of policy `p` expired under it (for probes and counts over every policy). */
const expiredUnderPolicy = (tx: Tx) => tx`
  e.created_by = p.created_by
  and e.status in ('completed', 'failed', 'cancelled', 'timed_out')
  and e.started_at < now() - make_interval(days => p.retention_days)
  and ${eligible(tx, "retention", { skip: [] })}`;

/** The policies that apply: shorter than the global period, or all of them when there is none. */
const policyApplies = (tx: Tx, globalDays: number | null) => globalDays === null ? tx`true` : tx`p.retention_days < ${globalDays}`;

/** The owners' rules that have expired rows now (a probe of one row each), at most `limit`. */
export async function ownerRulesDue(tx: Tx, globalDays: number | null, limit: number): Promise<RetentionRule[]> {
  const rows = await tx<Row[]>`
    select p.created_by, p.retention_days
      from public.execution_retention_policies p
     where ${policyApplies(tx, globalDays)}
       and exists (select from public.workflow_executions e where ${expiredUnderPolicy(tx)})
     order by p.created_by
     limit ${limit}`;
  return rows.map((row) => ({ createdBy: row.created_by, retentionDays: row.retention_days }));
}

/**
 * Expired rows left, counted up to `upTo`: past the global period, plus those only an owner's
 * policy expires (started within the global period).
 */
export async function countExpired(tx: Tx, globalDays: number | null, upTo: number): Promise<number> {
  const global = globalDays === null ? tx`select 0` : tx`
    select count(*) from (
      select from public.workflow_executions e where ${expired(tx, { retentionDays: globalDays }, null, { skip: [] })} limit ${upTo}) g`;
  const [row] = await tx<Row[]>`
    select ((${global}) + (
      select count(*) from (
        select from public.execution_retention_policies p
         cross join lateral (
           select from public.workflow_executions e
            where ${expiredUnderPolicy(tx)}
              ${globalDays === null ? tx`` : tx`and e.started_at >= now() - make_interval(days => ${globalDays})`}
            limit ${upTo}) x
         where ${policyApplies(tx, globalDays)}
         limit ${upTo}) o))::int as n`;
  return Math.min(row.n, upTo);
}
