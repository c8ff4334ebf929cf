/**
 * Test workflows for the Temporal gateway contract tests. Bundled by the worker (tests/support/temporal-worker.ts)
 * via `workflowsPath`, so this module runs inside Temporal's workflow sandbox: import only @temporalio/workflow.
 */
import { ApplicationFailure, CancellationScope, isCancellation, sleep } from "@temporalio/workflow";

/** Long enough to never finish during a test run. */
const FOREVER_MS = 12 * 60 * 60 * 1000;

export interface CompletesInput {
  /** How long the workflow sleeps before returning (default 100ms). */
  sleepMs?: number;
  [key: string]: unknown;
}

/** Returns `{ echoed: input, ok: true }` after a short sleep. */
export async function completesWorkflow(input?: CompletesInput): Promise<{ echoed: unknown; ok: true }> {
  const sleepMs = typeof input?.sleepMs === "number" ? input.sleepMs : 100;
  if (sleepMs > 0) await sleep(sleepMs);
  return { echoed: input ?? null, ok: true };
}

export interface FailsInput {
  /** Goes into the failure message: `boom: <message>`. */
  message?: string;
  [key: string]: unknown;
}

/** Fails at once with a non-retryable application failure `boom: <input.message or the JSON input>`. */
export async function failsWorkflow(input?: FailsInput): Promise<never> {
  const detail = typeof input?.message === "string" ? input.message : JSON.stringify(input ?? null);
  throw ApplicationFailure.nonRetryable(`boom: ${detail}`, "TestFailure");
}

/** Sleeps for hours. Cancellation propagates normally (the run ends as cancelled). */
export async function longRunningWorkflow(_input?: unknown): Promise<string> {
  await sleep(FOREVER_MS);
  return "woke up";
}

/** Catches the cancellation request and keeps running; only terminate ends it. */
export async function ignoresCancellationWorkflow(_input?: unknown): Promise<string> {
  try {
    await sleep(FOREVER_MS);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // The root scope is cancelled now; only a non-cancellable scope can keep waiting.
    await CancellationScope.nonCancellable(() => sleep(FOREVER_MS));
  }
  return "woke up";
}
