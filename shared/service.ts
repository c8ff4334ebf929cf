/**
 * The execution service: every business rule of the tracker, for one caller. HTTP handlers,
 * the webhook, the sweeper and server-side TypeScript callers all go through it.
 */
import { decodeCursor, encodeCursor } from "./cursor.ts";
import { type Sql, type Tx, withCaller, withCallerStatement } from "./db.ts";
import { ConflictError, NotFoundError, ValidationError } from "./errors.ts";
import { resolveOwner } from "./identity.ts";
import * as repo from "./repository/executions.ts";
import { readStats, readStatsSeries, type StatsRow, statsHistory } from "./repository/stats.ts";
import { needsRowStats, readFilteredStats, readFilteredStatsSeries } from "./repository/tagged-stats.ts";
import { findWorkflow } from "./repository/workflows.ts";
import { type ExecutionStatus, executionStatuses, isTerminal } from "./status.ts";
import type { TemporalGateway } from "./temporal/gateway.ts";
import { dispatchInsertedPending } from "./dispatch.ts";
import { claimStopsOfTransaction, processStopFor } from "./stops.ts";
import type {
  Caller,
  CreateExecutionInput,
  CreateExecutionInternals,
  CreateExecutionResult,
  ExecutionPage,
  ExecutionRef,
  ExecutionStats,
  ExecutionStatsSeries,
  ExecutionWithWorkflow,
  ExportExecutionsFilter,
  Json,
  ListExecutionsFilter,
  StatsFilter,
  StatsSeriesFilter,
  UpdateExecutionInput,
} from "./types.ts";

export interface ExecutionServiceDeps {
  sql: Sql;
  caller: Caller;
  /** Absent: the tracker only records runs that apps start themselves. */
  temporal?: TemporalGateway | null;
  /** Where background failures (a best-effort Temporal cancel) are reported. */
  log?: (message: string, error?: unknown) => void;
}

export type ExecutionService = ReturnType<typeof createExecutionService>;

export function createExecutionService(deps: ExecutionServiceDeps) {
  const { sql, caller } = deps;
  const temporal = deps.temporal ?? null;
  const log = deps.log ?? ((message, error) => console.error(message, error));
  const inCallerTx = <T>(work: (tx: Tx) => Promise<T>) => withCaller(sql, caller, work);
  // For a `work` of exactly one statement: opening, statement and COMMIT go out in one write
  // (one round trip instead of two; db.ts refuses a second statement).
  const inCallerStatement = <T>(work: (tx: Tx) => Promise<T>) => withCallerStatement(sql, caller, work);

  async function getExecution(id: string): Promise<ExecutionWithWorkflow> {
    const execution = await inCallerStatement((tx) => repo.findExecution(tx, { id }));
    if (!execution) throw new NotFoundError("execution not found");
    return execution;
  }

  /** `internals` is what only the tracker passes (the retry helper's `retryOf`), never an HTTP body. */
  async function createExecution(input: CreateExecutionInput, internals: CreateExecutionInternals = {}): Promise<CreateExecutionResult> {
    const owner = resolveOwner(caller, input.userId);
    const dispatched = input.temporalWorkflowId === undefined;
    const { execution, outcome } = await inCallerTx(async (tx) => {
      if (dispatched) {
        // A workflow of another owner is invisible under RLS; for the service role the
        // (workflow_id, created_by) foreign key rejects it. Either way: 404.
        const workflow = await findWorkflow(tx, input.workflowId);
        if (!workflow) throw new NotFoundError("workflow not found");
        if (!workflow.temporalWorkflowType || !workflow.taskQueue) {
          throw new ConflictError(
            "this workflow has no temporal_workflow_type and task_queue, so the tracker cannot start it: pass temporalWorkflowId for runs started elsewhere",
          );
        }
      }
      const created = await repo.insertExecution(tx, {
        workflowId: input.workflowId,
        createdBy: owner,
        temporalWorkflowId: input.temporalWorkflowId ?? null,
        temporalRunId: input.temporalRunId ?? null,
        status: dispatched ? "pending" : "running",
        input: input.input,
        timeoutSeconds: input.timeoutSeconds,
        tags: input.tags,
        metadata: input.metadata,
        retryOf: internals.retryOf ?? null,
      });
      if (created) return { execution: created, outcome: "created" as const };
      return { execution: await existingFor(tx, input, owner), outcome: "existing" as const };
    });

    if (outcome === "created" && execution.status === "pending") return dispatchInsertedPending({ sql, temporal, log }, execution);
    return { execution, outcome };
  }

  /**
   * The row an idempotent retry refers to: the owner's own row of that temporalWorkflowId
   * (unique per owner). A user's insert can only clash with their own rows (a user's row is
   * `reported`, outside the acted-on uniqueness), so a user's 409 never says anything about
   * another tenant. A service-role registration can also clash with another owner's acted-on
   * row, or meet a run the owner only reported themselves (the link cannot be upgraded): 409.
   */
  async function existingFor(tx: Tx, input: CreateExecutionInput, owner: string | null) {
    const existing = await repo.findExecution(tx, { temporalWorkflowId: input.temporalWorkflowId! }, { ownerId: owner ?? caller.userId });
    if (!existing || existing.workflowId !== input.workflowId) {
      throw new ConflictError("temporalWorkflowId is already used by another execution");
    }
    if (caller.role === "service_role" && existing.temporalLink === "reported") {
      throw new ConflictError("this user already reported an execution with this temporalWorkflowId themselves; it cannot be registered");
    }
    return existing;
  }

  /**
   * One UPDATE; the lifecycle trigger rejects illegal transitions (409) and lets an unchanged
   * terminal repeat through. A cancel or timed_out of a run the tracker acts on becomes a stop
   * request in the same transaction (the row stays live with stopRequestedAt); this call claims
   * it there and sends it right after the commit, so the webhook and the sweeper skip it. The
   * answer is the row as it is then: terminal if Temporal confirmed inline, else still live
   * with stopRequestedAt (the sweeper confirms it).
   */
  async function updateExecutionByRef(ref: ExecutionRef, patch: UpdateExecutionInput): Promise<ExecutionWithWorkflow> {
    const claim = patch.status === "cancelled" || patch.status === "timed_out" ? crypto.randomUUID() : null;
    // Without a stop claim the transaction is the UPDATE alone.
    const execution = claim
      ? await inCallerTx(async (tx) => {
        await claimStopsOfTransaction(tx, claim);
        return await repo.updateExecution(tx, ref, patch);
      })
      : await inCallerStatement((tx) => repo.updateExecution(tx, ref, patch));
    if (!execution) throw new NotFoundError("execution not found");
    if (!claim || !execution.stopRequestedAt || isTerminal(execution.status)) return execution;
    await processStopFor({ sql, temporal, log }, execution.id, { claim });
    return (await inCallerStatement((tx) => repo.findExecution(tx, { id: execution.id }))) ?? execution;
  }

  /**
   * Deletes the row. A live run the tracker acts on leaves a stop request behind (terminate),
   * claimed by this call and sent right after the commit; what Temporal does not confirm here
   * the sweeper retries until it does.
   */
  async function deleteExecution(id: string): Promise<void> {
    const claim = crypto.randomUUID();
    const deleted = await inCallerTx(async (tx) => {
      await claimStopsOfTransaction(tx, claim);
      return await repo.deleteExecution(tx, id);
    });
    if (!deleted) throw new NotFoundError("execution not found");
    if (!isTerminal(deleted.status)) await processStopFor({ sql, temporal, log }, id, { claim });
  }

  async function listExecutions(filter: ListExecutionsFilter = {}): Promise<ExecutionPage> {
    const limit = filter.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new ValidationError("invalid limit", [{ path: "limit", message: "must be an integer from 1 to 100" }]);
    }
    const order = filter.order ?? "desc";
    const after = filter.cursor ? decodeCursor(filter.cursor, order) : undefined;
    const rows = await inCallerStatement((tx) => repo.listExecutions(tx, { ...filter, ownerId: caller.userId, order, after, limit }));
    const page = rows.slice(0, limit);
    const nextCursor = rows.length > limit ? encodeCursor(page[page.length - 1].position, order) : null;
    return { data: page.map((row) => row.execution), nextCursor };
  }

  /**
   * Every execution a list with `filter` would page through, as pages of `pageSize` read on
   * demand: each page is one transaction of its own (the caller's, so RLS applies), keyset
   * after the previous page's last row, so nothing is held in memory but the page and no
   * connection is held between pages. Not a snapshot: a row inserted during the export ahead
   * of the position appears, one behind it does not; no row is repeated or skipped.
   */
  async function* exportExecutions(filter: ExportExecutionsFilter = {}, pageSize = 500): AsyncGenerator<ExecutionWithWorkflow[]> {
    const order = filter.order ?? "desc";
    let after: repo.ExecutionRow["position"] | undefined;
    for (;;) {
      const rows = await inCallerStatement((tx) => repo.listExecutions(tx, { ...filter, ownerId: caller.userId, order, after, limit: pageSize }));
      const page = rows.slice(0, pageSize);
      if (page.length) yield page.map((row) => row.execution);
      if (rows.length <= pageSize) return;
      after = page[page.length - 1].position;
    }
  }

  /** From the rollups; with a tag, metadata or retryOf filter, from the matching rows (exact, slower). */
  async function getStats(filter: StatsFilter = {}): Promise<ExecutionStats> {
    if (needsRowStats(filter)) return toStats(await inCallerStatement((tx) => readFilteredStats(tx, { ...filter, ownerId: caller.userId })));
    return toStats(await inCallerStatement((tx) => readStats(tx, filter)));
  }

  /** Stats per UTC hour or day (see seriesRange for the range and its limits). */
  async function getTimeSeries(filter: StatsSeriesFilter): Promise<ExecutionStatsSeries> {
    const range = seriesRange(filter, new Date());
    const rows = await inCallerStatement((tx) =>
      needsRowStats(filter)
        ? readFilteredStatsSeries(tx, { ...filter, ...range, ownerId: caller.userId })
        : readStatsSeries(tx, { ...filter, ...range })
    );
    const buckets = rows.map((row) => {
      const { history: _, ...numbers } = toStats(row);
      return { start: row.bucket_start, ...numbers };
    });
    return { bucket: filter.bucket, buckets, history: statsHistory(rows) };
  }

  return {
    createExecution,
    /** Updates the execution of a Temporal workflow id (the original service API). */
    updateExecution: (temporalWorkflowId: string, patch: UpdateExecutionInput) =>
      updateExecutionByRef({ temporalWorkflowId }, patch),
    /** Updates by execution id or by Temporal workflow id. */
    updateExecutionByRef,
    getExecution,
    listExecutions,
    exportExecutions,
    getStats,
    getTimeSeries,
    deleteExecution,
    markCompleted: (temporalWorkflowId: string, output?: Json, durationMs?: number) =>
      updateExecutionByRef({ temporalWorkflowId }, { status: "completed", output, durationMs }),
    markFailed: (temporalWorkflowId: string, errorMessage: string, durationMs?: number) =>
      updateExecutionByRef({ temporalWorkflowId }, { status: "failed", errorMessage, durationMs }),
    markCancelled: (temporalWorkflowId: string) => updateExecutionByRef({ temporalWorkflowId }, { status: "cancelled" }),
    markTimedOut: (temporalWorkflowId: string) => updateExecutionByRef({ temporalWorkflowId }, { status: "timed_out" }),
  };
}

function toStats(row: StatsRow): ExecutionStats {
  return {
    total: row.total,
    byStatus: Object.fromEntries(executionStatuses.map((status) => [status, row[status]])) as Record<ExecutionStatus, number>,
    successRate: row.success_rate,
    avgDurationMs: row.avg_duration_ms,
    p50DurationMs: row.p50_duration_ms,
    p95DurationMs: row.p95_duration_ms,
    history: statsHistory([row]),
  };
}

/** At most this many buckets in one series. */
export const maxSeriesBuckets = 1000;
const bucketMs = { hour: 3_600_000, day: 86_400_000 } as const;

/**
 * The range of a series, made explicit (the SQL function has the same defaults, for SQL
 * callers): startedBefore defaults to now, startedAfter to the start of the 24th hour / 30th
 * day back (24 / 30 buckets, the last one partial). Buckets are UTC; a day is 24 hours.
 * A ValidationError when startedAfter is not before startedBefore or the range holds more
 * than maxSeriesBuckets buckets.
 */
export function seriesRange(filter: StatsSeriesFilter, now: Date): { startedAfter: string; startedBefore: string } {
  const step = bucketMs[filter.bucket];
  const startedBefore = filter.startedBefore ?? now.toISOString();
  // A sub-millisecond part counts as the next millisecond (Date keeps milliseconds only).
  const beforeMs = Date.parse(startedBefore) + (/\.\d{3}\d*[1-9]/.test(startedBefore) ? 1 : 0);
  const startedAfter = filter.startedAfter ??
    new Date(Math.floor((beforeMs - 1) / step) * step - step * (filter.bucket === "hour" ? 23 : 29)).toISOString();
  const afterMs = Date.parse(startedAfter);
  if (afterMs >= beforeMs) {
    throw new ValidationError("invalid query: startedAfter", [{ path: "startedAfter", message: "must be before startedBefore" }]);
  }
  const buckets = Math.ceil((beforeMs - Math.floor(afterMs / step) * step) / step);
  if (buckets > maxSeriesBuckets) {
    throw new ValidationError("invalid query: startedAfter, startedBefore", [
      { path: "startedAfter", message: `the range holds ${buckets} ${filter.bucket} buckets; at most ${maxSeriesBuckets}` },
    ]);
  }
  return { startedAfter, startedBefore };
}
