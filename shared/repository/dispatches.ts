/**
 * The SQL of dispatch (shared/dispatch.ts): the lease on a pending row (`dispatch_claimed_until`,
 * migration 20261201000300_temporal_effects.sql) and recording what Temporal answered. Runs as
 * the service role: the lease and the run id are the tracker's bookkeeping, which users cannot
 * write.
 */
import type { Tx } from "../db.ts";

/**
 * How long a dispatch lease lasts: longer than one start call (10 s with the HTTP gateway).
 * The API's insert takes it (`dispatchLeaseSql`); the webhook and the sweeper take it here.
 */
export const dispatchLeaseSeconds = 30;

/** The lease value an insert of a pending row sets, so the INSERT webhook skips it. */
export const dispatchLeaseSql = (tx: Tx) => tx`now() + make_interval(secs => ${dispatchLeaseSeconds})`;

/**
 * Takes the lease of a pending row nobody is dispatching and nobody asked to stop; true when
 * taken. A row with a stop requested is never started: its stop request ends it.
 */
export async function claimDispatch(tx: Tx, id: string, leaseSeconds = dispatchLeaseSeconds): Promise<boolean> {
  const rows = await tx`
    update public.workflow_executions
       set dispatch_claimed_until = now() + make_interval(secs => ${leaseSeconds})
     where id = ${id} and status = 'pending' and stop_requested_at is null
       and (dispatch_claimed_until is null or dispatch_claimed_until < now())
    returning id`;
  return rows.length > 0;
}

export interface DispatchRecord {
  /** The row moved to running (false: it had ended or was gone). */
  recorded: boolean;
  /** A stop was requested while the start was in flight. */
  stopRequested: boolean;
  createdBy: string | null;
}

/** The run exists in Temporal: a still-pending row becomes running with its run id. */
export async function recordStarted(tx: Tx, id: string, runId: string): Promise<DispatchRecord> {
  const [row] = await tx`
    update public.workflow_executions
       set status = 'running', temporal_run_id = ${runId}, dispatch_claimed_until = null
     where id = ${id} and status = 'pending'
    returning stop_requested_at is not null as stop_requested, created_by`;
  if (row) return { recorded: true, stopRequested: row.stop_requested, createdBy: row.created_by };
  const [current] = await tx`select created_by, status::text as status from public.workflow_executions where id = ${id}`;
  // Already running with this run (a retried dispatch): nothing more to do.
  return { recorded: current?.status === "running", stopRequested: false, createdBy: current?.created_by ?? null };
}

/** The run can never start: a still-pending row is failed with the reason. */
export async function recordRejected(tx: Tx, id: string, message: string): Promise<void> {
  await tx`
    update public.workflow_executions
       set status = 'failed', error_message = ${message}, dispatch_claimed_until = null
     where id = ${id} and status = 'pending'`;
}

/** Temporal is unreachable: the lease is given back, so the sweeper dispatches it later. */
export async function releaseDispatch(tx: Tx, id: string): Promise<void> {
  await tx`update public.workflow_executions set dispatch_claimed_until = null where id = ${id} and status = 'pending'`;
}
