/**
 * Dispatch: the tracker starts a pending execution's workflow in Temporal, then records the
 * run. The Temporal workflow id was fixed when the row was inserted (`execution-<id>`) and
 * Temporal refuses a second run with the same id, so a retry (the create call, the webhook,
 * the sweeper) can never start the workflow twice.
 */
import { type Sql, withCaller } from "./db.ts";
import { TemporalRequestError, TemporalUnavailableError, type TemporalGateway } from "./temporal/gateway.ts";
import * as repo from "./repository/executions.ts";
import { findWorkflow } from "./repository/workflows.ts";
import type { Caller, ExecutionWithWorkflow } from "./types.ts";

export interface DispatchContext {
  sql: Sql;
  caller: Caller;
  temporal: TemporalGateway;
}

/**
 * How a dispatch ended: `started` (the run exists in Temporal and is recorded), `queued`
 * (Temporal is unreachable; the row stays pending and is dispatched later) or `rejected`
 * (it can never start: no workflow type, or Temporal refused; the row is marked failed).
 */
export type DispatchResult =
  | { outcome: "started"; execution: ExecutionWithWorkflow }
  | { outcome: "queued" | "rejected"; execution: ExecutionWithWorkflow; message: string };

export const temporalUnreachableMessage =
  "Temporal is unreachable; the execution stays pending and is dispatched as soon as it is";

/** Starts the workflow of a pending execution and records it as running. */
export async function dispatchExecution(ctx: DispatchContext, execution: ExecutionWithWorkflow): Promise<DispatchResult> {
  const target = await withCaller(ctx.sql, ctx.caller, (tx) => findWorkflow(tx, execution.workflowId));
  if (!target?.temporalWorkflowType || !target.taskQueue || !execution.temporalWorkflowId) {
    return await reject(ctx, execution, "cannot start: the workflow has no temporal_workflow_type and task_queue");
  }
  let runId: string;
  try {
    ({ runId } = await ctx.temporal.start({
      workflowId: execution.temporalWorkflowId,
      workflowType: target.temporalWorkflowType,
      taskQueue: target.taskQueue,
      args: [execution.input ?? null],
    }));
  } catch (error) {
    if (error instanceof TemporalUnavailableError) {
      return { outcome: "queued", execution, message: temporalUnreachableMessage };
    }
    if (error instanceof TemporalRequestError) {
      return await reject(ctx, execution, `Temporal refused to start the workflow: ${error.message}`);
    }
    throw error;
  }

  const running = await recordDispatchOutcome(ctx, execution.id, { status: "running", temporalRunId: runId });
  if (!running || running.status !== "running" || running.temporalRunId !== runId) {
    // The row ended (cancelled, timed out, deleted) while the start was in flight: the
    // record wins, so the run we just started is stopped.
    await ctx.temporal.cancel(execution.temporalWorkflowId, runId, "execution ended before its dispatch was recorded");
  }
  return { outcome: "started", execution: running ?? execution };
}

/** A pending row that can never start is failed with the reason, rather than left pending. */
async function reject(ctx: DispatchContext, execution: ExecutionWithWorkflow, message: string): Promise<DispatchResult> {
  const failed = await recordDispatchOutcome(ctx, execution.id, { status: "failed", errorMessage: message });
  return { outcome: "rejected", execution: failed ?? execution, message };
}

/** Moves a still-pending row on; returns the row as it now is (null if it is gone). */
async function recordDispatchOutcome(
  ctx: DispatchContext,
  id: string,
  patch: { status: "running"; temporalRunId: string } | { status: "failed"; errorMessage: string },
) {
  return await withCaller(ctx.sql, ctx.caller, async (tx) => {
    const current = await repo.findExecution(tx, { id }, { lock: true });
    if (current?.status !== "pending") return current;
    return await repo.updateExecution(tx, { id }, patch);
  });
}

/** Asks Temporal to stop the run of an execution that ended in the tracker (best effort). */
export async function requestTemporalStop(
  temporal: TemporalGateway,
  execution: Pick<ExecutionWithWorkflow, "status" | "temporalWorkflowId" | "temporalRunId">,
  log: (message: string, error?: unknown) => void,
): Promise<void> {
  if (!execution.temporalWorkflowId) return;
  try {
    if (execution.status === "cancelled") {
      await temporal.cancel(execution.temporalWorkflowId, execution.temporalRunId ?? undefined, "cancelled in execution-tracker");
    } else {
      await temporal.terminate(execution.temporalWorkflowId, execution.temporalRunId ?? undefined, `${execution.status} in execution-tracker`);
    }
  } catch (error) {
    log(`could not stop Temporal workflow ${execution.temporalWorkflowId}`, error);
  }
}
