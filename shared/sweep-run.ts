/**
 * One sweeper run (shared/sweeper.ts): its options, clock and report, and the per-row handling
 * every phase shares: batches that fall back to row by row, claimed rows handled with bounded
 * concurrency, Temporal found unreachable, and each failing row counted, logged, backed off and
 * after `maxAttempts` parked (public.execution_sweep_failures).
 */
import { type Tx, withCaller } from "./db.ts";
import { serviceCaller } from "./identity.ts";
import * as retention from "./repository/retention.ts";
import * as repo from "./repository/sweeper.ts";
import type { ClaimedRow, ClaimScope, SweepPhase } from "./repository/sweeper.ts";
import type { PhaseName, PhaseReport, SweeperDeps, SweepOptions, SweepReport } from "./sweeper.ts";
import type { TemporalGateway } from "./temporal/gateway.ts";
import { TemporalUnavailableError } from "./temporal/gateway.ts";

/**
 * A claimed row is left alone this long at least, whatever the recheck threshold, so a
 * concurrent sweeper never takes a row another one is still working on (a batch's Temporal
 * calls take well under this). It also bounds how often one row is compared with Temporal.
 */
export const claimLeaseSeconds = 10;

const maxRetryAfterSeconds = 3600;
const leftCountLimit = 10_000;
const failedIdsShown = 20;
/** Never started by anyone: ids the tracker starts are `execution-<uuid>`, and this one names no execution. */
const reachabilityProbeId = "execution-tracker-reachability-probe";

/** What a phase gives up with (at most the action, in its errorMessage). */
const phaseAction: Record<SweepPhase, string> = {
  deadlines: "to time out this execution",
  reconcile: "to record the outcome of this execution's Temporal run",
  redispatch: "to start this execution in Temporal",
  retention: "to delete this expired execution",
};

export class SweepRun {
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

  /** The report, with the due rows of every phase (in `phaseNames`) that stopped with work left. */
  async finish(phaseNames: PhaseName[]): Promise<SweepReport> {
    const { recheckAfterSeconds, redispatchAfterSeconds, retentionDays } = this.options;
    const counts: Record<PhaseName, ((tx: Tx) => Promise<number>) | null> = {
      stats: null,
      deadlines: (tx) => repo.countOverdue(tx, leftCountLimit),
      reconcile: (tx) => repo.countDueLive(tx, { phase: "reconcile", olderThanSeconds: recheckAfterSeconds, leaseSeconds: 0 }, leftCountLimit),
      redispatch: (tx) => repo.countDueLive(tx, { phase: "redispatch", olderThanSeconds: redispatchAfterSeconds, leaseSeconds: 0 }, leftCountLimit),
      stops: (tx) => repo.countDueStops(tx, leftCountLimit),
      retention: (tx) => retention.countExpired(tx, retentionDays, leftCountLimit),
    };
    for (const name of phaseNames) {
      const count = counts[name];
      const report = this.report[name];
      if (report.stoppedBy && count) report.left = await this.inServiceTx(count);
      // Cut short just as its last due row was handled: nothing was left after all.
      if ((report.stoppedBy === "budget" || report.stoppedBy === "max_batches") && count && report.left === 0) report.stoppedBy = null;
    }
    this.report.complete = phaseNames.every((name) => !["budget", "max_batches"].includes(this.report[name].stoppedBy ?? ""));
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
export function isInfrastructureError(error: unknown): boolean {
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
