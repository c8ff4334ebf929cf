/**
 * The SQL of stop requests (`public.execution_stop_requests`, migration
 * 20261201000300_temporal_effects.sql): claiming them with a lease, recording what Temporal
 * answered, and ending the execution row with what Temporal says happened. Everything here runs
 * as the service role (shared/stops.ts), except `claimStopsOfTransaction`, which a caller's own
 * write transaction runs first.
 */
import type { Tx } from "../db.ts";
import type { ExecutionStatus } from "../status.ts";
import type { Json } from "../types.ts";
import { jsonParam } from "./executions.ts";

export type StopReason = "cancel" | "timeout" | "delete";
export type StopAction = "cancel" | "terminate";

/** A claimed request, with what its execution row looks like now (null fields: the row is gone). */
export interface StopRequest {
  id: string;
  executionId: string;
  createdBy: string;
  temporalWorkflowId: string;
  temporalRunId: string | null;
  reason: StopReason;
  action: StopAction;
  attempts: number;
  sentAt: Date | null;
  requestedAt: Date;
  /** The execution's status now; null when the row is gone. */
  executionStatus: ExecutionStatus | null;
  /** A dispatch of the (pending) execution is in flight: its lease has not expired. */
  dispatchInFlight: boolean;
  /** When the held dispatch lease ends (to check again then). */
  dispatchClaimedUntil: Date | null;
}

/**
 * How long the trigger's inline claim lasts (private.convert_stop_into_request: 30 s) and how
 * long a claim taken here lasts by default: longer than one request's Temporal calls (two, of
 * at most 10 s each with the HTTP gateway).
 */
export const stopClaimSeconds = 30;

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

const requestColumns = (tx: Tx) => tx`
  s.id, s.execution_id, s.created_by, s.temporal_workflow_id, s.temporal_run_id, s.reason, s.action,
  s.attempts, s.sent_at, s.requested_at,
  (select e.status::text from public.workflow_executions e where e.id = s.execution_id) as execution_status,
  (select e.dispatch_claimed_until from public.workflow_executions e where e.id = s.execution_id and e.status = 'pending') as dispatch_claimed_until,
  coalesce((select e.dispatch_claimed_until > now() from public.workflow_executions e
             where e.id = s.execution_id and e.status = 'pending'), false) as dispatch_in_flight`;

function toRequest(row: Row): StopRequest {
  return {
    id: row.id,
    executionId: row.execution_id,
    createdBy: row.created_by,
    temporalWorkflowId: row.temporal_workflow_id,
    temporalRunId: row.temporal_run_id,
    reason: row.reason,
    action: row.action,
    attempts: row.attempts,
    sentAt: row.sent_at,
    requestedAt: row.requested_at,
    executionStatus: row.execution_status,
    dispatchInFlight: row.dispatch_in_flight,
    dispatchClaimedUntil: row.dispatch_claimed_until,
  };
}

/**
 * Run first in a write transaction that sends its own stops right after its commit: the stop
 * requests its statements create are claimed by `token` (for 30 s) and no webhook is queued
 * for them. With `token` = "tracker" they are left unclaimed for the sweeper's stop phase,
 * still without a webhook (the tracker's own writes, such as the deadline phase).
 */
export async function claimStopsOfTransaction(tx: Tx, token: string): Promise<void> {
  await tx`select set_config('execution_tracker.stop_claim', ${token}, true)`;
}

/** Claims up to `limit` due, unclaimed open requests (oldest due first), skipping locked ones. */
export async function claimDueRequests(tx: Tx, token: string, limit: number, leaseSeconds = stopClaimSeconds): Promise<StopRequest[]> {
  const rows = await tx`
    with due as (
      select id from public.execution_stop_requests
       where confirmed_at is null and next_attempt_at <= now()
         and (claimed_until is null or claimed_until < now())
       order by next_attempt_at
       limit ${limit}
       for update skip locked
    )
    update public.execution_stop_requests s
       set claimed_by = ${token}::uuid, claimed_until = now() + make_interval(secs => ${leaseSeconds})
      from due
     where s.id = due.id
    returning ${requestColumns(tx)}`;
  return rows.map(toRequest);
}

/**
 * Claims the open request of one execution: the one this caller's transaction claimed already
 * (`heldToken`), or one that is due and unclaimed. Null when there is none to take.
 */
export async function claimRequestOf(
  tx: Tx,
  executionId: string,
  token: string,
  options: { held?: boolean; leaseSeconds?: number } = {},
): Promise<StopRequest | null> {
  const rows = await tx`
    with open as (
      select id from public.execution_stop_requests
       where execution_id = ${executionId} and confirmed_at is null
         and (${options.held ?? false}::boolean and claimed_by = ${token}::uuid
              or ((claimed_until is null or claimed_until < now()) and next_attempt_at <= now()))
       for update skip locked
    )
    update public.execution_stop_requests s
       set claimed_by = ${token}::uuid,
           claimed_until = now() + make_interval(secs => ${options.leaseSeconds ?? stopClaimSeconds})
      from open
     where s.id = open.id
    returning ${requestColumns(tx)}`;
  return rows.length ? toRequest(rows[0]) : null;
}

/** Temporal accepted `action`; recorded only while it is still the request's action (a delete may have turned a cancel into a terminate meanwhile). */
export async function recordSent(tx: Tx, id: string, token: string, action: StopAction): Promise<void> {
  await tx`
    update public.execution_stop_requests set sent_at = now(), last_error = null
     where id = ${id} and claimed_by = ${token}::uuid and confirmed_at is null and action = ${action}`;
}

/**
 * Not confirmed yet: gives the claim back and checks again in `afterSeconds`. `sentAt`: what
 * to keep as the time the current action was accepted (null: it hit no run, send it again).
 */
export async function reschedule(tx: Tx, id: string, token: string, afterSeconds: number, sent: "keep" | "now" | "reset"): Promise<void> {
  await tx`
    update public.execution_stop_requests
       set next_attempt_at = now() + make_interval(secs => ${afterSeconds}),
           sent_at = case ${sent}::text when 'now' then coalesce(sent_at, now()) when 'reset' then null else sent_at end,
           claimed_by = null, claimed_until = null
     where id = ${id} and claimed_by = ${token}::uuid and confirmed_at is null`;
}

/** Gives a claim back untouched. */
export async function release(tx: Tx, id: string, token: string): Promise<void> {
  await tx`
    update public.execution_stop_requests set claimed_by = null, claimed_until = null
     where id = ${id} and claimed_by = ${token}::uuid and confirmed_at is null`;
}

/** A cancel Temporal did not honour within the grace period: terminate from now on. */
export async function escalate(tx: Tx, id: string, token: string): Promise<boolean> {
  const rows = await tx`
    update public.execution_stop_requests
       set action = 'terminate', sent_at = null, escalated_at = now()
     where id = ${id} and claimed_by = ${token}::uuid and confirmed_at is null and action = 'cancel'
    returning id`;
  return rows.length > 0;
}

/** A failed attempt: counted, its error kept, retried after `backoffSeconds`; the claim is given back. */
export async function recordFailure(tx: Tx, id: string, token: string, error: string, backoffSeconds: number): Promise<void> {
  await tx`
    update public.execution_stop_requests
       set attempts = attempts + 1, last_error = left(${error}, 2000),
           next_attempt_at = now() + make_interval(secs => ${backoffSeconds}),
           claimed_by = null, claimed_until = null
     where id = ${id} and claimed_by = ${token}::uuid and confirmed_at is null`;
}

/** How the execution row ends, from what Temporal said. */
export interface StopFinal {
  /** Temporal's word: completed | failed | cancelled | terminated | timed_out | not_found | no_temporal. */
  outcome: string;
  status: Extract<ExecutionStatus, "completed" | "failed" | "cancelled" | "timed_out">;
  /** Set: the row's output becomes this (a completed run's result). */
  output?: Json;
  errorMessage?: string;
  /** Temporal's close time (now when there is none). */
  closedAt: Date | null;
}

/**
 * Confirms the request and ends its execution row (still live) with `final`, in one
 * transaction. A row that ended meanwhile (its worker reported first) keeps what it says; a
 * deleted row has nothing to end. False when the claim was lost (another took it over).
 */
export async function confirm(tx: Tx, request: StopRequest, token: string, final: StopFinal): Promise<boolean> {
  const confirmed = await tx`
    update public.execution_stop_requests
       set confirmed_at = now(), outcome = ${final.outcome}, last_error = null, claimed_by = null, claimed_until = null
     where id = ${request.id} and claimed_by = ${token}::uuid and confirmed_at is null
    returning id`;
  if (!confirmed.length) return false;
  if (final.status === "completed") {
    // A run that completed while its row was still pending (a dispatch that died before
    // recording it): through running, the only way to completed.
    await tx`update public.workflow_executions set status = 'running' where id = ${request.executionId} and status = 'pending'`;
  }
  await tx`
    update public.workflow_executions
       set status = ${final.status}::text,
           output = case when ${final.output !== undefined} then ${jsonParam(tx, final.output)}::jsonb else output end,
           error_message = coalesce(error_message, ${final.errorMessage ?? null}::text),
           temporal_closed_at = coalesce(${final.closedAt}::timestamptz, now()),
           completed_at = greatest(started_at, coalesce(${final.closedAt}::timestamptz, now()))
     where id = ${request.executionId} and public.execution_status_is_live(status)`;
  return true;
}

/**
 * After a dispatch started a run: the execution's stop request, if it has one (a stop asked
 * for while the start was in flight), is due now and sent again (it may have hit no run
 * before); an execution that ended or was deleted meanwhile gets one (`reason`), so the run
 * just started is stopped like any other, retried until Temporal confirms.
 */
export async function stopWhatWasStarted(
  tx: Tx,
  request: { executionId: string; createdBy: string; temporalWorkflowId: string; temporalRunId: string | null; reason: StopReason | null },
): Promise<void> {
  if (request.reason === null) {
    await tx`
      update public.execution_stop_requests
         set next_attempt_at = now(), sent_at = null, temporal_run_id = coalesce(temporal_run_id, ${request.temporalRunId})
       where execution_id = ${request.executionId} and confirmed_at is null`;
    return;
  }
  await tx`
    insert into public.execution_stop_requests
      (execution_id, created_by, temporal_workflow_id, temporal_run_id, reason, action)
    values (${request.executionId}, ${request.createdBy}, ${request.temporalWorkflowId}, ${request.temporalRunId},
            ${request.reason}, ${request.reason === "cancel" ? "cancel" : "terminate"})
    on conflict (execution_id) where confirmed_at is null do update
      set next_attempt_at = now(), sent_at = null,
          temporal_run_id = coalesce(public.execution_stop_requests.temporal_run_id, excluded.temporal_run_id)`;
}

/** Deletes confirmed requests older than `days` (bookkeeping; the execution row keeps the outcome). */
export async function deleteConfirmed(tx: Tx, days: number, limit: number): Promise<number> {
  const rows = await tx`
    delete from public.execution_stop_requests
     where id in (select id from public.execution_stop_requests
                   where confirmed_at < now() - make_interval(days => ${days})
                   limit ${limit})
    returning id`;
  return rows.length;
}

/** What `confirmDueWithoutTemporal` confirmed, by how the execution ended (`deleted`: a tombstone, or the row is gone). */
export interface NoTemporalBatch {
  /** Requests taken (due, unclaimed, not locked). */
  due: number;
  /** Of those, left for a second later: a writer holds their row. */
  later: number;
  confirmed: number;
  cancelled: number;
  timed_out: number;
  deleted: number;
}

/**
 * No Temporal configured: claims up to `limit` due, unclaimed requests, confirms them
 * (outcome `no_temporal`) and ends their still-live rows as requested, in ONE statement (the
 * per-request path costs a transaction each; a bulk cancel makes tens of thousands). The
 * guarantees of the per-request path hold: a request someone holds (a claim, or its row lock)
 * is skipped, not waited for; a request whose execution row a writer holds is checked again a
 * second later (its row is locked `skip locked` before anything is written), so the statement
 * never waits and never confirms a request whose row it could not end; each request is
 * confirmed once (`confirmed_at is null` under the row lock). A row that ended meanwhile keeps
 * what it says; `temporal_closed_at` is set, so the stop trigger does not take the write for
 * a new request. Same ending as `confirm` with `requested(..., "no_temporal")` in shared/stops.ts.
 */
export async function confirmDueWithoutTemporal(tx: Tx, limit: number): Promise<NoTemporalBatch> {
  const [row] = await tx`
    with due as (
      select s.id, s.execution_id, s.reason from public.execution_stop_requests s
       where s.confirmed_at is null and s.next_attempt_at <= now()
         and (s.claimed_until is null or s.claimed_until < now())
       order by s.next_attempt_at
       limit ${limit}
       for update skip locked
    ), held as (
      select e.id, public.execution_status_is_live(e.status) as live from public.workflow_executions e
       where e.id in (select execution_id from due)
       for update skip locked
    ), ready as (
      select d.id, d.execution_id, d.reason, h.live from due d left join held h on h.id = d.execution_id
       where h.id is not null
          or not exists (select from public.workflow_executions e where e.id = d.execution_id)
    ), confirmed as (
      update public.execution_stop_requests s
         set confirmed_at = now(), outcome = 'no_temporal', last_error = null, claimed_by = null, claimed_until = null
        from ready r
       where s.id = r.id
      returning s.id
    ), later as (
      -- Its row is held by a writer: checked again in a second (not taken again by this call's next batch).
      update public.execution_stop_requests s set next_attempt_at = now() + interval '1 second'
        from due d
       where s.id = d.id and d.id not in (select id from ready)
      returning s.id
    ), ended as (
      update public.workflow_executions e
         set status = case when r.reason = 'timeout' then 'timed_out' else 'cancelled' end,
             error_message = case when r.reason = 'timeout'
               then coalesce(e.error_message, 'timed out: the deadline passed and the run was stopped in Temporal')
               else e.error_message end,
             temporal_closed_at = now(),
             completed_at = greatest(e.started_at, now())
        from ready r
       where e.id = r.execution_id and r.live
      returning e.id
    )
    select (select count(*) from due)::int as due,
           (select count(*) from later)::int as later,
           (select count(*) from confirmed)::int as confirmed,
           (select count(*) from ended)::int as ended,
           count(*) filter (where r.reason = 'delete' or r.live is null)::int as deleted,
           count(*) filter (where r.reason = 'timeout' and r.live is not null)::int as timed_out,
           count(*) filter (where r.reason = 'cancel' and r.live is not null)::int as cancelled
      from ready r`;
  return { due: row.due, later: row.later, confirmed: row.confirmed, cancelled: row.cancelled, timed_out: row.timed_out, deleted: row.deleted };
}
