/**
 * The timeout sweeper: no execution stays "running" (or "pending") forever. Each run, in
 * bounded batches:
 *  1. live executions past `timeout_at` are marked timed_out and their Temporal runs terminated;
 *  2. running executions whose Temporal run already closed take Temporal's outcome
 *     (completed + result, failed + message, cancelled, terminated -> cancelled, timed out);
 *  3. pending executions older than a threshold are dispatched again (never started twice:
 *     the Temporal workflow id is fixed per execution);
 *  4. optionally, terminal executions older than the retention period are deleted.
 * Rows are claimed with `for update skip locked` and a lease (`temporal_checked_at`), so
 * concurrent sweepers never handle the same row. Runs as the service role.
 */
import { type Sql, type Tx, withCaller } from "./db.ts";
import { dispatchExecution } from "./dispatch.ts";
import * as repo from "./repository/executions.ts";
import type { TemporalGateway, WorkflowDescription } from "./temporal/gateway.ts";
import { TemporalUnavailableError } from "./temporal/gateway.ts";
import { serviceCaller } from "./identity.ts";
import type { Json } from "./types.ts";

export interface SweepOptions {
  /** Rows per batch (one short transaction each). */
  batchSize?: number;
  /** Upper bound of batches per step and run, so one run always ends. */
  maxBatches?: number;
  /** A live row is compared with Temporal at most this often. */
  recheckAfterSeconds?: number;
  /** Pending rows older than this are dispatched again. */
  redispatchAfterSeconds?: number;
  /** Delete terminal executions completed longer ago than this; null keeps them. */
  retentionDays?: number | null;
  /** Temporal calls in flight at once. */
  concurrency?: number;
}

export interface SweepReport {
  timedOut: number;
  reconciled: { completed: number; failed: number; cancelled: number; timed_out: number };
  stillRunning: number;
  unknownToTemporal: number;
  redispatched: number;
  /** Pending rows that can never start (no workflow type, refused by Temporal): marked failed. */
  rejected: number;
  stillPending: number;
  deleted: number;
  temporalErrors: number;
  temporalReachable: boolean;
}

/**
 * A claimed row is left alone this long at least, whatever the recheck threshold, so a
 * concurrent sweeper never takes a row another one is still working on (a batch's Temporal
 * calls take well under this). It also bounds how often one row is compared with Temporal.
 */
export const claimLeaseSeconds = 10;

const defaults = {
  batchSize: 1000,
  maxBatches: 200,
  recheckAfterSeconds: 30,
  redispatchAfterSeconds: 30,
  retentionDays: null,
  concurrency: 16,
} satisfies Required<SweepOptions>;

export async function sweep(
  deps: { sql: Sql; temporal: TemporalGateway | null; log?: (message: string, error?: unknown) => void },
  options: SweepOptions = {},
): Promise<SweepReport> {
  const o = { ...defaults, ...options };
  const log = deps.log ?? ((message, error) => console.error(message, error));
  const inServiceTx = <T>(work: (tx: Tx) => Promise<T>) => withCaller(deps.sql, serviceCaller, work);
  const report: SweepReport = {
    timedOut: 0,
    reconciled: { completed: 0, failed: 0, cancelled: 0, timed_out: 0 },
    stillRunning: 0,
    unknownToTemporal: 0,
    redispatched: 0,
    rejected: 0,
    stillPending: 0,
    deleted: 0,
    temporalErrors: 0,
    temporalReachable: deps.temporal !== null,
  };
  const temporalCall = async (what: string, call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (error) {
      report.temporalErrors++;
      if (error instanceof TemporalUnavailableError) report.temporalReachable = false;
      else log(`sweeper: ${what} failed`, error);
    }
  };

  // 1. Deadlines. The record is ended first (the deadline passed, whatever Temporal says),
  //    then the runs are terminated.
  for (let batch = 0; batch < o.maxBatches; batch++) {
    const ended = await inServiceTx((tx) => timeOutOverdue(tx, o.batchSize));
    report.timedOut += ended.length;
    if (deps.temporal) {
      const temporal = deps.temporal;
      await inParallel(ended.filter((row) => row.temporal_workflow_id), o.concurrency, (row) =>
        temporalCall(`terminate ${row.temporal_workflow_id}`, () =>
          temporal.terminate(row.temporal_workflow_id!, row.temporal_run_id ?? undefined, "execution timed out (timeout_at passed)")));
    }
    if (ended.length < o.batchSize) break;
  }

  if (deps.temporal) {
    const temporal = deps.temporal;
    // 2. Running rows whose run closed without anybody reporting it.
    for (let batch = 0; batch < o.maxBatches && report.temporalReachable; batch++) {
      const claimed = await inServiceTx((tx) => claimLive(tx, "running", o.recheckAfterSeconds, o.batchSize));
      await inParallel(claimed, o.concurrency, async (row) => {
        let description: WorkflowDescription | null = null;
        await temporalCall(`describe ${row.temporal_workflow_id}`, async () => {
          description = await temporal.describe(row.temporal_workflow_id!);
        });
        const outcome = description ? outcomeOf(description) : null;
        if (description === null) {
          if (report.temporalReachable) report.unknownToTemporal++;
          else await inServiceTx((tx) => releaseClaim(tx, row.id));
        } else if (!outcome) {
          report.stillRunning++;
        } else if (await inServiceTx((tx) => adoptOutcome(tx, row.id, outcome))) {
          report.reconciled[outcome.status]++;
        }
      });
      if (claimed.length < o.batchSize) break;
    }

    // 3. Pending rows whose dispatch never happened (Temporal was down, a crash in between).
    for (let batch = 0; batch < o.maxBatches && report.temporalReachable; batch++) {
      const claimed = await inServiceTx((tx) => claimLive(tx, "pending", o.redispatchAfterSeconds, o.batchSize));
      await inParallel(claimed, o.concurrency, async (row) => {
        const execution = await inServiceTx((tx) => repo.findExecution(tx, { id: row.id }));
        if (execution?.status !== "pending") return;
        try {
          const result = await dispatchExecution({ sql: deps.sql, caller: serviceCaller, temporal }, execution);
          if (result.outcome === "started") report.redispatched++;
          else if (result.outcome === "rejected") report.rejected++;
          else {
            report.stillPending++;
            report.temporalReachable = false;
            await inServiceTx((tx) => releaseClaim(tx, row.id));
          }
        } catch (error) {
          report.temporalErrors++;
          log(`sweeper: dispatch of ${row.id} failed`, error);
        }
      });
      if (claimed.length < o.batchSize) break;
    }
  }

  // 4. Retention.
  if (o.retentionDays !== null) {
    for (let batch = 0; batch < o.maxBatches; batch++) {
      const deleted = await inServiceTx((tx) => deleteExpired(tx, o.retentionDays!, o.batchSize));
      report.deleted += deleted;
      if (deleted < o.batchSize) break;
    }
  }
  return report;
}

interface LiveRow {
  id: string;
  temporal_workflow_id: string | null;
  temporal_run_id: string | null;
}

async function timeOutOverdue(tx: Tx, limit: number): Promise<LiveRow[]> {
  return await tx<LiveRow[]>`
    with overdue as (
      select id from public.workflow_executions
       where status in ('pending', 'running') and timeout_at is not null and timeout_at < now()
       order by timeout_at
       limit ${limit}
       for update skip locked
    )
    update public.workflow_executions e
       set status = 'timed_out',
           error_message = coalesce(e.error_message, 'timed out: no result before ' || to_char(e.timeout_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
      from overdue
     where e.id = overdue.id
    returning e.id, e.temporal_workflow_id, e.temporal_run_id`;
}

/** Takes a lease on live rows checked longest ago (skipping rows other sweepers hold). */
async function claimLive(tx: Tx, status: "pending" | "running", olderThanSeconds: number, limit: number): Promise<LiveRow[]> {
  return await tx<LiveRow[]>`
    with due as (
      select id from public.workflow_executions
       where status = ${status}::text
         and temporal_workflow_id is not null
         and coalesce(temporal_checked_at, started_at) < now() - make_interval(secs => ${olderThanSeconds})
         and (temporal_checked_at is null or temporal_checked_at < now() - make_interval(secs => ${claimLeaseSeconds}))
       order by status, coalesce(temporal_checked_at, started_at)
       limit ${limit}
       for update skip locked
    )
    update public.workflow_executions e
       set temporal_checked_at = now()
      from due
     where e.id = due.id
    returning e.id, e.temporal_workflow_id, e.temporal_run_id`;
}

/** Gives a claimed row back (Temporal was unreachable), so the next run retries it at once. */
async function releaseClaim(tx: Tx, id: string): Promise<void> {
  await tx`update public.workflow_executions set temporal_checked_at = null where id = ${id}`;
}

interface Outcome {
  status: "completed" | "failed" | "cancelled" | "timed_out";
  output?: Json;
  errorMessage?: string;
  completedAt: Date | null;
}

/** Temporal's final state as an execution outcome; null while the run is still going. */
export function outcomeOf(run: WorkflowDescription): Outcome | null {
  const completedAt = run.closeTime;
  switch (run.status) {
    case "completed":
      return { status: "completed", output: (run.result ?? null) as Json, completedAt };
    case "failed":
      return { status: "failed", errorMessage: run.failureMessage ?? "workflow failed in Temporal", completedAt };
    case "cancelled":
      return { status: "cancelled", completedAt };
    case "terminated":
      return { status: "cancelled", errorMessage: `terminated in Temporal${run.failureMessage ? `: ${run.failureMessage}` : ""}`, completedAt };
    case "timed_out":
      return { status: "timed_out", errorMessage: "workflow timed out in Temporal", completedAt };
    default:
      return null; // running, or continued as new (the latest run is described next time)
  }
}

/** Records Temporal's outcome unless the row moved on meanwhile (then the report wins). */
async function adoptOutcome(tx: Tx, id: string, outcome: Outcome): Promise<boolean> {
  const updated = await tx`
    update public.workflow_executions
       set status = ${outcome.status}::text,
           output = coalesce(${repo.jsonParam(tx, outcome.output)}::jsonb, output),
           error_message = coalesce(error_message, ${outcome.errorMessage ?? null}::text),
           completed_at = greatest(started_at, coalesce(${outcome.completedAt}::timestamptz, now()))
     where id = ${id} and status = 'running'
    returning id`;
  return updated.length > 0;
}

async function deleteExpired(tx: Tx, retentionDays: number, limit: number): Promise<number> {
  const deleted = await tx`
    delete from public.workflow_executions
     where id in (
       select id from public.workflow_executions
        where status in ('completed', 'failed', 'cancelled', 'timed_out')
          and completed_at < now() - make_interval(days => ${retentionDays})
        limit ${limit}
        for update skip locked)
    returning id`;
  return deleted.length;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(lanes);
}
