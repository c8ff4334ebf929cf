/** The execution module's public data types (camelCase, as the HTTP API returns them). */
import type { ExecutionStatus } from "./status.ts";

export type { ExecutionStatus } from "./status.ts";

/** JSON as stored in jsonb columns. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Who is calling, from a verified token. RLS in Postgres decides what each may touch. */
export type Caller =
  | { role: "authenticated"; userId: string; claims: Record<string, unknown> }
  | { role: "service_role"; userId: null; claims: Record<string, unknown> };

export type TemporalLink = "dispatched" | "registered" | "reported";

export interface Execution {
  id: string;
  workflowId: string;
  createdBy: string;
  temporalWorkflowId: string | null;
  temporalRunId: string | null;
  /**
   * How the row is tied to its Temporal run (set by the database, docs/architecture.md §1):
   * `dispatched` (the tracker started it), `registered` (a service-role caller vouched for it)
   * or `reported` (a user's own record: the tracker never acts on it in Temporal).
   */
  temporalLink: TemporalLink;
  /** A stop (cancel or deadline) is requested and not yet confirmed by Temporal: the row stays live until it is (docs/architecture.md §2). */
  stopRequestedAt: string | null;
  stopReason: "cancel" | "timeout" | null;
  /** When the tracker confirmed the Temporal run closed (or that there was none to stop). */
  temporalClosedAt: string | null;
  status: ExecutionStatus;
  startedAt: string;
  completedAt: string | null;
  durationMs: number | null;
  timeoutAt: string | null;
  input: Json | null;
  output: Json | null;
  errorMessage: string | null;
  activitiesExecuted: number;
  createdAt: string;
  updatedAt: string;
  /** A set of short labels (docs/architecture.md §5.1), sorted, without duplicates. */
  tags: string[];
  /** A flat object of business fields: strings, numbers and booleans. */
  metadata: ExecutionMetadata;
  /** The execution this one retries (null once that one is deleted). */
  retryOf: string | null;
}

/** An execution's metadata: at most 16 keys of `[A-Za-z0-9_-]{1,64}` (limits: shared/schemas.ts). */
export type ExecutionMetadata = { [key: string]: string | number | boolean };

/** An execution "with workflow details", as every API answer returns it. */
export interface ExecutionWithWorkflow extends Execution {
  workflow: { id: string; name: string };
}

export interface CreateExecutionInput {
  workflowId: string;
  /** Set when the app started the workflow itself; omitted, the tracker dispatches it to Temporal. */
  temporalWorkflowId?: string;
  temporalRunId?: string;
  input?: Json;
  timeoutSeconds?: number;
  /** Owner, for service-role callers only (required for them). */
  userId?: string;
  tags?: string[];
  metadata?: ExecutionMetadata;
}

/** What only the tracker itself passes to a create (never the HTTP body): the retry helper's link. */
export interface CreateExecutionInternals {
  /** The execution this one retries: one of the same owner (the database refuses any other). */
  retryOf?: string;
}

/** How a create ended: a new row, the existing one for the same temporalWorkflowId, or a queued dispatch. */
export type CreateOutcome = "created" | "existing" | "queued";

export interface CreateExecutionResult {
  execution: ExecutionWithWorkflow;
  outcome: CreateOutcome;
  /** Why a dispatch is queued, when outcome is "queued". */
  message?: string;
}

export interface UpdateExecutionInput {
  status?: ExecutionStatus;
  output?: Json;
  errorMessage?: string | null;
  durationMs?: number;
  activitiesExecuted?: number;
  temporalRunId?: string;
  /** Replaces the tags (while live). */
  tags?: string[];
  /** Replaces the metadata (while live). */
  metadata?: ExecutionMetadata;
}

/** Which execution an update targets: exactly one of the two. */
export type ExecutionRef = { id: string } | { temporalWorkflowId: string };

/**
 * The one list filter (docs/architecture.md §5.1): list, export, stats and bulk actions all
 * take it; shared/repository/executions.ts `executionFilterCondition` is its SQL.
 */
export interface ExecutionFilter {
  status?: ExecutionStatus[];
  workflowId?: string;
  startedAfter?: string;
  startedBefore?: string;
  /** Rows that have every one of these tags. */
  tags?: string[];
  /** Rows whose `metadata->>key` equals the value, for every key given. */
  metadata?: Record<string, string>;
  /** The retries of this execution. */
  retryOf?: string;
}

export interface ListExecutionsFilter extends ExecutionFilter {
  /** "desc" (default): newest first; "asc": oldest first. A cursor is bound to its order. */
  order?: "asc" | "desc";
  limit?: number;
  cursor?: string;
}

/** What an export reads: any list filter, in either order, every page. */
export type ExportExecutionsFilter = Omit<ListExecutionsFilter, "limit" | "cursor">;

export interface ExecutionPage {
  data: ExecutionWithWorkflow[];
  nextCursor: string | null;
}

export interface StatsFilter {
  workflowId?: string;
  startedAfter?: string;
  startedBefore?: string;
  /** With tags, metadata or retryOf the stats are aggregated from the matching rows (exact, not rollup-fast). */
  tags?: string[];
  metadata?: Record<string, string>;
  retryOf?: string;
}

export interface ExecutionStats {
  total: number;
  byStatus: Record<ExecutionStatus, number>;
  /** completed / executions in a terminal state; null when none is terminal. */
  successRate: number | null;
  avgDurationMs: number | null;
  p50DurationMs: number | null;
  p95DurationMs: number | null;
  /** Which numbers include runs deleted by retention (20261202000200). */
  history: StatsHistory;
}

/**
 * Retention deletes old runs but keeps them in the statistics: how many of the counted runs
 * no longer exist as rows, and before when they started.
 */
export interface StatsHistory {
  /** Whether any counted run has been pruned (prunedExecutions > 0). */
  includesPruned: boolean;
  /** How many of the counted runs were pruned. */
  prunedExecutions: number;
  /** Every pruned run counted started before this instant (the end of its UTC hour, or day where daily rollups were read); null when none. */
  prunedBefore: string | null;
}

/** A time-series bucket: UTC hours, or UTC days (24 hours). */
export type StatsBucket = "hour" | "day";

export interface StatsSeriesFilter {
  bucket: StatsBucket;
  workflowId?: string;
  tags?: string[];
  metadata?: Record<string, string>;
  retryOf?: string;
  /** Inclusive; default: the start of the 24th hour / 30th day before startedBefore's bucket. */
  startedAfter?: string;
  /** Exclusive; default: now. */
  startedBefore?: string;
}

/** One bucket: the stats of the executions that started in it (and inside the range). */
export interface ExecutionStatsBucket extends Omit<ExecutionStats, "history"> {
  /** The bucket's UTC start (ISO 8601), also for a partial edge bucket. */
  start: string;
}

export interface ExecutionStatsSeries {
  bucket: StatsBucket;
  /** Every bucket of the range, oldest first, empty ones included (zeros, nulls). */
  buckets: ExecutionStatsBucket[];
  /** The pruned runs counted in all of the buckets. */
  history: StatsHistory;
}

// ---------------------------------------------------------------------------------------------
// Workflows (shared/workflows.ts)
// ---------------------------------------------------------------------------------------------

export interface Workflow {
  id: string;
  name: string;
  description: string | null;
  /** With taskQueue, a pair of the registry (GET /workflows/types): the tracker can start runs of it. Both null: runs are only reported. */
  temporalWorkflowType: string | null;
  taskQueue: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export interface CreateWorkflowInput {
  name: string;
  description?: string | null;
  temporalWorkflowType?: string | null;
  taskQueue?: string | null;
  /** Owner, for service-role callers only (required for them). */
  userId?: string;
}

/** Fields to change (undefined = leave as is); the type and queue change together. */
export interface UpdateWorkflowInput {
  name?: string;
  description?: string | null;
  temporalWorkflowType?: string | null;
  taskQueue?: string | null;
}

export interface ListWorkflowsFilter {
  limit?: number;
  cursor?: string;
  /** Service role only: one owner's workflows. */
  userId?: string;
}

export interface WorkflowPage {
  data: Workflow[];
  nextCursor: string | null;
}

/** A (workflow type, task queue) pair the tracker may start, managed by the service role. */
export interface WorkflowType {
  workflowType: string;
  taskQueue: string;
  description: string | null;
  createdAt: string;
}

export interface RegisterWorkflowTypeInput {
  workflowType: string;
  taskQueue: string;
  description?: string | null;
}
