/**
 * The timeout sweeper: no execution stays "running" (or "pending") forever, and one bad row
 * never stops it for anyone. A sweep is six phases over one report:
 *
 *   stats       the statistics' pending deltas are folded into the rollups (a bounded amount;
 *               reads are exact either way, the fold keeps them cheap);
 *   deadlines   live rows past `timeout_at` end: a reported row as timed_out at once, a row
 *               the tracker acts on in Temporal with a stop request (by trigger) that the
 *               stop phase sends and that ends it once Temporal confirms;
 *   reconcile   running rows the tracker acts on in Temporal whose run closed without anybody
 *               reporting it take Temporal's outcome (never a `reported` row: docs/architecture.md §1);
 *   redispatch  pending rows whose dispatch never happened are dispatched (never twice: the
 *               Temporal workflow id is fixed per execution);
 *   stops       due stop requests (cancels, deadlines, deletes) are sent to Temporal and
 *               confirmed (shared/stops.ts `processStopRequests`, which backs off on its own);
 *   retention   terminal rows started longer ago than their retention period (the global
 *               `retentionDays`, or a shorter policy of their owner) are deleted in batches,
 *               the statistics keeping their runs (shared/repository/retention.ts).
 *
 * Each phase handles each row on its own. A row that fails is counted in its phase's report,
 * logged with its id, backed off, and after `maxAttempts` parked with an errorMessage that says
 * why (public.execution_sweep_failures); the other rows and phases go on. A batch statement that
 * fails is retried row by row, so a row no statement can handle only ever costs itself.
 *
 * One invocation stops itself inside `budgetMs` (checked between batches and between rows; a row
 * already started finishes): each phase first gets an equal share of what is left of the budget,
 * then the phases cut short share the rest. The report says `complete: false` and, per phase, how
 * many due rows it left; the next invocation resumes with them. Rows are claimed with
 * `for update skip locked` and a lease, so concurrent sweepers never handle the same row. Runs as
 * the service role; all SQL is in repository/sweeper.ts and repository/retention.ts. What every
 * phase shares (clock, report, per-row failures) is shared/sweep-run.ts.
 */
import type { Sql } from "./db.ts";
import { dispatchExecution } from "./dispatch.ts";
import { serviceCaller } from "./identity.ts";
import { processStopRequests, type StopReport } from "./stops.ts";
import * as executions from "./repository/executions.ts";
import * as retention from "./repository/retention.ts";
import type { PrunedRow, RetentionCursor, RetentionRule } from "./repository/retention.ts";
import * as stats from "./repository/stats.ts";
import * as repo from "./repository/sweeper.ts";
import type { OverdueRow, Outcome } from "./repository/sweeper.ts";
import { isInfrastructureError, SweepRun } from "./sweep-run.ts";
import type { TemporalGateway, WorkflowDescription } from "./temporal/gateway.ts";
import { TemporalUnavailableError } from "./temporal/gateway.ts";
import type { Json } from "./types.ts";

/** What the sweeper runs on: the same shape as the functions' runtime. */
export interface SweeperDeps {
  sql: Sql;
  /** Null when Temporal is not configured: only stats, deadlines, stops (confirmed at once) and retention run. */
  temporal: TemporalGateway | null;
  log: (message: string, error?: unknown) => void;
}

export interface SweepOptions {
  /** Rows per batch (one short transaction each). */
  batchSize?: number;
  /** Upper bound of batches per phase and run. */
  maxBatches?: number;
  /** A running row is compared with Temporal at most this often. */
  recheckAfterSeconds?: number;
  /** Pending rows older than this are dispatched again. */
  redispatchAfterSeconds?: number;
  /**
   * Delete terminal executions started longer ago than this (EXECUTION_RETENTION_DAYS); null
   * keeps them, except where an owner's policy (public.execution_retention_policies) is set.
   */
  retentionDays?: number | null;
  /** Temporal calls in flight at once. */
  concurrency?: number;
  /** Wall-clock budget of one invocation, in ms (shared/config.ts SWEEP_BUDGET_MS). */
  budgetMs?: number;
  /** A row that fails this many times in a phase is parked there. */
  maxAttempts?: number;
  /** Backoff after a row's first failure, doubling with each further one (at most an hour). */
  retryAfterSeconds?: number;
  /** A cancel Temporal does not honour this long is escalated to terminate (STOP_ESCALATE_AFTER_SECONDS); null: shared/stops.ts's default. */
  stopEscalateAfterSeconds?: number | null;
}

export type PhaseName = "stats" | "deadlines" | "reconcile" | "redispatch" | "stops" | "retention";

/** What every phase reports. */
export interface PhaseReport {
  /**
   * Null when the phase ran out of due rows; otherwise why it stopped with rows left:
   * `budget` (the invocation's time ran out), `max_batches`, `temporal_unreachable`.
   * A phase with nothing to do (no Temporal configured, no retention period) is not stopped.
   */
  stoppedBy: "budget" | "max_batches" | "temporal_unreachable" | null;
  /** Due rows it left for the next run (counted up to 10,000); 0 when it was not stopped. */
  left: number;
  /** Rows that failed in this run (each is backed off, then parked). */
  failures: number;
  /** Rows parked in this run: the phase no longer tries them. */
  parked: number;
  /** The ids of the rows that failed (at most 20). */
  failedIds: string[];
}

export interface SweepReport {
  /** False when the time budget (or maxBatches) cut a phase short: invoke again to continue. */
  complete: boolean;
  elapsedMs: number;
  budgetMs: number;
  /** False when Temporal could not be reached (or is not configured). */
  temporalReachable: boolean;
  stats: PhaseReport & {
    /** Stat deltas folded into the rollups (shared/repository/stats.ts foldStatDeltas). */
    folded: number;
  };
  deadlines: PhaseReport & {
    /** Reported rows ended as timed_out. */
    timedOut: number;
    /** Rows the tracker acts on in Temporal: a stop request (reason timeout) for the stop phase. */
    stopRequested: number;
  };
  reconcile: PhaseReport & {
    completed: number;
    failed: number;
    cancelled: number;
    timed_out: number;
    /** Compared with Temporal and still running there. */
    stillRunning: number;
    /** Temporal has no such workflow (each is a failure of the row). */
    unknownToTemporal: number;
  };
  redispatch: PhaseReport & {
    started: number;
    /** Can never start (no workflow type, refused by Temporal): marked failed. */
    rejected: number;
  };
  stops: PhaseReport & {
    /** Stop actions Temporal accepted (cancel + terminate). */
    sent: number;
    /** What shared/stops.ts reported; null when the phase did not run. */
    requests: StopReport | null;
  };
  retention: PhaseReport & {
    /** Terminal rows deleted (their runs stay counted in the statistics). */
    deleted: number;
    /** Of those, deleted under their owner's policy (public.execution_retention_policies) rather than the global period. */
    deletedByOwnerPolicy: number;
  };
}


export { claimLeaseSeconds } from "./sweep-run.ts";

export const defaultSweepBudgetMs = 25_000;

const defaults = {
  batchSize: 1000,
  maxBatches: 200,
  recheckAfterSeconds: 30,
  redispatchAfterSeconds: 30,
  retentionDays: null,
  concurrency: 16,
  budgetMs: defaultSweepBudgetMs,
  maxAttempts: 5,
  retryAfterSeconds: 30,
  stopEscalateAfterSeconds: null,
} satisfies Required<SweepOptions>;

/** Deltas per fold transaction (the stats phase). */
const statDeltasPerFold = 10_000;
/** Owners' policies with expired rows taken per run (the rest wait for the next one). */
const ownerRulesPerRun = 1000;

/** The phases in their order, each a function over the run's one report. */
const phases: [PhaseName, (run: SweepRun) => Promise<void>][] = [
  ["stats", foldStatDeltas],
  ["deadlines", endOverdueRows],
  ["reconcile", adoptClosedRuns],
  ["redispatch", redispatchPendingRows],
  ["stops", sendStops],
  ["retention", pruneExpiredRows],
];

export async function sweep(deps: SweeperDeps, options: SweepOptions = {}): Promise<SweepReport> {
  const run = new SweepRun(deps, { ...defaults, ...options });
  // First each phase gets an equal share of what is left of the budget, so that no phase (one
  // tenant's flood of overdue rows) starves the others; then the phases cut short get the rest.
  for (const [index, [name, phase]] of phases.entries()) await run.phase(name, phase, 1 / (phases.length - index));
  for (const [name, phase] of phases) if (run.report[name].stoppedBy === "budget") await run.phase(name, phase, 1);
  return await run.finish(phases.map(([name]) => name));
}

// ---------------------------------------------------------------------------------------------
// The phases
// ---------------------------------------------------------------------------------------------

/**
 * Folds the stat deltas writes appended into the rollups, in batches. Reads are exact without it
 * (they add what is not folded yet); it keeps them cheap, so the fold never lags far even where
 * the sweeper is the only thing that runs it (no pg_cron). A fold that fails is logged and
 * counted and the other phases go on: it is retried by the next run.
 */
async function foldStatDeltas(run: SweepRun): Promise<void> {
  const report = run.report.stats;
  await run.inBatches("stats", async () => {
    try {
      const folded = await stats.foldStatDeltas(run.deps.sql, statDeltasPerFold);
      report.folded += folded;
      return folded >= statDeltasPerFold;
    } catch (error) {
      if (isInfrastructureError(error)) throw error;
      report.failures++;
      run.deps.log("sweeper: folding the stat deltas failed; the next run retries", error);
      return false;
    }
  });
}

async function endOverdueRows(run: SweepRun): Promise<void> {
  const report = run.report.deadlines;
  await run.inBatches("deadlines", async () => {
    const ended = await run.batchOrEachRow<OverdueRow>("deadlines", {
      batch: async (tx, scope) => {
        await repo.markStopsAsSweepers(tx);
        return await repo.timeOutOverdue(tx, scope);
      },
      ids: (tx, scope) => repo.overdueIds(tx, scope),
    });
    for (const row of ended.rows) report[row.status === "timed_out" ? "timedOut" : "stopRequested"]++;
    return ended.full;
  });
}

async function adoptClosedRuns(run: SweepRun): Promise<void> {
  const temporal = run.temporalFor("reconcile");
  if (!temporal) return;
  const report = run.report.reconcile;
  await run.inBatches("reconcile", async () => {
    const claimed = await run.claimLive("reconcile", run.options.recheckAfterSeconds);
    await run.eachClaimed("reconcile", claimed.rows, async (row) => {
      const description = await temporal.describe(row.temporalWorkflowId);
      if (!description) {
        report.unknownToTemporal++;
        throw new Error(`Temporal has no workflow ${JSON.stringify(row.temporalWorkflowId)} (it never started, or its history is gone)`);
      }
      const outcome = outcomeOf(description);
      if (!outcome) {
        report.stillRunning++;
        return;
      }
      if (await run.inServiceTx((tx) => repo.adoptOutcome(tx, row.id, outcome))) report[outcome.status]++;
    });
    return claimed.full;
  });
}

async function redispatchPendingRows(run: SweepRun): Promise<void> {
  const temporal = run.temporalFor("redispatch");
  if (!temporal) return;
  const report = run.report.redispatch;
  await run.inBatches("redispatch", async () => {
    const claimed = await run.claimLive("redispatch", run.options.redispatchAfterSeconds);
    await run.eachClaimed("redispatch", claimed.rows, async (row) => {
      const execution = await run.inServiceTx((tx) => executions.findExecution(tx, { id: row.id }));
      if (execution?.status !== "pending") return; // moved on meanwhile
      const result = await dispatchExecution({ sql: run.deps.sql, caller: serviceCaller, temporal, log: run.deps.log }, execution);
      if (result.outcome === "queued") throw new TemporalUnavailableError(result.message);
      if (result.outcome === "started") report.started++;
      else if (result.outcome === "rejected") report.rejected++;
    });
    return claimed.full;
  });
}

/** Due stop requests, sent and confirmed by shared/stops.ts; it stops claiming when the phase's time is up. */
async function sendStops(run: SweepRun): Promise<void> {
  const report = run.report.stops;
  const { stopEscalateAfterSeconds } = run.options;
  const requests = await processStopRequests(run.deps, {
    stopClaimingAt: Date.now() + run.msLeft(),
    ...(stopEscalateAfterSeconds === null ? {} : { escalateAfterSeconds: stopEscalateAfterSeconds }),
  });
  report.requests = report.requests ? addCounts(report.requests, requests) : requests; // a second pass adds up
  report.sent = report.requests.sent.cancel + report.requests.sent.terminate;
  report.failures = report.requests.failed;
  if (!requests.temporalReachable) run.temporalReachable = false;
  // Out of time with requests still due (not merely waiting for Temporal's confirmation): cut short.
  if (!run.hasTime() && (await run.inServiceTx((tx) => repo.countDueStops(tx, 1))) > 0) report.stoppedBy = "budget";
}

/**
 * Terminal rows older than their retention period (by started_at), deleted without being
 * subtracted from the statistics: first the rules of owners whose policy is shorter than the
 * global period (those with expired rows), then the global one; each rule in its own batches.
 */
async function pruneExpiredRows(run: SweepRun): Promise<void> {
  const globalDays = run.options.retentionDays;
  const report = run.report.retention;
  const ownerRules = await run.inServiceTx((tx) => retention.ownerRulesDue(tx, globalDays, ownerRulesPerRun));
  const rules: RetentionRule[] = [...ownerRules, ...(globalDays === null ? [] : [{ retentionDays: globalDays }])];
  let stoppedBy: PhaseReport["stoppedBy"] = null;
  for (const rule of rules) {
    report.stoppedBy = null; // each rule has its own maxBatches
    const deleted = await pruneByRule(run, rule);
    report.deleted += deleted;
    if (rule.createdBy) report.deletedByOwnerPolicy += deleted;
    stoppedBy = report.stoppedBy ?? stoppedBy;
    if (report.stoppedBy === "budget") break;
  }
  report.stoppedBy = stoppedBy;
}

/** One rule's batches, each resuming after the last row the one before deleted; returns how many rows went. */
async function pruneByRule(run: SweepRun, rule: RetentionRule): Promise<number> {
  let after: RetentionCursor | null = null;
  let deleted = 0;
  await run.inBatches("retention", async () => {
    const pruned = await run.batchOrEachRow<PrunedRow>("retention", {
      batch: async (tx, scope) => (await retention.markAsPruning(tx), await retention.pruneExpired(tx, rule, after, scope)),
      ids: (tx, scope) => retention.expiredIds(tx, rule, after, scope),
    });
    after = pruned.rows.at(-1) ?? after;
    deleted += pruned.rows.length;
    return pruned.full;
  });
  return deleted;
}

/** The sum of two reports' counts (numbers, nested); other fields from the later one. */
function addCounts<T>(a: T, b: T): T {
  if (typeof a === "number" && typeof b === "number") return (a + b) as T;
  if (a && b && typeof a === "object" && typeof b === "object") {
    const sum: Record<string, unknown> = { ...(b as Record<string, unknown>) };
    for (const [key, value] of Object.entries(a as Record<string, unknown>)) sum[key] = addCounts(value, (b as Record<string, unknown>)[key]);
    return sum as T;
  }
  return b;
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
