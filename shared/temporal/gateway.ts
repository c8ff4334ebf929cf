/**
 * The one seam between the execution module and Temporal.
 *
 * Two implementations exist and pass the same contract tests against a real Temporal server:
 * - `createHttpTemporalGateway` (./http-gateway.ts): Temporal's HTTP API over `fetch`. Runs on
 *   Supabase Edge Runtime (Deno) and Node; this is what the edge functions use.
 * - `createSdkTemporalGateway` (./sdk-gateway.ts): `@temporalio/client` over gRPC. Node only
 *   (workers, a Node deployment of the sweeper, Temporal Cloud with mTLS/API keys).
 */

/** What to start. `workflowId` is derived from the execution id, so a retry can never start a second run. */
export interface StartWorkflowRequest {
  workflowId: string;
  workflowType: string;
  taskQueue: string;
  /** Passed to the workflow as its arguments (JSON-encoded payloads). */
  args: unknown[];
}

export interface StartedWorkflow {
  workflowId: string;
  runId: string;
  /** True when a run with this workflow id already existed (the start was a retry); runId is that run's. */
  alreadyStarted: boolean;
}

/** Temporal's execution status, reduced to what reconciliation needs. */
export type TemporalRunStatus =
  | "running"
  | "completed"
  | "failed"
  | "cancelled"
  | "terminated"
  | "timed_out"
  | "continued_as_new";

export interface WorkflowDescription {
  workflowId: string;
  runId: string;
  status: TemporalRunStatus;
  startTime: Date | null;
  closeTime: Date | null;
  /** The workflow's result (decoded JSON) when status is "completed". */
  result?: unknown;
  /** The failure message when status is "failed" (or the timeout/termination reason where Temporal gives one). */
  failureMessage?: string;
}

export interface TemporalGateway {
  /** Starts a workflow; idempotent on workflowId (a second call returns the first run with alreadyStarted=true). */
  start(request: StartWorkflowRequest): Promise<StartedWorkflow>;
  /** Describes a run (the latest run of the id when runId is omitted), with result or failure once closed. Null when Temporal does not know it. */
  describe(workflowId: string, runId?: string): Promise<WorkflowDescription | null>;
  /** Requests cancellation. A run that is already closed or unknown is not an error. */
  cancel(workflowId: string, runId?: string, reason?: string): Promise<void>;
  /** Terminates at once. A run that is already closed or unknown is not an error. */
  terminate(workflowId: string, runId?: string, reason?: string): Promise<void>;
  /** Releases connections (a no-op for the HTTP gateway). */
  close(): Promise<void>;
}

/** Temporal could not be reached or answered with a transient error: the caller keeps the row and retries later. */
export class TemporalUnavailableError extends Error {
  override readonly name = "TemporalUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Temporal refused the request for a reason a retry will not fix (bad workflow type, namespace missing, ...). */
export class TemporalRequestError extends Error {
  override readonly name = "TemporalRequestError";
  constructor(message: string, readonly status?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}
