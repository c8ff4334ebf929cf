/**
 * The SQL of the timeout sweeper (shared/sweeper.ts): its claims, leases, adoption of
 * Temporal's outcome, and the per-row failure bookkeeping of public.execution_sweep_failures
 * (migration 20261201000400); its retention step is repository/retention.ts. One statement per
 * function; every function runs inside a service-role transaction (db.ts `withCaller`).
 *
 * Claims take rows with `for update skip locked`, so concurrent sweepers never handle the
 * same row, and skip rows a phase has backed off or parked. Each claim can take one batch, or
 * exactly one row (`id`): the sweeper falls back to row by row when a batch statement fails,
 * so that one row no statement can handle never holds up the others.
 *
 * Only the columns the sweeper needs come back: no row mapping that a value the database holds
 * (an infinite timestamp of a legacy row) could break.
 */
import type { Tx } from "../db.ts";
import type { Json } from "../types.ts";
import { jsonParam } from "./executions.ts";

/** The phases of a sweep that record per-row failures (the stop phase keeps its own, on the stop requests). */
export type SweepPhase = "deadlines" | "reconcile" | "redispatch" | "retention";

/** Which rows a claim may take: one batch, or exactly the row `id`; never the ids in `skip` (this run's failures). */
export interface ClaimScope {
  limit: number;
  skip: string[];
  id?: string;
}

/** A live row a phase took: what it needs to act on it in Temporal. */
export interface ClaimedRow {
  id: string;
  temporalWorkflowId: string;
  temporalRunId: string | null;
  /** Failed attempts of this phase so far (0: never failed). */
  attempts: number;
}

/** A row the deadline phase moved: `status` is timed_out, or still live when the update became a stop request. */
export interface OverdueRow {
  id: string;
  status: string;
}

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

/** Not backed off or parked by `phase`, and not among this run's failures (also repository/retention.ts). */
export const eligible = (tx: Tx, phase: SweepPhase, scope: Pick<ClaimScope, "skip" | "id">) => tx`
  not exists (select from public.execution_sweep_failures f
               where f.execution_id = e.id and f.phase = ${phase}
                 and (f.parked_at is not null or f.retry_at > now()))
  ${scope.skip.length ? tx`and e.id <> all(${tx.array(scope.skip)}::uuid[])` : tx``}
  ${scope.id ? tx`and e.id = ${scope.id}` : tx``}`;

// The live-status lists below are literal, not public.execution_status_is_terminal(): a
// partial index is used only when the query's condition spells out the index's own.
// A row with a stop requested already is the stop phase's (shared/stops.ts).
const overdue = (tx: Tx, scope: Pick<ClaimScope, "skip" | "id">) => tx`
  e.status in ('pending', 'running') and e.timeout_at is not null and e.timeout_at < now()
  and e.stop_requested_at is null
  and ${eligible(tx, "deadlines", scope)}`;

const dueLive = (tx: Tx, phase: "reconcile" | "redispatch", olderThanSeconds: number, leaseSeconds: number, scope: Pick<ClaimScope, "skip" | "id">) => tx`
  e.status = ${phase === "reconcile" ? "running" : "pending"}::text
  and e.temporal_link <> 'reported'
  and e.temporal_workflow_id is not null
  and e.stop_requested_at is null
  ${phase === "redispatch" ? tx`and (e.dispatch_claimed_until is null or e.dispatch_claimed_until < now())` : tx``}
  and coalesce(e.temporal_checked_at, e.started_at) < now() - make_interval(secs => ${olderThanSeconds})
  and (e.temporal_checked_at is null or e.temporal_checked_at < now() - make_interval(secs => ${leaseSeconds}))
  and ${eligible(tx, phase, scope)}`;

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

/**
 * The stop requests this transaction's writes cause are sent by the sweeper's own stop phase:
 * no webhook is queued for them (migration 20261201000300, `execution_tracker.stop_claim`).
 */
export async function markStopsAsSweepers(tx: Tx): Promise<void> {
  await tx`select set_config('execution_tracker.stop_claim', 'sweeper', true)`;
}

/**
 * Ends live rows past their deadline, oldest deadline first: a reported row becomes timed_out;
 * a row the tracker acts on in Temporal stays live with a stop request (reason timeout, by
 * trigger), which the stop phase sends and which ends the row once Temporal confirms.
 */
export async function timeOutOverdue(tx: Tx, scope: ClaimScope): Promise<OverdueRow[]> {
  const rows = await tx<Row[]>`
    with due as (
      select e.id from public.workflow_executions e
       where ${overdue(tx, scope)}
       order by e.timeout_at
       limit ${scope.limit}
       for update of e skip locked
    )
    update public.workflow_executions e
       set status = 'timed_out',
           -- Only on a row that ends here: an acted-on row stays live until Temporal confirms
           -- the stop, and may still complete on its own (shared/stops.ts writes its message).
           error_message = case when e.temporal_link = 'reported' or e.temporal_workflow_id is null
             then coalesce(e.error_message, 'timed out: no result before ' ||
               coalesce(to_char(e.timeout_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), e.timeout_at::text))
             else e.error_message end
      from due
     where e.id = due.id
    returning e.id, e.status`;
  return rows.map((row) => ({ id: row.id, status: row.status }));
}

/** The ids timeOutOverdue would take (read only: for handling them one by one). */
export async function overdueIds(tx: Tx, scope: ClaimScope): Promise<string[]> {
  const rows = await tx<Row[]>`
    select e.id from public.workflow_executions e where ${overdue(tx, scope)} order by e.timeout_at limit ${scope.limit}`;
  return rows.map((row) => row.id);
}

export async function countOverdue(tx: Tx, upTo: number): Promise<number> {
  const [row] = await tx<Row[]>`
    select count(*)::int as n from (select from public.workflow_executions e where ${overdue(tx, { skip: [] })} limit ${upTo}) due`;
  return row.n;
}

// ---------------------------------------------------------------------------------------------
// Live rows compared with Temporal (reconcile: running; redispatch: pending)
// ---------------------------------------------------------------------------------------------

export interface LiveClaim extends ClaimScope {
  phase: "reconcile" | "redispatch";
  /** Rows compared with Temporal more recently than this are not due. */
  olderThanSeconds: number;
  /** A row claimed less than this ago is another sweeper's, whatever olderThanSeconds says. */
  leaseSeconds: number;
}

/**
 * Takes a lease (`temporal_checked_at = now()`) on live rows the tracker acts on in Temporal,
 * checked longest ago. Reported rows are never taken (docs/architecture.md §1).
 */
export async function claimLive(tx: Tx, claim: LiveClaim): Promise<ClaimedRow[]> {
  const rows = await tx<Row[]>`
    with due as (
      select e.id from public.workflow_executions e
       where ${dueLive(tx, claim.phase, claim.olderThanSeconds, claim.leaseSeconds, claim)}
       order by e.status, coalesce(e.temporal_checked_at, e.started_at)
       limit ${claim.limit}
       for update of e skip locked
    )
    update public.workflow_executions e
       set temporal_checked_at = now()
      from due
     where e.id = due.id
    returning e.id, e.temporal_workflow_id, e.temporal_run_id,
              coalesce((select f.attempts from public.execution_sweep_failures f
                         where f.execution_id = e.id and f.phase = ${claim.phase}), 0) as attempts`;
  return rows.map((row) => ({
    id: row.id,
    temporalWorkflowId: row.temporal_workflow_id,
    temporalRunId: row.temporal_run_id,
    attempts: row.attempts,
  }));
}

/** The ids claimLive would take (read only: for claiming them one by one). */
export async function dueLiveIds(tx: Tx, claim: LiveClaim): Promise<string[]> {
  const rows = await tx<Row[]>`
    select e.id from public.workflow_executions e
     where ${dueLive(tx, claim.phase, claim.olderThanSeconds, claim.leaseSeconds, claim)}
     order by e.status, coalesce(e.temporal_checked_at, e.started_at)
     limit ${claim.limit}`;
  return rows.map((row) => row.id);
}

export async function countDueLive(tx: Tx, claim: Omit<LiveClaim, "limit" | "skip" | "id">, upTo: number): Promise<number> {
  const [row] = await tx<Row[]>`
    select count(*)::int as n from (
      select from public.workflow_executions e
       where ${dueLive(tx, claim.phase, claim.olderThanSeconds, claim.leaseSeconds, { skip: [] })}
       limit ${upTo}) due`;
  return row.n;
}

/** Gives claimed rows back (Temporal was unreachable, or the run's time budget ran out), so the next run takes them at once. */
export async function releaseClaims(tx: Tx, ids: string[]): Promise<void> {
  if (!ids.length) return;
  await tx`
    update public.workflow_executions set temporal_checked_at = null
     where id = any(${tx.array(ids)}::uuid[]) and public.execution_status_is_live(status)`;
}

export interface Outcome {
  status: "completed" | "failed" | "cancelled" | "timed_out";
  output?: Json;
  errorMessage?: string;
  completedAt: Date | null;
}

/**
 * Records Temporal's outcome of a running row, unless the row moved on meanwhile (then the
 * report wins) or a stop was requested (then the stop phase records it). `temporal_closed_at`
 * says Temporal confirmed the run closed, so a cancelled or timed out outcome ends the row
 * instead of becoming a stop request.
 */
export async function adoptOutcome(tx: Tx, id: string, outcome: Outcome): Promise<boolean> {
  const updated = await tx`
    update public.workflow_executions
       set status = ${outcome.status}::text,
           output = coalesce(${jsonParam(tx, outcome.output)}::jsonb, output),
           error_message = coalesce(error_message, ${outcome.errorMessage ?? null}::text),
           completed_at = greatest(started_at, coalesce(${outcome.completedAt}::timestamptz, now())),
           temporal_closed_at = coalesce(${outcome.completedAt}::timestamptz, now())
     where id = ${id} and status = 'running' and stop_requested_at is null
    returning id`;
  return updated.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Stops (the requests are shared/stops.ts's; the sweeper only counts what it left)
// ---------------------------------------------------------------------------------------------

export async function countDueStops(tx: Tx, upTo: number): Promise<number> {
  const [row] = await tx<Row[]>`
    select count(*)::int as n from (
      select from public.execution_stop_requests r
       where r.confirmed_at is null and r.next_attempt_at <= now()
         and (r.claimed_until is null or r.claimed_until < now())
       limit ${upTo}) due`;
  return row.n;
}

// ---------------------------------------------------------------------------------------------
// Per-row failures (public.execution_sweep_failures)
// ---------------------------------------------------------------------------------------------

export interface FailureRecord {
  executionId: string;
  phase: SweepPhase;
  /** Already short and free of control characters (Postgres text cannot hold NUL). */
  error: string;
  /** The attempt that fails this many times parks the row. */
  maxAttempts: number;
  /** Backoff after the first failure; it doubles with every further one. */
  retryAfterSeconds: number;
  maxRetryAfterSeconds: number;
}

export interface RecordedFailure {
  attempts: number;
  parked: boolean;
  retryAt: Date;
}

/** Counts one more failure of a row in a phase; null when the row no longer exists. */
export async function recordFailure(tx: Tx, failure: FailureRecord): Promise<RecordedFailure | null> {
  const rows = await tx<Row[]>`
    insert into public.execution_sweep_failures as f (execution_id, phase, attempts, retry_at, parked_at, last_error)
    select e.id, ${failure.phase}, 1,
           now() + make_interval(secs => ${Math.min(failure.retryAfterSeconds, failure.maxRetryAfterSeconds)}),
           case when ${failure.maxAttempts} <= 1 then now() end,
           ${failure.error}
      from public.workflow_executions e
     where e.id = ${failure.executionId}
    on conflict (execution_id, phase) do update
       set attempts = f.attempts + 1,
           last_failed_at = now(),
           last_error = excluded.last_error,
           retry_at = now() + make_interval(secs => least(${failure.maxRetryAfterSeconds}::double precision,
                                                          ${failure.retryAfterSeconds} * power(2, f.attempts))),
           parked_at = case when f.attempts + 1 >= ${failure.maxAttempts} then now() end
    returning attempts, parked_at is not null as parked, retry_at`;
  return rows.length ? { attempts: rows[0].attempts, parked: rows[0].parked, retryAt: rows[0].retry_at } : null;
}

/** Forgets a row's failures in a phase (the phase handled it after all). */
export async function clearFailures(tx: Tx, executionId: string, phase: SweepPhase): Promise<void> {
  await tx`delete from public.execution_sweep_failures where execution_id = ${executionId} and phase = ${phase}`;
}

/** Tells the owner of a parked live row why the sweeper stopped trying (a message they wrote themselves stays). */
export async function explainParkedRow(tx: Tx, executionId: string, message: string): Promise<void> {
  await tx`
    update public.workflow_executions set error_message = coalesce(error_message, ${message})
     where id = ${executionId} and public.execution_status_is_live(status)`;
}
