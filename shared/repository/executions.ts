/**
 * The SQL of executions (and the workflow lookups they need). Every function runs inside a
 * caller's transaction (see db.ts `withCaller`), so RLS scopes what it reads and writes. The
 * other SQL of the module lives beside this file, one file per domain.
 */
import type { Tx } from "../db.ts";
import { dispatchLeaseSql } from "./dispatches.ts";
import { normalizeTags } from "../execution-limits.ts";
import type { CursorPosition, ListOrder } from "../cursor.ts";
import type { ExecutionStatus } from "../status.ts";
import type { ExecutionFilter, ExecutionMetadata, ExecutionRef, ExecutionWithWorkflow, Json, UpdateExecutionInput } from "../types.ts";

/** A row with the workflow's name and the exact cursor position of the row. */
export interface ExecutionRow {
  execution: ExecutionWithWorkflow;
  position: CursorPosition;
}

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

// The workflow's name comes from a scalar subquery, not a join: with a join the planner
// multiplied in the workflows policy's selectivity, underestimated a user's rows and sorted
// all of them for every page instead of reading the page off the keyset index.
// Timestamps are selected as the API's text (UTC, milliseconds, as Date.toISOString writes
// them: to_char's MS truncates like JavaScript's Date does): decoding them into Dates and
// encoding them back was a large share of a list page's CPU. The cursor keeps microseconds.
const isoColumn = (column: string) => `to_char(e.${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ${column}`;
const timestampColumns = ["started_at", "completed_at", "timeout_at", "created_at", "updated_at", "stop_requested_at", "temporal_closed_at"]
  .map(isoColumn).join(", ");

const executionColumns = (tx: Tx) => tx`
  e.id, e.workflow_id, e.created_by, e.temporal_workflow_id, e.temporal_run_id, e.temporal_link, e.status,
  e.duration_ms, e.input, e.output, e.error_message, e.activities_executed,
  e.stop_reason, e.tags, e.metadata, e.retry_of, ${tx.unsafe(timestampColumns)},
  (select w.name from public.workflows w where w.id = e.workflow_id) as workflow_name,
  to_char(e.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as position_started_at`;

const selectExecution = (tx: Tx) => tx`select ${executionColumns(tx)} from public.workflow_executions e`;

/** The form executionColumns selects timestamps in (and Date.toISOString writes). */
const isoText = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * A timestamp as ISO 8601, or null: never throws, whatever the column held. The selected text
 * is taken as is; anything else (a Date, another text form) is normalized. to_char gives null
 * for `infinity`, postgres.js an Invalid Date for a time JavaScript cannot represent; the
 * schema's bounds (20261201000200) keep such values out, this keeps a list answering if one
 * ever gets in.
 */
const iso = (value: unknown): string | null => {
  if (typeof value === "string" && isoText.test(value)) return value;
  const parsed = value instanceof Date ? value : typeof value === "string" ? new Date(value) : null;
  return parsed && Number.isFinite(parsed.getTime()) ? parsed.toISOString() : null;
};

/** A bigint column (duration_ms) as a number, or null; never throws. */
const count = (value: unknown): number | null => {
  if (value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
};

/**
 * A text[] column as strings. postgres.js parses arrays of the types it loaded at connect; a
 * connection opened before the migrations (the dev server's) may hand back the literal.
 */
function textArray(value: unknown): string[] {
  if (Array.isArray(value)) return value as string[];
  if (typeof value !== "string" || value === "{}" || !value.startsWith("{")) return [];
  // Tags are [A-Za-z0-9_.:/-] only: never quoted in an array literal.
  return value.slice(1, -1).split(",");
}

/**
 * A text array parameter as an array literal bound as text (see listExecutions on binding
 * arrays): every element quoted, `"` and `\` escaped, so any string is safe.
 */
export const textArrayLiteral = (values: readonly string[]) => `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(",")}}`;

/** Maps a selected row to the API's execution; total over any value the database can hold. */
export function toExecutionRow(row: Row): ExecutionRow {
  return {
    execution: {
      id: row.id,
      workflowId: row.workflow_id,
      createdBy: row.created_by,
      temporalWorkflowId: row.temporal_workflow_id,
      temporalRunId: row.temporal_run_id,
      temporalLink: row.temporal_link,
      stopRequestedAt: iso(row.stop_requested_at),
      stopReason: row.stop_reason,
      temporalClosedAt: iso(row.temporal_closed_at),
      status: row.status,
      startedAt: iso(row.started_at)!,
      completedAt: iso(row.completed_at),
      durationMs: count(row.duration_ms),
      timeoutAt: iso(row.timeout_at),
      input: row.input,
      output: row.output,
      errorMessage: row.error_message,
      activitiesExecuted: row.activities_executed,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
      tags: textArray(row.tags),
      metadata: (row.metadata ?? {}) as ExecutionMetadata,
      retryOf: row.retry_of ?? null,
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

/**
 * The row a reference addresses. By id: that row (RLS scopes a user to their own). By
 * temporalWorkflowId (docs/architecture.md §1): for a user, their own row of that id (unique
 * per owner); for the service role (any role but a user's), the row the tracker acts on
 * (`temporal_link <> 'reported'`, unique among those), never a row some user merely reported
 * under that id. The role is read in SQL, so no caller can forget it; the branch that does not
 * apply is cut by its one-time filter. Two branches of a UNION ALL rather than an OR: the
 * planner would factor the shared `temporal_workflow_id = $1` out of an OR and lose the partial
 * index; each branch reads its own unique index (per owner, or over the acted-on rows).
 * `ownerId` addresses one owner's row of that id instead, whatever the role (a create's
 * idempotent retry).
 */
function refCondition(tx: Tx, ref: ExecutionRef, options: { ownerId?: string | null } = {}) {
  if ("id" in ref) return tx`id = ${ref.id}`;
  const temporalWorkflowId = ref.temporalWorkflowId;
  if (options.ownerId) return tx`(temporal_workflow_id = ${temporalWorkflowId} and created_by = ${options.ownerId}::uuid)`;
  return tx`id in (
    select acted.id from public.workflow_executions acted
     where acted.temporal_workflow_id = ${temporalWorkflowId} and acted.temporal_link <> 'reported'
       and current_user not in ('authenticated', 'anon')
    union all
    select own.id from public.workflow_executions own
     where own.temporal_workflow_id = ${temporalWorkflowId} and own.created_by = (select auth.uid())
       and current_user in ('authenticated', 'anon'))`;
}

export async function findExecution(tx: Tx, ref: ExecutionRef, options: { lock?: boolean; ownerId?: string | null } = {}) {
  const rows = await tx`
    ${selectExecution(tx)}
    where ${refCondition(tx, ref, options)}
    ${options.lock ? tx`for update of e` : tx``}`;
  return rows.length ? toExecutionRow(rows[0]).execution : null;
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
  /** The execution this one retries (same owner: the database checks it). */
  retryOf?: string | null;
  tags?: string[];
  metadata?: ExecutionMetadata;
}

/**
 * Inserts a row and returns it, or null when it clashes with an existing row on any unique
 * (the owner's own temporalWorkflowId, or, for a row the tracker will act on, an acted-on
 * row's); one statement. A pending row gets `execution-<id>` from the lifecycle trigger, and
 * the database sets its temporal_link (migration 20261201000100). A workflow the owner does not
 * own fails the foreign key (23503).
 */
export async function insertExecution(tx: Tx, row: InsertExecution): Promise<ExecutionWithWorkflow | null> {
  const rows = await tx`
    with e as (
      insert into public.workflow_executions
        (workflow_id, created_by, temporal_workflow_id, temporal_run_id, status, input, timeout_at, dispatch_claimed_until,
         tags, metadata, retry_of)
      values (${row.workflowId}, coalesce(${row.createdBy}::uuid, auth.uid()), ${row.temporalWorkflowId},
              ${row.temporalRunId}, ${row.status}::text, ${jsonParam(tx, row.input)}::jsonb,
              now() + make_interval(secs => ${row.timeoutSeconds ?? null}::double precision),
              ${row.status === "pending" ? dispatchLeaseSql(tx) : null}, -- the API dispatches it itself: the webhook skips it
              ${textArrayLiteral(normalizeTags(row.tags ?? []))}::text[], ${jsonParam(tx, row.metadata ?? {})}::jsonb, ${row.retryOf ?? null}::uuid)
      on conflict do nothing
      returning *
    )
    select ${executionColumns(tx)} from e`;
  return rows.length ? toExecutionRow(rows[0]).execution : null;
}

/**
 * Applies the given fields (undefined = leave as is) to the row `ref` addresses (see
 * refCondition: by temporalWorkflowId, a user's own row or the service role's acted-on row)
 * and returns it, or null when there is none for this caller; one statement. The lifecycle
 * trigger decides what may change (ET001 for an illegal transition; repeating a terminal row
 * unchanged is allowed).
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
        temporal_run_id = coalesce(${patch.temporalRunId ?? null}::text, temporal_run_id),
        tags = coalesce(${patch.tags ? textArrayLiteral(normalizeTags(patch.tags)) : null}::text[], tags),
        metadata = coalesce(${patch.metadata ? jsonParam(tx, patch.metadata) : null}::jsonb, metadata)
      where ${refCondition(tx, ref)}
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

/**
 * The one list filter as a SQL condition over `e` (public.workflow_executions e), for every
 * reader of "a list filter": the list, the export, the filtered stats and bulk actions. Every
 * part is checked on the row itself (tags `@>`, `metadata->>key = value`), so the condition is
 * right whatever the query drives from; listExecutions drives a tag or metadata filter from
 * its side table's index (see there). Always a complete condition (`true and ...`).
 */
export function executionFilterCondition(tx: Tx, filter: ExecutionFilter) {
  const metadata = Object.entries(filter.metadata ?? {});
  return tx`(true
    ${statusCondition(tx, filter.status)}
    ${filter.workflowId ? tx`and e.workflow_id = ${filter.workflowId}::uuid` : tx``}
    ${filter.startedAfter ? tx`and e.started_at >= ${filter.startedAfter}::text::timestamptz` : tx``}
    ${filter.startedBefore ? tx`and e.started_at < ${filter.startedBefore}::text::timestamptz` : tx``}
    ${filter.tags?.length ? tx`and e.tags @> ${textArrayLiteral(filter.tags)}::text[]` : tx``}
    ${metadata.reduce((all, [key, value]) => tx`${all} and e.metadata ->> ${key}::text = ${value}::text`, tx``)}
    ${filter.retryOf ? tx`and e.retry_of = ${filter.retryOf}::uuid` : tx``})`;
}

/**
 * A tag or metadata filter read through its side table: the first tag (else the first
 * metadata pair) is the side table's index condition (`entries`: `d` with execution_id,
 * created_by, started_at, also bounded by the time range and the owner); `rest` is what is
 * left to check on each entry's execution `e`; `rows` joins the two (for aggregates). Null for
 * a filter without tags and metadata.
 *
 * What `d` already decides is not repeated on `e`: the time range is d.started_at's, the owner
 * is equated (`e.created_by = d.created_by`; `ownerId` names it so the (created_by, ...) index
 * serves it; RLS scopes both tables anyway), the first tag or pair is not checked again.
 * Repeated, the planner multiplies selectivities of conditions that are one and the same.
 */
export function filterDriver(tx: Tx, filter: ExecutionFilter, ownerId?: string | null) {
  const [firstTag, ...otherTags] = filter.tags ?? [];
  const [firstPair, ...otherPairs] = Object.entries(filter.metadata ?? {});
  if (firstTag === undefined && !firstPair) return null;
  const rest: ExecutionFilter = { ...filter, startedAfter: undefined, startedBefore: undefined };
  let source;
  if (firstTag !== undefined) {
    source = tx`public.execution_tags d where d.tag = ${firstTag}::text`;
    rest.tags = otherTags;
  } else {
    source = tx`public.execution_metadata_entries d where d.key = ${firstPair[0]}::text and d.value = ${firstPair[1]}::text`;
    rest.metadata = Object.fromEntries(otherPairs);
  }
  const entries = tx`select d.execution_id, d.created_by, d.started_at from ${source}
      ${ownerId ? tx`and d.created_by = ${ownerId}::uuid` : tx``}
      ${filter.startedAfter ? tx`and d.started_at >= ${filter.startedAfter}::text::timestamptz` : tx``}
      ${filter.startedBefore ? tx`and d.started_at < ${filter.startedBefore}::text::timestamptz` : tx``}`;
  const rows = tx`(${entries}) d
    join public.workflow_executions e on e.id = d.execution_id and e.created_by = d.created_by
    where ${executionFilterCondition(tx, rest)}`;
  return { entries, rest, rows };
}

export interface ListQuery extends ExecutionFilter {
  /**
   * The calling user's id (null/absent for the service role). RLS already limits a user to
   * their rows, but its `(select auth.uid())` is a value the planner cannot see; repeating
   * it as a parameter lets the planner size the user's rows and read a page off the keyset
   * index instead of sorting all of them (tests/integration/query-plans.test.ts).
   */
  ownerId?: string | null;
  after?: CursorPosition;
  /** Newest first (default) or oldest first; the same indexes serve both (read backwards for asc). */
  order?: ListOrder;
  limit: number;
}

/**
 * Newest first on (started_at, id), or oldest first with `order: "asc"` (the same keyset
 * indexes, read backwards: query-plans.test.ts checks both); reads `limit + 1` rows to know whether a next page exists.
 * Timestamps are bound as text and cast in SQL: a parameter the server types as timestamptz
 * is serialized by postgres.js through a JS Date, which drops the microseconds the cursor
 * holds (rows sharing the millisecond of a page's last row would be skipped). A status list
 * is bound as an array literal in text too: postgres.js can only serialize an array of a type
 * it loaded at connect, and a connection opened before the migrations (the dev server's) does
 * not know the status type.
 */
export async function listExecutions(tx: Tx, query: ListQuery): Promise<ExecutionRow[]> {
  const driver = filterDriver(tx, query, query.ownerId);
  return driver ? await listThroughSideTable(tx, query, driver) : await listByKeyset(tx, query);
}

async function listByKeyset(tx: Tx, query: ListQuery): Promise<ExecutionRow[]> {
  const asc = query.order === "asc";
  const rows = await tx`
    ${selectExecution(tx)}
    where ${executionFilterCondition(tx, query)}
      ${query.ownerId ? tx`and e.created_by = ${query.ownerId}::uuid` : tx``}
      ${query.after ? afterCondition(tx, tx`e.started_at, e.id`, query.after, asc) : tx``}
    ${asc ? tx`order by e.started_at asc, e.id asc` : tx`order by e.started_at desc, e.id desc`}
    limit ${query.limit + 1}`;
  return rows.map(toExecutionRow);
}

/**
 * A tag or metadata filter: the page is read in keyset order off the side table's index
 * ((owner,) tag | key+value, started_at, id: the same position as the row's, since both are
 * immutable), the cursor bounding the index range itself; each entry's execution is then read
 * by primary key and the rest of the filter checked on it, until the page is full. Written as
 * a LATERAL subquery behind `offset 0` (which the planner cannot flatten into a join) so that
 * it stays this nested loop in index order: as a join, the planner took the rest of the filter
 * for independent of the first tag (tags that always go together), expected almost no
 * matches, and hashed and sorted every tagged row instead (tests/integration/query-plans.test.ts).
 */
async function listThroughSideTable(tx: Tx, query: ListQuery, driver: NonNullable<ReturnType<typeof filterDriver>>) {
  const asc = query.order === "asc";
  const order = asc ? tx`order by d.started_at asc, d.execution_id asc` : tx`order by d.started_at desc, d.execution_id desc`;
  const rows = await tx`
    select ${executionColumns(tx)}
      from (${driver.entries} ${query.after ? afterCondition(tx, tx`d.started_at, d.execution_id`, query.after, asc) : tx``}) d
     cross join lateral (
       select e.* from public.workflow_executions e
        where e.id = d.execution_id and e.created_by = d.created_by and ${executionFilterCondition(tx, driver.rest)}
       offset 0) e
    ${order}
    limit ${query.limit + 1}`;
  return rows.map(toExecutionRow);
}

/** Strictly after the cursor's row in the list's order (a row-value comparison the index serves). */
function afterCondition(tx: Tx, columns: ReturnType<Tx>, after: CursorPosition, asc: boolean) {
  const position = tx`(${after.startedAt}::text::timestamptz, ${after.id}::uuid)`;
  return asc ? tx`and (${columns}) > ${position}` : tx`and (${columns}) < ${position}`;
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
