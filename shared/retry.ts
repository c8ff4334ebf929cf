/**
 * Retry of an execution (docs/architecture.md §5.3): a new pending execution of the same
 * workflow and owner, with the original's input (or an edited one), tags, metadata and timeout
 * length, `retryOf` = the original, dispatched to Temporal like any create without a
 * temporalWorkflowId. Any status may be retried, and so may a run started elsewhere
 * (`registered`, `reported`): what counts is that the tracker can start the workflow, i.e.
 * the workflow names a registered Temporal type and task queue (else 409 `not_retryable`).
 *
 * Idempotency: a retry with a `requestId` gets a deterministic execution id, derived from
 * (owner, original, requestId). The same request again (also concurrently: the second insert
 * waits on the first's primary key, then does nothing) finds that row and answers it as
 * `existing`, so a repeated POST never starts a second run. Without a requestId every call
 * is a new retry.
 */
import { dispatchInsertedPending } from "./dispatch.ts";
import { type Tx, withCaller } from "./db.ts";
import { ConflictError, NotFoundError, NotRetryableError } from "./errors.ts";
import * as repo from "./repository/executions.ts";
import { insertRetry } from "./repository/retries.ts";
import { findWorkflow } from "./repository/workflows.ts";
import type { ExecutionServiceDeps } from "./service.ts";
import type { CreateExecutionResult, ExecutionWithWorkflow, Json } from "./types.ts";

export interface RetryExecutionOptions {
  /** The input of the new run; omitted: the original's (null: a null input). */
  input?: Json;
  /** Makes the retry idempotent: the same requestId for the same original is the same retry. */
  requestId?: string;
}

/** `created` (201), `existing` (the retry this requestId made before: 200) or `queued` (pending, not started yet: 202). */
export type RetryExecutionResult = CreateExecutionResult;

/**
 * Retries the execution `id` as `deps.caller`: 404 when the caller cannot see it, 409
 * `not_retryable` when its workflow cannot be started by the tracker, 409 `conflict` when the
 * requestId's execution id is taken by a row that is not this original's retry.
 */
export async function retryExecution(
  deps: ExecutionServiceDeps,
  id: string,
  options: RetryExecutionOptions = {},
): Promise<RetryExecutionResult> {
  const log = deps.log ?? ((message, error) => console.error(message, error));
  const { execution, outcome } = await withCaller(deps.sql, deps.caller, (tx) => insertRetryOf(tx, id, options));
  if (outcome === "existing") return { execution, outcome };
  return dispatchInsertedPending({ sql: deps.sql, temporal: deps.temporal, log }, execution);
}

/** In the caller's transaction: checks the original, inserts its retry, or finds the one this requestId made. */
async function insertRetryOf(tx: Tx, id: string, options: RetryExecutionOptions) {
  const original = await repo.findExecution(tx, { id });
  if (!original) throw new NotFoundError("execution not found");
  const workflow = await findWorkflow(tx, original.workflowId);
  if (!workflow?.temporalWorkflowType || !workflow.taskQueue) {
    throw new NotRetryableError(
      "this execution's workflow has no registered temporal_workflow_type and task_queue, so the tracker cannot start a retry of it",
    );
  }
  const retryId = options.requestId === undefined ? crypto.randomUUID() : await retryIdFor(original, options.requestId);
  const inserted = await insertRetry(tx, { id: retryId, originalId: original.id, input: options.input });
  const execution = await repo.findExecution(tx, { id: retryId });
  if (inserted && execution) return { execution, outcome: "created" as const };
  if (execution?.retryOf === original.id) return { execution, outcome: "existing" as const };
  throw new ConflictError("this requestId cannot be used for this execution (its id is taken); use another requestId");
}

/**
 * The execution id of the retry of `original` under `requestId`: a UUID (version 8, RFC 9562
 * custom) of the SHA-256 of (owner, original id, request id): the same request for the same
 * original always names it, another original or owner never does. A row squatting it (a direct
 * insert of that id by someone who knows it) makes the request a 409 conflict, never someone
 * else's row in the answer. Reusing a requestId after its retry was deleted creates it anew.
 */
export async function retryIdFor(original: Pick<ExecutionWithWorkflow, "id" | "createdBy">, requestId: string): Promise<string> {
  const name = new TextEncoder().encode(`execution-tracker retry\u0000${original.createdBy}\u0000${original.id}\u0000${requestId}`);
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", name)).slice(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
