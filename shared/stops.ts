/**
 * Stops in Temporal: every cancel, deadline and delete of an execution the tracker acts on
 * reaches Temporal, exactly once, whatever is down (docs/architecture.md §2).
 *
 * The intent is a row of `public.execution_stop_requests`, written by trigger in the
 * transaction of the change that causes it; the execution row stays live with
 * `stopRequestedAt` until Temporal confirms. Whoever claims a request (a lease, `for update
 * skip locked`) is its only sender: the API right after its own commit (`processStopFor` with
 * the claim its transaction took), the webhook for a direct SQL write, the sweeper
 * (`processStopRequests`) for everything due. Per request:
 *
 *  1. send the current action (cancel, or terminate for a deadline, a delete or an escalated
 *     cancel) unless Temporal accepted it already; a closed or unknown run is not an error;
 *  2. describe the run: closed -> confirm the request and end the row with what Temporal says
 *     happened (completed + its output if it completed first; cancelled or terminated ->
 *     `cancelled`, or `timed_out` for a deadline; failed -> `failed`), setting
 *     `temporal_closed_at`; no run at all (a pending row never started) -> ended as requested,
 *     unless its dispatch is in flight (checked again once the lease ends);
 *  3. still running after a cancel -> checked again; after `STOP_ESCALATE_AFTER_SECONDS` the
 *     cancel is escalated to terminate (by `processStopRequests`, the sweeper's phase);
 *  4. Temporal unreachable or refusing -> attempts + 1, `last_error`, exponential backoff
 *     (capped); the request stays until it is confirmed. One request's failure never stops
 *     the others.
 *
 * With no Temporal configured (`temporal: null`) there is nothing to stop: requests are
 * confirmed at once and the rows end as requested (outcome `no_temporal`); the sweeper's phase
 * does that set-based, one statement per batch of due requests.
 */
import { type Sql, type Tx, withCaller } from "./db.ts";
import { serviceCaller } from "./identity.ts";
import * as repo from "./repository/stops.ts";
import type { StopFinal, StopRequest } from "./repository/stops.ts";
import { TemporalUnavailableError, type TemporalGateway, type WorkflowDescription } from "./temporal/gateway.ts";
import type { Json } from "./types.ts";

export { claimStopsOfTransaction } from "./repository/stops.ts";

export interface StopDeps {
  sql: Sql;
  temporal: TemporalGateway | null;
  log?: (message: string, error?: unknown) => void;
  /** The runtime's configuration; only `stopEscalateAfterSeconds` is read. */
  config?: { stopEscalateAfterSeconds?: number };
}

export interface StopOptions {
  /** Requests claimed per batch (one short transaction each). Default 64. */
  batchSize?: number;
  /** Upper bound of batches per call. Default 100. */
  maxBatches?: number;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
  /** A cancel still running this long after Temporal accepted it is terminated. Default: config, else 60. */
  escalateAfterSeconds?: number;
  /** After sending, how long to keep describing the run for its close before leaving it for the next pass. Default 1000. */
  confirmWithinMs?: number;
  /** First retry after a failed attempt; doubles per attempt. Default 1. */
  retryBaseSeconds?: number;
  /** Retry interval cap. Default 60. */
  retryMaxSeconds?: number;
  /** No new batch is claimed after this time (epoch ms): the caller's time budget. */
  stopClaimingAt?: number;
  /** Confirmed requests older than this many days are deleted. Default 7; null keeps them. */
  keepConfirmedDays?: number | null;
}

export interface StopReport {
  claimed: number;
  /** Actions Temporal accepted in this call. */
  sent: { cancel: number; terminate: number };
  /** Cancels escalated to terminate after the grace period. */
  escalated: number;
  /** Requests confirmed, by how the execution ended (`deleted`: the row was gone already). */
  confirmed: { completed: number; failed: number; cancelled: number; timed_out: number; deleted: number };
  /** Sent, the run still open: checked again later. */
  waiting: number;
  /** Attempts that failed (Temporal unreachable or refusing, a database error): retried with backoff. */
  failed: number;
  deletedConfirmed: number;
  /** Claimed, then given back untouched because the time budget (`stopClaimingAt`) ran out. */
  leftForNextRun: number;
  temporalReachable: boolean;
}

export type StopForResult =
  /** Confirmed: the execution row (if it still exists) is terminal. */
  | { state: "confirmed"; final: StopFinal }
  /** Sent (or waiting for a dispatch in flight): not closed yet; the sweeper checks again. */
  | { state: "waiting" }
  /** Temporal unreachable or refusing: retried with backoff by the sweeper. */
  | { state: "retrying"; error: string }
  /** No open request this caller may take (none, confirmed, claimed by another, or backing off). */
  | { state: "none" };

const defaults = {
  batchSize: 64,
  maxBatches: 100,
  concurrency: 16,
  escalateAfterSeconds: 60,
  confirmWithinMs: 1000,
  retryBaseSeconds: 1,
  retryMaxSeconds: 60,
  keepConfirmedDays: 7 as number | null,
};

/** How often a sent, unconfirmed stop is described again. */
const recheckSeconds = 5;

/**
 * The sweeper's stop phase: claims due requests in batches and handles each on its own.
 * Returns its counts; never throws for one request's failure.
 */
export async function processStopRequests(deps: StopDeps, options: StopOptions = {}): Promise<StopReport> {
  const o = resolve(deps, options);
  const report: StopReport = {
    claimed: 0,
    sent: { cancel: 0, terminate: 0 },
    escalated: 0,
    confirmed: { completed: 0, failed: 0, cancelled: 0, timed_out: 0, deleted: 0 },
    waiting: 0,
    failed: 0,
    deletedConfirmed: 0,
    leftForNextRun: 0,
    temporalReachable: true,
  };
  // With no Temporal, the per-request loop below only takes what a failed set-based batch left.
  const perRequest = deps.temporal !== null || !(await confirmAllWithoutTemporal(deps, o, options, report));
  const token = crypto.randomUUID();
  for (let batch = 0; perRequest && batch < o.maxBatches; batch++) {
    if (options.stopClaimingAt !== undefined && Date.now() >= options.stopClaimingAt) break;
    // The lease covers the whole batch: every request of it may take two Temporal calls.
    const leaseSeconds = repo.stopClaimSeconds * Math.ceil(o.batchSize / o.concurrency);
    const claimed = await inServiceTx(deps.sql, (tx) => repo.claimDueRequests(tx, token, o.batchSize, leaseSeconds));
    report.claimed += claimed.length;
    await inParallel(claimed, o.concurrency, async (request) => {
      if (options.stopClaimingAt !== undefined && Date.now() >= options.stopClaimingAt) {
        // Out of time: given back untouched, due at once for the next run.
        await inServiceTx(deps.sql, (tx) => repo.release(tx, request.id, token)).catch((error) =>
          o.log(`stops: could not give back stop request ${request.id}; its claim expires on its own`, error));
        report.leftForNextRun++;
        return;
      }
      const result = await handle(deps, o, request, token, { escalate: true, report });
      count(report, request, result);
    });
    if (claimed.length < o.batchSize) break;
  }
  if (o.keepConfirmedDays !== null) {
    try {
      report.deletedConfirmed = await inServiceTx(deps.sql, (tx) => repo.deleteConfirmed(tx, o.keepConfirmedDays!, 1000));
    } catch (error) {
      o.log("stops: deleting old confirmed stop requests failed", error);
    }
  }
  return report;
}

/** Requests confirmed per statement when no Temporal is configured (`batchSize` overrides). */
const noTemporalBatchSize = 2000;

/**
 * No Temporal configured: due requests confirmed set-based, one statement per batch
 * (repository `confirmDueWithoutTemporal`) instead of a transaction per request. False when a
 * batch's statement failed (a row that cannot be written): the per-request loop then takes
 * what is left, which fails only that row and backs it off.
 */
async function confirmAllWithoutTemporal(deps: StopDeps, o: Resolved, options: StopOptions, report: StopReport): Promise<boolean> {
  const limit = options.batchSize ?? noTemporalBatchSize;
  for (let batch = 0; batch < o.maxBatches; batch++) {
    if (options.stopClaimingAt !== undefined && Date.now() >= options.stopClaimingAt) return true;
    let done;
    try {
      done = await inServiceTx(deps.sql, (tx) => repo.confirmDueWithoutTemporal(tx, limit));
    } catch (error) {
      o.log("stops: confirming a batch of stop requests at once failed; they are handled one by one", error);
      return false;
    }
    report.claimed += done.due;
    report.waiting += done.later;
    report.confirmed.cancelled += done.cancelled;
    report.confirmed.timed_out += done.timed_out;
    report.confirmed.deleted += done.deleted;
    if (done.due < limit) return true;
  }
  return true;
}

/**
 * The stop of one execution, right after the change that requested it: the API passes the
 * claim its own transaction took (`claimStopsOfTransaction`); the webhook passes none and takes
 * the request only if nobody holds it. Never escalates (the sweeper does, on schedule) and
 * never throws: the change is committed, and what is not confirmed here is the sweeper's.
 */
export async function processStopFor(
  deps: StopDeps,
  executionId: string,
  options: { claim?: string } & Pick<StopOptions, "confirmWithinMs" | "retryBaseSeconds" | "retryMaxSeconds"> = {},
): Promise<StopForResult> {
  const o = resolve(deps, options);
  const token = options.claim ?? crypto.randomUUID();
  try {
    const request = await inServiceTx(deps.sql, (tx) => repo.claimRequestOf(tx, executionId, token, { held: options.claim !== undefined }));
    if (!request) return { state: "none" };
    return await handle(deps, o, request, token, { escalate: false });
  } catch (error) {
    o.log(`stops: the stop of execution ${executionId} failed; the sweeper retries it`, error);
    return { state: "retrying", error: errorText(error) };
  }
}

type Resolved = typeof defaults & { log: (message: string, error?: unknown) => void };

function resolve(deps: StopDeps, options: Partial<typeof defaults>): Resolved {
  const fromConfig = deps.config?.stopEscalateAfterSeconds;
  return {
    ...defaults,
    ...(fromConfig !== undefined ? { escalateAfterSeconds: fromConfig } : {}),
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    log: deps.log ?? ((message, error) => console.error(message, error)),
  };
}

/** One request, start to end; every outcome is recorded before it returns. */
async function handle(
  deps: StopDeps,
  o: Resolved,
  request: StopRequest,
  token: string,
  mode: { escalate: boolean; report?: StopReport },
): Promise<StopForResult> {
  const { sql } = deps;
  try {
    if (!deps.temporal) {
      const final = requested(request, "no_temporal", null);
      await inServiceTx(sql, (tx) => confirmOrFallback(tx, request, token, final));
      return { state: "confirmed", final };
    }
    const temporal = deps.temporal;
    let current = request;
    for (let round = 0; round < 2; round++) {
      let sentNow = false;
      if (!current.sentAt) {
        await send(temporal, current);
        sentNow = true;
        if (mode.report) mode.report.sent[current.action]++;
        await inServiceTx(sql, (tx) => repo.recordSent(tx, current.id, token, current.action));
      }
      const description = await describeUntilClosed(temporal, current.temporalWorkflowId, sentNow ? o.confirmWithinMs : 0);

      if (description === null) {
        if (current.dispatchInFlight) {
          // Nothing in Temporal yet, but a dispatch holds the row: the run may appear. Check
          // again when the lease ends (the dispatch stops what it started when it sees the stop).
          const wait = current.dispatchClaimedUntil ? Math.max(1, (current.dispatchClaimedUntil.getTime() - Date.now()) / 1000 + 0.5) : 1;
          await inServiceTx(sql, (tx) => repo.reschedule(tx, current.id, token, wait, "reset"));
          return { state: "waiting" };
        }
        const final = requested(current, "not_found", null);
        await inServiceTx(sql, (tx) => confirmOrFallback(tx, current, token, final));
        return { state: "confirmed", final };
      }

      const final = closedOutcome(current, description);
      if (final) {
        await inServiceTx(sql, (tx) => confirmOrFallback(tx, current, token, final));
        return { state: "confirmed", final };
      }

      // Still running.
      const sentAt = current.sentAt ?? new Date();
      const graceEnds = sentAt.getTime() + o.escalateAfterSeconds * 1000;
      if (current.action === "cancel" && mode.escalate && Date.now() >= graceEnds) {
        const escalated = await inServiceTx(sql, (tx) => repo.escalate(tx, current.id, token));
        if (!escalated) return { state: "waiting" };
        if (mode.report) mode.report.escalated++;
        current = { ...current, action: "terminate", sentAt: null };
        continue;
      }
      const untilGrace = current.action === "cancel" ? Math.max(0.5, (graceEnds - Date.now()) / 1000) : recheckSeconds;
      await inServiceTx(sql, (tx) => repo.reschedule(tx, current.id, token, Math.min(recheckSeconds, untilGrace), "keep"));
      return { state: "waiting" };
    }
    return { state: "waiting" };
  } catch (error) {
    const attempts = request.attempts + 1;
    const backoff = Math.min(o.retryMaxSeconds, o.retryBaseSeconds * 2 ** (attempts - 1));
    if (!(error instanceof TemporalUnavailableError)) {
      o.log(`stops: stop request ${request.id} of execution ${request.executionId} failed (attempt ${attempts}); retried in ${backoff}s`, error);
    } else if (mode.report) {
      mode.report.temporalReachable = false;
    }
    try {
      await inServiceTx(sql, (tx) => repo.recordFailure(tx, request.id, token, errorText(error), backoff));
    } catch (recordError) {
      // The claim expires on its own; the request is taken again then.
      o.log(`stops: could not record the failure of stop request ${request.id}`, recordError);
    }
    return { state: "retrying", error: errorText(error) };
  }
}

async function send(temporal: TemporalGateway, request: StopRequest): Promise<void> {
  // By workflow id, without run id: the run the id names now (a continued-as-new chain's latest).
  if (request.action === "cancel") {
    await temporal.cancel(request.temporalWorkflowId, undefined, "cancelled in execution-tracker");
  } else {
    await temporal.terminate(request.temporalWorkflowId, undefined, terminateReason(request));
  }
}

function terminateReason(request: StopRequest): string {
  if (request.reason === "delete") return "execution record deleted in execution-tracker";
  if (request.reason === "timeout") return "execution timed out in execution-tracker (timeout_at passed)";
  return "cancel not honoured within the grace period: terminated by execution-tracker";
}

const closedStatuses = new Set(["completed", "failed", "cancelled", "terminated", "timed_out"]);

/** Describes the run; while it is open, again a few times within `withinMs` (the close usually follows a cancel within milliseconds). */
async function describeUntilClosed(temporal: TemporalGateway, workflowId: string, withinMs: number): Promise<WorkflowDescription | null> {
  const deadline = Date.now() + withinMs;
  let pause = 50;
  for (;;) {
    const description = await temporal.describe(workflowId);
    if (!description || closedStatuses.has(description.status) || Date.now() + pause > deadline) return description;
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 400);
  }
}

/** The row's end when the run closed; null while it is open. */
function closedOutcome(request: StopRequest, run: WorkflowDescription): StopFinal | null {
  const closedAt = run.closeTime;
  switch (run.status) {
    case "completed":
      return { outcome: "completed", status: "completed", output: (run.result ?? null) as Json, closedAt };
    case "failed":
      return { outcome: "failed", status: "failed", errorMessage: run.failureMessage ?? "workflow failed in Temporal", closedAt };
    case "timed_out":
      return { outcome: "timed_out", status: "timed_out", errorMessage: "workflow timed out in Temporal", closedAt };
    case "cancelled":
    case "terminated":
      return requested(request, run.status, closedAt);
    default:
      return null; // running (continued_as_new is not what describing the id's latest run gives)
  }
}

/** The end the request asked for: `timed_out` for a deadline, else `cancelled`. */
function requested(request: StopRequest, outcome: string, closedAt: Date | null): StopFinal {
  return request.reason === "timeout"
    ? { outcome, status: "timed_out", errorMessage: "timed out: the deadline passed and the run was stopped in Temporal", closedAt }
    : { outcome, status: "cancelled", closedAt };
}

/**
 * Confirms; a result Postgres cannot store (a \u0000 in a payload) ends the row without it and
 * says so, rather than leaving the request failing forever.
 */
async function confirmOrFallback(tx: Tx, request: StopRequest, token: string, final: StopFinal): Promise<void> {
  if (final.output === undefined) {
    await repo.confirm(tx, request, token, final);
    return;
  }
  await tx`savepoint stop_confirm`;
  try {
    await repo.confirm(tx, request, token, final);
    await tx`release savepoint stop_confirm`;
  } catch (error) {
    const code = (error as { code?: string }).code ?? "";
    if (!code.startsWith("22")) throw error;
    await tx`rollback to savepoint stop_confirm`;
    await repo.confirm(tx, request, token, {
      ...final,
      output: null,
      errorMessage: `Temporal's result could not be stored: ${errorText(error)}`,
    });
  }
}

function count(report: StopReport, request: StopRequest, result: StopForResult): void {
  if (result.state === "confirmed") {
    if (request.executionStatus === null || request.reason === "delete") report.confirmed.deleted++;
    else report.confirmed[result.final.status]++;
  } else if (result.state === "waiting") report.waiting++;
  else if (result.state === "retrying") report.failed++;
}

const inServiceTx = <T>(sql: Sql, work: (tx: Tx) => Promise<T>) => withCaller(sql, serviceCaller, work);

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(lanes);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
