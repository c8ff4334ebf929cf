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
 * the service role; all SQL is in repository/sweeper.ts.
 */
import { type Sql, type Tx, withCaller } from "./db.ts";
import { dispatchExecution } from "./dispatch.ts";
import { serviceCaller } from "./identity.ts";
import { processStopRequests, type StopReport } from "./stops.ts";
import * as executions from "./repository/executions.ts";
import * as retention from "./repository/retention.ts";
import type { PrunedRow, RetentionCursor, RetentionRule } from "./repository/retention.ts";
import * as stats from "./repository/stats.ts";
import * as repo from "./repository/sweeper.ts";
import type { ClaimedRow, ClaimScope, OverdueRow, Outcome, SweepPhase } from "./repository/sweeper.ts";
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

/**
 * A claimed row is left alone this long at least, whatever the recheck threshold, so a
 * concurrent sweeper never takes a row another one is still working on (a batch's Temporal
 * calls take well under this). It also bounds how often one row is compared with Temporal.
 */
export const claimLeaseSeconds = 10;

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

const maxRetryAfterSeconds = 3600;
const leftCountLimit = 10_000;
const failedIdsShown = 20;
/** Deltas per fold transaction (the stats phase). */
const statDeltasPerFold = 10_000;
/** Owners' policies with expired rows taken per run (the rest wait for the next one). */
const ownerRulesPerRun = 1000;
/** Never started by anyone: ids the tracker starts are `execution-<uuid>`, and this one names no execution. */
const reachabilityProbeId = "execution-tracker-reachability-probe";

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
  return await run.finish();
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

// ---------------------------------------------------------------------------------------------
// One run: options, clock, report, and the per-row handling every phase shares
// ---------------------------------------------------------------------------------------------

/** What a phase gives up with (at most the action, in its errorMessage). */
const phaseAction: Record<SweepPhase, string> = {
  deadlines: "to time out this execution",
  reconcile: "to record the outcome of this execution's Temporal run",
  redispatch: "to start this execution in Temporal",
  retention: "to delete this expired execution",
};

class SweepRun {
  readonly report: SweepReport;
  readonly temporal: TemporalGateway | null;
  temporalReachable: boolean;
  private readonly started = performance.now();
  private readonly deadline: number;
  private phaseDeadline = 0;
  /** This run's failures per phase: never claimed again in the same run. */
  private readonly failed: Record<SweepPhase, string[]> = { deadlines: [], reconcile: [], redispatch: [], retention: [] };

  constructor(readonly deps: SweeperDeps, readonly options: Required<SweepOptions>) {
    this.temporal = deps.temporal;
    this.temporalReachable = deps.temporal !== null;
    this.deadline = this.started + options.budgetMs;
    const phase = (): PhaseReport => ({ stoppedBy: null, left: 0, failures: 0, parked: 0, failedIds: [] });
    this.report = {
      complete: true,
      elapsedMs: 0,
      budgetMs: options.budgetMs,
      temporalReachable: this.temporalReachable,
      stats: { ...phase(), folded: 0 },
      deadlines: { ...phase(), timedOut: 0, stopRequested: 0 },
      reconcile: { ...phase(), completed: 0, failed: 0, cancelled: 0, timed_out: 0, stillRunning: 0, unknownToTemporal: 0 },
      redispatch: { ...phase(), started: 0, rejected: 0 },
      stops: { ...phase(), sent: 0, requests: null },
      retention: { ...phase(), deleted: 0, deletedByOwnerPolicy: 0 },
    };
  }

  /** Runs one phase with `share` of the budget that is left. */
  async phase(name: PhaseName, work: (run: SweepRun) => Promise<void>, share: number): Promise<void> {
    const now = performance.now();
    this.phaseDeadline = now + Math.max(0, this.deadline - now) * share;
    this.report[name].stoppedBy = null;
    await work(this);
  }

  /** The gateway for a phase; null (and the phase stopped) when Temporal is not configured or was found unreachable. */
  temporalFor(name: "reconcile" | "redispatch"): TemporalGateway | null {
    if (this.temporal && !this.temporalReachable) this.report[name].stoppedBy = "temporal_unreachable";
    return this.temporalReachable ? this.temporal : null;
  }

  /** True while the phase may start another batch or row. */
  hasTime(): boolean {
    return this.msLeft() > 0;
  }

  msLeft(): number {
    return Math.min(this.deadline, this.phaseDeadline) - performance.now();
  }

  inServiceTx<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return withCaller(this.deps.sql, serviceCaller, async (tx) => {
      try {
        return await work(tx);
      } catch (error) {
        throw keepDatabaseMessage(error);
      }
    });
  }

  /** Runs `batch` until it says the last batch was not full, the phase stops, or its time is up. */
  async inBatches(name: PhaseName, batch: () => Promise<boolean>): Promise<void> {
    const report = this.report[name];
    for (let n = 0; ; n++) {
      if (n >= this.options.maxBatches) return void (report.stoppedBy = "max_batches");
      if (!this.hasTime()) return void (report.stoppedBy = "budget");
      const full = await batch();
      if (!full || report.stoppedBy) return;
    }
  }

  /**
   * One batch of a set-based statement; when it fails, the same work row by row, each row in a
   * transaction of its own, so only the rows that fail are failures. `full`: there may be more.
   */
  async batchOrEachRow<R>(
    phase: SweepPhase,
    statements: {
      batch: (tx: Tx, scope: ClaimScope) => Promise<R[]>;
      ids: (tx: Tx, scope: ClaimScope) => Promise<string[]>;
    },
  ): Promise<{ rows: R[]; full: boolean }> {
    const limit = this.options.batchSize;
    const skip = this.failed[phase];
    try {
      const rows = await this.inServiceTx((tx) => statements.batch(tx, { limit, skip }));
      return { rows, full: rows.length >= limit };
    } catch (error) {
      if (isInfrastructureError(error)) throw error;
      this.deps.log(`sweeper: a ${phase} batch failed; handling its rows one by one`, error);
    }
    const ids = await this.inServiceTx((tx) => statements.ids(tx, { limit, skip }));
    const rows: R[] = [];
    for (const id of ids) {
      if (!this.hasTime()) {
        this.report[phase].stoppedBy = "budget";
        return { rows, full: true };
      }
      try {
        rows.push(...(await this.inServiceTx((tx) => statements.batch(tx, { limit: 1, skip: [], id }))));
      } catch (error) {
        await this.rowFailed(phase, id, error);
      }
    }
    return { rows, full: ids.length >= limit };
  }

  /** Claims a batch of due live rows for `phase` (row by row if the batch claim fails). */
  claimLive(phase: "reconcile" | "redispatch", olderThanSeconds: number) {
    const claim = { phase, olderThanSeconds, leaseSeconds: claimLeaseSeconds };
    return this.batchOrEachRow<ClaimedRow>(phase, {
      batch: (tx, scope) => repo.claimLive(tx, { ...claim, ...scope }),
      ids: (tx, scope) => repo.dueLiveIds(tx, { ...claim, ...scope }),
    });
  }

  /**
   * Handles claimed rows with bounded concurrency, each on its own. A row whose Temporal call
   * finds Temporal unavailable counts as a failure of that row only if Temporal answers for
   * anything else (another row of the batch, or a probe); if not, Temporal is down: the rows
   * are given back untouched and the phase stops. Rows not started when the time is up are
   * given back too.
   */
  async eachClaimed(phase: "reconcile" | "redispatch", rows: ClaimedRow[], handle: (row: ClaimedRow) => Promise<void>): Promise<void> {
    const report = this.report[phase];
    const notStarted: string[] = [];
    const unavailable: { row: ClaimedRow; error: unknown }[] = [];
    const failed: { row: ClaimedRow; error: unknown }[] = [];
    let answered = 0;
    await this.inParallel(rows, async (row) => {
      try {
        await handle(row);
        answered++;
        if (row.attempts > 0) await this.inServiceTx((tx) => repo.clearFailures(tx, row.id, phase));
      } catch (error) {
        if (isInfrastructureError(error)) throw error;
        if (error instanceof TemporalUnavailableError) unavailable.push({ row, error });
        else {
          answered++;
          failed.push({ row, error });
        }
      }
    }, (row) => notStarted.push(row.id));

    if (unavailable.length && answered === 0 && !(await this.temporalAnswers())) {
      this.temporalReachable = false;
      report.stoppedBy = "temporal_unreachable";
      notStarted.push(...unavailable.map(({ row }) => row.id));
      this.deps.log(`sweeper: Temporal is unreachable; ${phase} stops until the next run`, unavailable[0].error);
    } else {
      failed.push(...unavailable);
    }
    for (const { row, error } of failed) await this.rowFailed(phase, row.id, error);
    // A failed row waits for its backoff (retry_at), not for the lease as well.
    await this.inServiceTx((tx) => repo.releaseClaims(tx, failed.map(({ row }) => row.id)));
    if (notStarted.length) {
      if (!report.stoppedBy) report.stoppedBy = "budget";
      await this.inServiceTx((tx) => repo.releaseClaims(tx, notStarted));
    }
  }

  /** Whether Temporal answers at all: a description of a workflow id nothing ever starts (Temporal says it does not exist). */
  private async temporalAnswers(): Promise<boolean> {
    try {
      await this.temporal?.describe(reachabilityProbeId);
      return true;
    } catch (error) {
      return !(error instanceof TemporalUnavailableError);
    }
  }

  /** Runs `work` over `items`, at most `concurrency` at once, starting each only while there is time; `skipped` gets the rest. */
  async inParallel<T>(items: T[], work: (item: T) => Promise<void>, skipped: (item: T) => void): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < items.length) {
        const item = items[next++];
        if (this.hasTime()) await work(item);
        else skipped(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, items.length) }, lane));
  }

  countFailure(phase: PhaseName, id: string): void {
    const report = this.report[phase];
    report.failures++;
    if (report.failedIds.length < failedIdsShown) report.failedIds.push(id);
  }

  /** Counts, logs and records one row's failure in a phase: backed off, or parked after the last attempt. */
  async rowFailed(phase: SweepPhase, id: string, error: unknown): Promise<void> {
    this.countFailure(phase, id);
    this.failed[phase].push(id);
    const message = errorText(error);
    const { maxAttempts, retryAfterSeconds } = this.options;
    let recorded: repo.RecordedFailure | null;
    try {
      recorded = await this.inServiceTx((tx) =>
        repo.recordFailure(tx, { executionId: id, phase, error: message, maxAttempts, retryAfterSeconds, maxRetryAfterSeconds })
      );
    } catch (bookkeepingError) {
      if (sqlStateOf(bookkeepingError) !== "23503") throw bookkeepingError; // 23503: the row was deleted meanwhile
      recorded = null;
    }
    if (!recorded) return this.deps.log(`sweeper: ${phase} of execution ${id} failed; the row is gone now: ${message}`);
    if (!recorded.parked) {
      return this.deps.log(
        `sweeper: ${phase} of execution ${id} failed (attempt ${recorded.attempts} of ${maxAttempts}; next after ${recorded.retryAt.toISOString()}): ${message}`,
      );
    }
    this.report[phase].parked++;
    this.deps.log(`sweeper: ${phase} of execution ${id} failed ${recorded.attempts} times; parked: ${message}`);
    const explanation = `execution-tracker's sweeper gave up trying ${phaseAction[phase]} after ${recorded.attempts} failed attempts; last error: ${message}`;
    try {
      await this.inServiceTx((tx) => repo.explainParkedRow(tx, id, explanation.slice(0, 2000)));
    } catch (explainError) {
      if (isInfrastructureError(explainError)) throw explainError;
      this.deps.log(`sweeper: could not write the errorMessage of parked execution ${id}`, explainError);
    }
  }

  /** The report, with the due rows of every phase that stopped with work left. */
  async finish(): Promise<SweepReport> {
    const { recheckAfterSeconds, redispatchAfterSeconds, retentionDays } = this.options;
    const counts: Record<PhaseName, ((tx: Tx) => Promise<number>) | null> = {
      stats: null,
      deadlines: (tx) => repo.countOverdue(tx, leftCountLimit),
      reconcile: (tx) => repo.countDueLive(tx, { phase: "reconcile", olderThanSeconds: recheckAfterSeconds, leaseSeconds: 0 }, leftCountLimit),
      redispatch: (tx) => repo.countDueLive(tx, { phase: "redispatch", olderThanSeconds: redispatchAfterSeconds, leaseSeconds: 0 }, leftCountLimit),
      stops: (tx) => repo.countDueStops(tx, leftCountLimit),
      retention: (tx) => retention.countExpired(tx, retentionDays, leftCountLimit),
    };
    for (const [name] of phases) {
      const count = counts[name];
      const report = this.report[name];
      if (report.stoppedBy && count) report.left = await this.inServiceTx(count);
      // Cut short just as its last due row was handled: nothing was left after all.
      if ((report.stoppedBy === "budget" || report.stoppedBy === "max_batches") && count && report.left === 0) report.stoppedBy = null;
    }
    this.report.complete = phases.every(([name]) => !["budget", "max_batches"].includes(this.report[name].stoppedBy ?? ""));
    this.report.temporalReachable = this.temporalReachable;
    this.report.elapsedMs = Math.round(performance.now() - this.started);
    return this.report;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * A database error of a row, with the database's own message. withCaller turns known
 * SQLSTATEs into the API's client-safe errors ("a value has an invalid format"); the sweeper
 * logs and records what actually failed. Deadlocks keep their code, so withCaller still retries.
 */
class RowDatabaseError extends Error {
  override readonly name = "RowDatabaseError";
  readonly code?: string;
  constructor(readonly sqlState: string, message: string) {
    super(`${message} (SQLSTATE ${sqlState})`);
    if (sqlState === "40P01" || sqlState === "40001") this.code = sqlState;
  }
}

function keepDatabaseMessage(error: unknown): unknown {
  const pg = error as { code?: unknown; message?: unknown; detail?: unknown };
  if (!(error instanceof Error) || typeof pg.code !== "string" || !/^[0-9A-Z]{5}$/.test(pg.code)) return error;
  const detail = typeof pg.detail === "string" && pg.detail ? `: ${pg.detail}` : "";
  return new RowDatabaseError(pg.code, `${error.message}${detail}`);
}

function sqlStateOf(error: unknown): string | undefined {
  if (error instanceof RowDatabaseError) return error.sqlState;
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The database itself is unreachable or out of resources: not a fault of the row. The sweep
 * fails (and the next one retries) instead of charging every row with it.
 */
function isInfrastructureError(error: unknown): boolean {
  const code = sqlStateOf(error);
  if (!code) return false;
  return /^(08|53|57P0)/.test(code) ||
    ["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT"].includes(code);
}

/** One line, no control characters (Postgres text cannot hold NUL), at most 1,000 characters. */
function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error);
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim().slice(0, 1000) || "unknown error";
}
