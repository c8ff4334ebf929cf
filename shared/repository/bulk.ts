/**
 * The SQL of bulk actions (`public.execution_bulk_actions` and its items, migration
 * 20261202000400_execution_bulk_actions.sql): counting a filter's matches as the owner,
 * accepting an action with the snapshot of its matched ids, the processor's lease, and one
 * batch's effect and progress. The action record and its items are the service role's; the
 * effects run as the owner (`actAsOwner`), so RLS decides which rows a batch can touch.
 */
import type { Tx } from "../db.ts";
import { literal } from "../db.ts";
import type { ExecutionFilter } from "../types.ts";
import { executionFilterCondition, filterDriver } from "./executions.ts";

export type BulkActionKind = "cancel" | "retry" | "delete";
export type BulkActionStatus = "queued" | "running" | "done" | "failed";

export interface BulkActionError {
  executionId: string;
  reason: string;
}

export interface BulkActionRecord {
  id: string;
  createdBy: string;
  requestId: string;
  action: BulkActionKind;
  filter: ExecutionFilter;
  status: BulkActionStatus;
  matched: number;
  done: number;
  failed: number;
  skipped: number;
  errors: BulkActionError[];
  lastError: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** At most this many per-row reasons are kept on a record. */
export const maxRecordedErrors = 100;

/** A batch-level failure this many times in a row fails the action. */
export const maxBatchAttempts = 5;

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : value === null || value === undefined ? null : String(value));

function toRecord(row: Row): BulkActionRecord {
  return {
    id: row.id,
    createdBy: row.created_by,
    requestId: row.request_id,
    action: row.action,
    filter: row.filter,
    status: row.status,
    matched: row.matched,
    done: row.done,
    failed: row.failed,
    skipped: row.skipped,
    errors: row.errors,
    lastError: row.last_error,
    createdAt: iso(row.created_at)!,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}

/** A uuid[] bound as a text array literal (see listExecutions in executions.ts on binding arrays). */
const uuidArray = (ids: string[]) => `{${ids.join(",")}}`;

// ---------------------------------------------------------------------------------------------
// Accepting (counting as the owner; the record and its snapshot as the service role)
// ---------------------------------------------------------------------------------------------

/**
 * How many of the caller's executions match `filter`, counted up to `cap` (a dry run, and the
 * bound: counting stops there, so a filter matching millions costs `cap` index entries). Runs
 * in the caller's transaction: RLS limits a user to their rows; `ownerId` repeats it for the
 * planner, as the list does.
 */
export async function countMatches(tx: Tx, filter: ExecutionFilter, ownerId: string, cap: number): Promise<number> {
  const [row] = await tx`
    select count(*)::int as matched from (${matchedIds(tx, filter, ownerId)} limit ${cap}) m`;
  return row.matched;
}

/**
 * The ids of the owner's executions matching `filter` (as `id`). A tag or metadata filter is
 * driven from its side table's index (`filterDriver`, as the list is): only the rows carrying
 * the first tag or pair are read, not every row of the owner.
 */
function matchedIds(tx: Tx, filter: ExecutionFilter, owner: string) {
  const driver = filterDriver(tx, filter, owner);
  if (driver) return tx`select e.id from ${driver.rows}`;
  return tx`select e.id from public.workflow_executions e
     where e.created_by = ${owner}::uuid and ${executionFilterCondition(tx, filter)}`;
}

/**
 * Inserts the record of a new action, or returns the owner's existing one of this request id
 * (`created: false`). A concurrent insert of the same key waits on the unique index until the
 * first commits, then finds its row.
 */
export async function insertAction(
  tx: Tx,
  action: { owner: string; requestId: string; action: BulkActionKind; filter: ExecutionFilter },
): Promise<{ record: BulkActionRecord; created: boolean }> {
  const inserted = await tx`
    insert into public.execution_bulk_actions (created_by, request_id, action, filter, matched)
    values (${action.owner}::uuid, ${action.requestId}, ${action.action}, ${tx.json(action.filter as never)}::jsonb, 0)
    on conflict (created_by, request_id) do nothing
    returning *`;
  if (inserted.length) return { record: toRecord(inserted[0]), created: true };
  const [existing] = await tx`
    select * from public.execution_bulk_actions where created_by = ${action.owner}::uuid and request_id = ${action.requestId}`;
  return { record: toRecord(existing), created: false };
}

/**
 * Snapshots the ids of the owner's executions matching `filter` as the action's items, up to
 * `cap` of them, and records the count as `matched`; returns it. As the service role (the
 * owner cannot write items): the owner condition is explicit here, and every batch later acts
 * as the owner under RLS.
 */
export async function snapshotItems(tx: Tx, actionId: string, owner: string, filter: ExecutionFilter, cap: number): Promise<number> {
  const [row] = await tx`
    with items as (
      insert into public.execution_bulk_action_items (action_id, execution_id)
      select ${actionId}::uuid, m.id from (${matchedIds(tx, filter, owner)} limit ${cap}) m
      returning 1
    )
    select count(*)::int as matched from items`;
  await tx`update public.execution_bulk_actions set matched = ${row.matched} where id = ${actionId}`;
  return row.matched;
}

export async function findActionByRequest(tx: Tx, owner: string, requestId: string): Promise<BulkActionRecord | null> {
  const rows = await tx`select * from public.execution_bulk_actions where created_by = ${owner}::uuid and request_id = ${requestId}`;
  return rows.length ? toRecord(rows[0]) : null;
}

export async function findAction(tx: Tx, id: string): Promise<BulkActionRecord | null> {
  const rows = await tx`select * from public.execution_bulk_actions where id = ${id}`;
  return rows.length ? toRecord(rows[0]) : null;
}

/** The caller's most recent actions (RLS: a user's own; the service role: one owner's, or everyone's). */
export async function listActions(tx: Tx, ownerId: string | null, limit: number): Promise<BulkActionRecord[]> {
  const rows = await tx`
    select * from public.execution_bulk_actions
     where true ${ownerId ? tx`and created_by = ${ownerId}::uuid` : tx``}
     order by created_at desc, id desc
     limit ${limit}`;
  return rows.map(toRecord);
}

/**
 * Asks pg_net to call `POST /executions-bulk/process` after this transaction commits (if any
 * action is unfinished), and with `stops` also the timeout sweeper, whose stop phase sends the
 * stop requests a cancel or delete made without waiting for its next minute.
 */
export async function requestProcessing(tx: Tx, options: { stops?: boolean } = {}): Promise<void> {
  await tx`select public.execution_bulk_actions_kick(${options.stops ?? false})`;
}

// ---------------------------------------------------------------------------------------------
// The processor's lease
// ---------------------------------------------------------------------------------------------

/**
 * Takes the lease of one unfinished action nobody holds (oldest first; `id`: only that one;
 * `except`: not those, which this run already worked on): running from now on, claimed by
 * `token` for `leaseSeconds`. Null when there is none free.
 */
export async function claimAction(
  tx: Tx,
  token: string,
  leaseSeconds: number,
  options: { id?: string; except?: string[] } = {},
): Promise<BulkActionRecord | null> {
  const { id, except = [] } = options;
  const rows = await tx`
    update public.execution_bulk_actions a
       set status = 'running', claimed_by = ${token}::uuid,
           claimed_until = now() + make_interval(secs => ${leaseSeconds}::double precision),
           started_at = coalesce(a.started_at, now()), updated_at = now()
     where a.id = (
       select f.id from public.execution_bulk_actions f
        where f.status in ('queued', 'running') and (f.claimed_until is null or f.claimed_until < now())
          ${id ? tx`and f.id = ${id}::uuid` : tx``}
          ${except.length ? tx`and f.id <> all(${uuidArray(except)}::uuid[])` : tx``}
        order by f.created_at
        limit 1
        for update skip locked)
    returning a.*`;
  return rows.length ? toRecord(rows[0]) : null;
}

/** Gives the lease back (the next processor may take the action at once). */
export async function releaseAction(tx: Tx, id: string, token: string): Promise<void> {
  await tx`
    update public.execution_bulk_actions set claimed_by = null, claimed_until = null, updated_at = now()
     where id = ${id} and claimed_by = ${token}::uuid`;
}

/**
 * The next batch: up to `limit` items of the action, locked (`skip locked`), provided `token`
 * still holds the lease, which is extended. Empty when the lease was lost or nothing is left.
 */
export async function lockBatch(tx: Tx, actionId: string, token: string, limit: number, leaseSeconds: number): Promise<string[]> {
  const held = await tx`
    update public.execution_bulk_actions
       set claimed_until = now() + make_interval(secs => ${leaseSeconds}::double precision), updated_at = now()
     where id = ${actionId} and claimed_by = ${token}::uuid and claimed_until > now()
    returning id`;
  if (!held.length) return [];
  const rows = await tx`
    select execution_id from public.execution_bulk_action_items
     where action_id = ${actionId}
     order by execution_id
     limit ${limit}
     for update skip locked`;
  return rows.map((row) => row.execution_id as string);
}

/** Whether `token` still holds the action's lease. */
export async function holdsLease(tx: Tx, actionId: string, token: string): Promise<boolean> {
  const rows = await tx`
    select 1 from public.execution_bulk_actions where id = ${actionId} and claimed_by = ${token}::uuid and claimed_until > now()`;
  return rows.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Acting as the owner inside the batch's transaction
// ---------------------------------------------------------------------------------------------

/**
 * Switches this transaction to the owner, as PostgREST would run them (role authenticated,
 * request.jwt.claims with their sub): from here RLS and the column grants decide. `stopClaim`
 * 'tracker' makes the stop requests this transaction causes unclaimed and webhook-free: the
 * sweeper's stop phase sends each once (docs/architecture.md §2).
 */
export async function actAsOwner(tx: Tx, owner: string, options: { stopClaim?: "tracker" } = {}): Promise<void> {
  const claims = JSON.stringify({ sub: owner, role: "authenticated", aud: "authenticated" });
  await tx.unsafe(
    `select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${literal(claims)}, true)` +
      (options.stopClaim ? `, set_config('execution_tracker.stop_claim', ${literal(options.stopClaim)}, true)` : ""),
  );
}

/** Back to the service role, to record the batch's progress (the owner cannot write the record). */
export async function actAsService(tx: Tx): Promise<void> {
  await tx.unsafe(
    `select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{"role":"service_role"}', true), ` +
      `set_config('execution_tracker.stop_claim', '', true)`,
  );
}

/** What a batch statement did: rows acted on, rows with nothing to do, rows locked by a writer (left for a later batch). */
export interface RowOutcomes {
  acted: string[];
  /** Terminal already (or a stop already requested), or no longer visible to the owner: each with why. */
  skipped: { id: string; reason: "terminal" | "stopping" | "gone" }[];
  locked: string[];
}

/**
 * Cancels the live rows among `ids` as the owner, one statement: a `reported` row ends as
 * cancelled at once; a row the tracker acts on becomes a stop request by trigger (stays live
 * with stopRequestedAt until the stop phase confirms). Rows a writer holds are skipped
 * (`skip locked`) and reported as locked, never waited for.
 */
export async function cancelRows(tx: Tx, ids: string[]): Promise<RowOutcomes> {
  const rows = await tx`
    with target as (
      select e.id, e.status::text as status, e.stop_requested_at from public.workflow_executions e
       where e.id = any(${uuidArray(ids)}::uuid[])
       for update of e skip locked
    ), cancelled as (
      update public.workflow_executions e set status = 'cancelled'
        from target t
       where e.id = t.id and t.status in ('pending', 'running') and t.stop_requested_at is null
      returning e.id
    )
    select t.id, t.status, t.stop_requested_at is not null as stopping, c.id is not null as acted
      from target t left join cancelled c on c.id = t.id`;
  const outcomes = await withLockedAndGone(tx, ids, rows.map((row) => row.id));
  for (const row of rows) {
    if (row.acted) outcomes.acted.push(row.id);
    else outcomes.skipped.push({ id: row.id, reason: row.stopping && ["pending", "running"].includes(row.status) ? "stopping" : "terminal" });
  }
  return outcomes;
}

/**
 * Deletes the rows among `ids` as the owner, one statement; a live acted-on row leaves its
 * tombstone (a terminate request) for the stop phase. Locked rows are left for later.
 */
export async function deleteRows(tx: Tx, ids: string[]): Promise<RowOutcomes> {
  const rows = await tx`
    with target as (
      select e.id from public.workflow_executions e
       where e.id = any(${uuidArray(ids)}::uuid[])
       for update of e skip locked
    )
    delete from public.workflow_executions e using target t where e.id = t.id
    returning e.id`;
  const outcomes = await withLockedAndGone(tx, ids, rows.map((row) => row.id));
  outcomes.acted.push(...rows.map((row) => row.id as string));
  return outcomes;
}

/** The ids a statement did not reach: still there (a writer holds them: locked) or gone / invisible to the owner. */
async function withLockedAndGone(tx: Tx, ids: string[], reached: string[]): Promise<RowOutcomes> {
  const seen = new Set(reached);
  const unreached = ids.filter((id) => !seen.has(id));
  const outcomes: RowOutcomes = { acted: [], skipped: [], locked: [] };
  if (!unreached.length) return outcomes;
  const present = new Set((await tx`
    select id from public.workflow_executions where id = any(${uuidArray(unreached)}::uuid[])`).map((row) => row.id as string));
  for (const id of unreached) {
    if (present.has(id)) outcomes.locked.push(id);
    else outcomes.skipped.push({ id, reason: "gone" });
  }
  return outcomes;
}

// ---------------------------------------------------------------------------------------------
// Progress (as the service role, in the batch's transaction)
// ---------------------------------------------------------------------------------------------

/**
 * Deletes the handled items and adds the batch's counts (and the first failures, up to
 * `maxRecordedErrors`) to the record; an action with no items left is done. Returns the record.
 */
export async function recordProgress(
  tx: Tx,
  actionId: string,
  progress: { handled: string[]; done: number; failed: number; skipped: number; errors: BulkActionError[] },
): Promise<BulkActionRecord> {
  if (progress.handled.length) {
    await tx`
      delete from public.execution_bulk_action_items
       where action_id = ${actionId} and execution_id = any(${uuidArray(progress.handled)}::uuid[])`;
  }
  const [row] = await tx`
    update public.execution_bulk_actions a set
      done = a.done + ${progress.done}, failed = a.failed + ${progress.failed}, skipped = a.skipped + ${progress.skipped},
      errors = (select coalesce(jsonb_agg(kept.x order by kept.n), '[]'::jsonb) from (
                  select x, n from jsonb_array_elements(a.errors || ${tx.json(progress.errors as never)}::jsonb) with ordinality t(x, n)
                   order by n limit ${maxRecordedErrors}) kept),
      attempts = 0, last_error = null,
      status = case when l.more then a.status else 'done' end,
      finished_at = case when l.more then null else now() end,
      claimed_by = case when l.more then a.claimed_by end,
      claimed_until = case when l.more then a.claimed_until end,
      updated_at = now()
      from (select exists (select from public.execution_bulk_action_items i where i.action_id = ${actionId}) as more) l
     where a.id = ${actionId}
    returning a.*`;
  return toRecord(row);
}

/** A batch failed as a whole (not one row): counted; after `maxBatchAttempts` in a row the action is failed. */
export async function recordBatchFailure(tx: Tx, actionId: string, token: string, error: string): Promise<BulkActionRecord | null> {
  const rows = await tx`
    update public.execution_bulk_actions set
      attempts = attempts + 1, last_error = ${error.slice(0, 1000)},
      status = case when attempts + 1 >= ${maxBatchAttempts} then 'failed' else status end,
      finished_at = case when attempts + 1 >= ${maxBatchAttempts} then now() end,
      claimed_by = null, claimed_until = null, updated_at = now()
     where id = ${actionId} and claimed_by = ${token}::uuid
    returning *`;
  return rows.length ? toRecord(rows[0]) : null;
}

/** Whether any action is unfinished (the dev server's interval and the re-kick ask before working). */
export async function hasUnfinishedActions(tx: Tx): Promise<boolean> {
  const rows = await tx`select 1 from public.execution_bulk_actions where status in ('queued', 'running') limit 1`;
  return rows.length > 0;
}
