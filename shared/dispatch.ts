/**
 * Dispatch: the tracker starts a pending execution's workflow in Temporal, then records the
 * run. One owner at a time (docs/architecture.md §2): the API's insert takes a dispatch lease
 * (`dispatch_claimed_until`) and dispatches right after its commit; a direct insert is
 * dispatched by the INSERT webhook, which takes the lease first; the sweeper takes pending rows
 * whose lease expired. The Temporal workflow id was fixed when the row was inserted
 * (`execution-<id>`) and Temporal never starts a second run under it ("already started" is
 * taken as started, with the existing run id), so even a dispatch repeated after a crash starts
 * the workflow once.
 *
 * A row with a stop requested is never started. A stop requested while the start was in flight
 * is sent once the run is recorded; a row that ended or was deleted meanwhile gets a stop
 * request of its own for the run just started, so that run too is stopped, durably.
 */
import { type Sql, withCaller } from "./db.ts";
import { serviceCaller } from "./identity.ts";
import * as dispatches from "./repository/dispatches.ts";
import * as repo from "./repository/executions.ts";
import * as stopsRepo from "./repository/stops.ts";
import { findWorkflow } from "./repository/workflows.ts";
import { processStopFor } from "./stops.ts";
import { TemporalRequestError, TemporalUnavailableError, type TemporalGateway } from "./temporal/gateway.ts";
import type { Caller, CreateExecutionResult, ExecutionWithWorkflow } from "./types.ts";

export interface DispatchContext {
  sql: Sql;
  temporal: TemporalGateway;
  log?: (message: string, error?: unknown) => void;
  /** Ignored: the tracker always records a dispatch as the service role (its bookkeeping columns are not users'). */
  caller?: Caller;
}

/**
 * How a dispatch ended: `started` (the run exists in Temporal and is recorded), `queued`
 * (Temporal is unreachable; the row stays pending and the sweeper dispatches it later),
 * `rejected` (it can never start: no workflow type, or Temporal refused; the row is marked
 * failed) or `skipped` (not this caller's to dispatch: not pending any more, a stop requested,
 * or another holds the lease).
 */
export type DispatchResult =
  | { outcome: "started"; execution: ExecutionWithWorkflow }
  | { outcome: "queued" | "rejected" | "skipped"; execution: ExecutionWithWorkflow; message: string };

export const temporalUnreachableMessage =
  "Temporal is unreachable; the execution stays pending and is dispatched as soon as it is";

export interface DispatchOptions {
  /** The caller took the lease already (the API's insert does); otherwise it is taken here first. */
  leaseHeld?: boolean;
}

/**
 * The API's answer for a pending row it just inserted with the dispatch lease (a create without
 * temporalWorkflowId, a retry): dispatched here, once (the INSERT webhook skipped the row), as
 * `created`, or `queued` with why (no Temporal configured, or Temporal unreachable).
 */
export async function dispatchInsertedPending(
  ctx: Omit<DispatchContext, "temporal"> & { temporal?: TemporalGateway | null },
  execution: ExecutionWithWorkflow,
): Promise<CreateExecutionResult> {
  if (!ctx.temporal) {
    return { execution, outcome: "queued", message: "Temporal is not configured; the execution stays pending until it is dispatched" };
  }
  const dispatch = await dispatchExecution({ ...ctx, temporal: ctx.temporal }, execution, { leaseHeld: true });
  return dispatch.outcome === "queued"
    ? { execution: dispatch.execution, outcome: "queued", message: dispatch.message }
    : { execution: dispatch.execution, outcome: "created" };
}

/** Starts the workflow of a pending execution and records it as running. */
export async function dispatchExecution(
  ctx: DispatchContext,
  execution: ExecutionWithWorkflow,
  options: DispatchOptions = {},
): Promise<DispatchResult> {
  const inServiceTx = <T>(work: (tx: Sql) => Promise<T>) => withCaller(ctx.sql, serviceCaller, work);
  const skipped = (message: string): DispatchResult => ({ outcome: "skipped", execution, message });
  if (execution.status !== "pending" || execution.temporalLink !== "dispatched" || !execution.temporalWorkflowId) {
    return skipped(`not a pending execution the tracker dispatches (${execution.status}, ${execution.temporalLink})`);
  }
  const temporalWorkflowId = execution.temporalWorkflowId;
  if (!options.leaseHeld && !(await inServiceTx((tx) => dispatches.claimDispatch(tx, execution.id)))) {
    return skipped("not pending any more, a stop is requested, or another dispatch holds it");
  }

  const target = await inServiceTx((tx) => findWorkflow(tx, execution.workflowId));
  if (!target?.temporalWorkflowType || !target.taskQueue) {
    return await reject("cannot start: the workflow has no temporal_workflow_type and task_queue");
  }
  let runId: string;
  try {
    ({ runId } = await ctx.temporal.start({
      workflowId: temporalWorkflowId,
      workflowType: target.temporalWorkflowType,
      taskQueue: target.taskQueue,
      args: [execution.input ?? null],
    }));
  } catch (error) {
    if (error instanceof TemporalUnavailableError) {
      await inServiceTx((tx) => dispatches.releaseDispatch(tx, execution.id));
      return { outcome: "queued", execution: await current(), message: temporalUnreachableMessage };
    }
    if (error instanceof TemporalRequestError) {
      return await reject(`Temporal refused to start the workflow: ${error.message}`);
    }
    throw error;
  }

  const record = await inServiceTx(async (tx) => {
    const started = await dispatches.recordStarted(tx, execution.id, runId);
    if (!started.recorded || started.stopRequested) {
      // A stop asked for while the start was in flight is sent now; a row that ended or was
      // deleted meanwhile (the record wins) gets a stop request for the run just started.
      await stopsRepo.stopWhatWasStarted(tx, {
        executionId: execution.id,
        createdBy: started.createdBy ?? execution.createdBy,
        temporalWorkflowId,
        temporalRunId: runId,
        reason: started.recorded ? null : started.createdBy === null ? "delete" : "cancel",
      });
    }
    return started;
  });
  if (!record.recorded || record.stopRequested) {
    await processStopFor({ sql: ctx.sql, temporal: ctx.temporal, log: ctx.log }, execution.id);
  }
  return { outcome: "started", execution: await current() };

  async function reject(message: string): Promise<DispatchResult> {
    await inServiceTx((tx) => dispatches.recordRejected(tx, execution.id, message));
    return { outcome: "rejected", execution: await current(), message };
  }

  /** The row as it is now (as it was, if it is gone). */
  async function current(): Promise<ExecutionWithWorkflow> {
    return (await inServiceTx((tx) => repo.findExecution(tx, { id: execution.id }))) ?? execution;
  }
}
