/**
 * The SQL of executions (and the workflow lookups they need). Every function runs inside a
 * caller's transaction (see db.ts `withCaller`), so RLS scopes what it reads and writes. The
 * other SQL of the module lives beside this file, one file per domain.
 */
import type { Tx } from "../db.ts";
import type { CursorPosition } from "../cursor.ts";
import type { ExecutionStatus } from "../status.ts";
import type { ExecutionRef, ExecutionWithWorkflow, Json, UpdateExecutionInput } from "../types.ts";

/** A row with the workflow's name and the exact cursor position of the row. */
export interface ExecutionRow {
  execution: ExecutionWithWorkflow;
  position: CursorPosition;
}

export interface WorkflowTarget {
  id: string;
  name: string;
  temporalWorkflowType: string | null;
  taskQueue: string | null;
}

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

// The workflow's name comes from a scalar subquery, not a join: with a join the planner
// multiplied in the workflows policy's selectivity, underestimated a user's rows and sorted
// all of them for every page instead of reading the page off the keyset index.
const executionColumns = (tx: Tx) => tx`
  e.id, e.workflow_id, e.created_by, e.temporal_workflow_id, e.temporal_run_id, e.status,
  e.started_at, e.completed_at, e.duration_ms, e.timeout_at, e.input, e.output,
  e.error_message, e.activities_executed, e.created_at, e.updated_at,
  (select w.name from public.workflows w where w.id = e.workflow_id) as workflow_name,
  to_char(e.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as position_started_at`;

const selectExecution = (tx: Tx) => tx`select ${executionColumns(tx)} from public.workflow_executions e`;

const iso = (value: Date | null) => (value ? value.toISOString() : null);

function toExecutionRow(row: Row): ExecutionRow {
  return {
    execution: {
      id: row.id,
      workflowId: row.workflow_id,
      createdBy: row.created_by,
      temporalWorkflowId: row.temporal_workflow_id,
      temporalRunId: row.temporal_run_id,
      status: row.status,
      startedAt: iso(row.started_at)!,
      completedAt: iso(row.completed_at),
      durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
      timeoutAt: iso(row.timeout_at),
      input: row.input,
      output: row.output,
      errorMessage: row.error_message,
      activitiesExecuted: row.activities_executed,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
      workflow: { id: row.workflow_id, name: row.workflow_name },
    },
    position: { startedAt: row.position_started_at, id: row.id },
  };
}

/**
 * A jsonb parameter. postgres.js serializes it once with the jsonb type; a pre-stringified
 * value would be stored as a JSON string. JSON null and absent both become SQL NULL.
 */
export const jsonParam = (tx: Tx, value: Json | undefined) =>
  value === undefined || value === null ? null : tx.json(value as Parameters<Tx["json"]>[0]);

export async function findExecution(tx: Tx, ref: ExecutionRef, options: { lock?: boolean } = {}) {
  const rows = await tx`
    ${selectExecution(tx)}
    where ${"id" in ref ? tx`e.id = ${ref.id}` : tx`e.temporal_workflow_id = ${ref.temporalWorkflowId}`}
    ${options.lock ? tx`for update of e` : tx``}`;
  return rows.length ? toExecutionRow(rows[0]).execution : null;
}

export async function findWorkflow(tx: Tx, workflowId: string): Promise<WorkflowTarget | null> {
  const [row] = await tx`
    select id, name, temporal_workflow_type, task_queue from public.workflows where id = ${workflowId}`;
  return row
    ? { id: row.id, name: row.name, temporalWorkflowType: row.temporal_workflow_type, taskQueue: row.task_queue }
    : null;
}

export interface InsertExecution {
  workflowId: string;
  /** Owner; null means the caller (auth.uid()). */
  createdBy: string | null;
  /** Null for a pending row: the trigger derives one from the new row's id. */
  temporalWorkflowId: string | null;
  temporalRunId: string | null;
  status: ExecutionStatus;
  input: Json | undefined;
  timeoutSeconds: number | undefined;
}

/**
 * Inserts a row and returns it, or null when the temporalWorkflowId already exists; one
 * statement. A pending row without a temporalWorkflowId gets `execution-<id>` from the
 * lifecycle trigger. A workflow the owner does not own fails the foreign key (23503).
 */
export async function insertExecution(tx: Tx, row: InsertExecution): Promise<ExecutionWithWorkflow | null> {
  const rows = await tx`
    with e as (
      insert into public.workflow_executions
        (workflow_id, created_by, temporal_workflow_id, temporal_run_id, status, input, timeout_at)
      values (${row.workflowId}, coalesce(${row.createdBy}::uuid, auth.uid()), ${row.temporalWorkflowId},
              ${row.temporalRunId}, ${row.status}::text, ${jsonParam(tx, row.input)}::jsonb,
              now() + make_interval(secs => ${row.timeoutSeconds ?? null}::double precision))
      on conflict (temporal_workflow_id) do nothing
      returning *
    )
    select ${executionColumns(tx)} from e`;
  return rows.length ? toExecutionRow(rows[0]).execution : null;
}

/**
 * Applies the given fields (undefined = leave as is) and returns the row, or null when the
 * caller cannot see it; one statement. The lifecycle trigger decides what may change
 * (ET001 for an illegal transition; repeating a terminal row unchanged is allowed).
 */
export async function updateExecution(tx: Tx, ref: ExecutionRef, patch: UpdateExecutionInput): Promise<ExecutionWithWorkflow | null> {
  const has = (key: keyof UpdateExecutionInput) => patch[key] !== undefined;
  const rows = await tx`
    with e as (
      update public.workflow_executions set
        status = coalesce(${patch.status ?? null}::text, status),
        output = case when ${has("output")} then ${jsonParam(tx, patch.output)}::jsonb else output end,
        error_message = case when ${has("errorMessage")} then ${patch.errorMessage ?? null}::text else error_message end,
        duration_ms = coalesce(${patch.durationMs ?? null}::bigint, duration_ms),
        activities_executed = coalesce(${patch.activitiesExecuted ?? null}::integer, activities_executed),
        temporal_run_id = coalesce(${patch.temporalRunId ?? null}::text, temporal_run_id)
      where ${"id" in ref ? tx`id = ${ref.id}` : tx`temporal_workflow_id = ${ref.temporalWorkflowId}`}
      returning *
    )
    select ${executionColumns(tx)} from e`;
  return rows.length ? toExecutionRow(rows[0]).execution : null;
}

/** Deletes a row; returns what it was, or null when the caller cannot see it. */
export async function deleteExecution(tx: Tx, id: string) {
  const [row] = await tx`
    delete from public.workflow_executions where id = ${id}
    returning id, status, temporal_workflow_id, temporal_run_id`;
  return row
    ? { id: row.id as string, status: row.status as ExecutionStatus, temporalWorkflowId: row.temporal_workflow_id as string | null, temporalRunId: row.temporal_run_id as string | null }
    : null;
}

export interface ListQuery {
  /**
   * The calling user's id (null/absent for the service role). RLS already limits a user to
   * their rows, but its `(select auth.uid())` is a value the planner cannot see; repeating
   * it as a parameter lets the planner size the user's rows and read a page off the keyset
   * index instead of sorting all of them (tests/integration/query-plans.test.ts).
   */
  ownerId?: string | null;
  status?: ExecutionStatus[];
  workflowId?: string;
  startedAfter?: string;
  startedBefore?: string;
  after?: CursorPosition;
  limit: number;
}

/**
 * Newest first on (started_at, id); reads `limit + 1` rows to know whether a next page exists.
 * Timestamps are bound as text and cast in SQL: a parameter the server types as timestamptz
 * is serialized by postgres.js through a JS Date, which drops the microseconds the cursor
 * holds (rows sharing the millisecond of a page's last row would be skipped). A status list
 * is bound as an array literal in text too: postgres.js can only serialize an array of a type
 * it loaded at connect, and a connection opened before the migrations (the dev server's) does
 * not know the status type.
 */
export async function listExecutions(tx: Tx, query: ListQuery): Promise<ExecutionRow[]> {
  const rows = await tx`
    ${selectExecution(tx)}
    where true
      ${query.ownerId ? tx`and e.created_by = ${query.ownerId}::uuid` : tx``}
      ${statusCondition(tx, query.status)}
      ${query.workflowId ? tx`and e.workflow_id = ${query.workflowId}` : tx``}
      ${query.startedAfter ? tx`and e.started_at >= ${query.startedAfter}::text::timestamptz` : tx``}
      ${query.startedBefore ? tx`and e.started_at < ${query.startedBefore}::text::timestamptz` : tx``}
      ${query.after ? tx`and (e.started_at, e.id) < (${query.after.startedAt}::text::timestamptz, ${query.after.id}::uuid)` : tx``}
    order by e.started_at desc, e.id desc
    limit ${query.limit + 1}`;
  return rows.map(toExecutionRow);
}

/**
 * One status as `=`, so idx_workflow_executions_user_status returns the page in keyset order
 * (with `= any(...)` on its second column PostgreSQL 15 cannot read it in order). Several as a
 * text array literal (see listExecutions on binding arrays).
 */
function statusCondition(tx: Tx, statuses: ExecutionStatus[] | undefined) {
  if (!statuses?.length) return tx``;
  if (statuses.length === 1) return tx`and e.status = ${statuses[0]}::text`;
  return tx`and e.status = any(${`{${statuses.join(",")}}`}::text[])`;
}

export interface StatsRow {
  total: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  timed_out: number;
  success_rate: number | null;
  avg_duration_ms: number | null;
  p50_duration_ms: number | null;
  p95_duration_ms: number | null;
}

/** Reads the stats views through `execution_stats_summary` (RLS-scoped, computed in SQL). */
export async function readStats(tx: Tx, filter: { workflowId?: string; startedAfter?: string; startedBefore?: string }): Promise<StatsRow> {
  const [row] = await tx`
    select total::float8, pending::float8, running::float8, completed::float8, failed::float8,
           cancelled::float8, timed_out::float8, success_rate, avg_duration_ms,
           p50_duration_ms::float8, p95_duration_ms::float8
      from public.execution_stats_summary(${filter.workflowId ?? null}::uuid,
             ${filter.startedAfter ?? null}::text::timestamptz, ${filter.startedBefore ?? null}::text::timestamptz)`;
  return row as unknown as StatsRow;
}
