/**
 * The SQL of workflows and of the registry of startable workflow types. Every function runs
 * inside a caller's transaction (see db.ts `withCaller`), so RLS scopes what it reads and
 * writes: a user sees and changes only their own workflows; the registry
 * (`public.temporal_workflow_types`) is readable by users and written by the service role only.
 */
import type { Tx } from "../db.ts";
import type { CursorPosition } from "../cursor.ts";
import type { UpdateWorkflowInput, Workflow, WorkflowType } from "../types.ts";

/** What a dispatch needs of an execution's workflow. */
export interface WorkflowTarget {
  id: string;
  name: string;
  temporalWorkflowType: string | null;
  taskQueue: string | null;
}

export interface WorkflowRow {
  workflow: Workflow;
  /** The keyset position (created_at at microsecond precision, as text; id). */
  position: CursorPosition;
}

// deno-lint-ignore no-explicit-any
type Row = Record<string, any>;

const iso = (value: Date | null) => (value ? value.toISOString() : null);

const workflowColumns = (tx: Tx) => tx`
  id, name, description, temporal_workflow_type, task_queue, created_by, created_at, updated_at,
  to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as position_created_at`;

function toWorkflowRow(row: Row): WorkflowRow {
  return {
    workflow: {
      id: row.id,
      name: row.name,
      description: row.description,
      temporalWorkflowType: row.temporal_workflow_type,
      taskQueue: row.task_queue,
      createdBy: row.created_by,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
    },
    position: { startedAt: row.position_created_at, id: row.id },
  };
}

function toWorkflowType(row: Row): WorkflowType {
  return {
    workflowType: row.workflow_type,
    taskQueue: row.task_queue,
    description: row.description,
    createdAt: iso(row.created_at)!,
  };
}

export async function findWorkflow(tx: Tx, workflowId: string): Promise<WorkflowTarget | null> {
  const [row] = await tx`
    select id, name, temporal_workflow_type, task_queue from public.workflows where id = ${workflowId}`;
  return row
    ? { id: row.id, name: row.name, temporalWorkflowType: row.temporal_workflow_type, taskQueue: row.task_queue }
    : null;
}

export async function getWorkflow(tx: Tx, id: string): Promise<Workflow | null> {
  const [row] = await tx`select ${workflowColumns(tx)} from public.workflows where id = ${id}`;
  return row ? toWorkflowRow(row).workflow : null;
}

export interface InsertWorkflow {
  name: string;
  description: string | null;
  temporalWorkflowType: string | null;
  taskQueue: string | null;
  /** Owner; null means the caller (auth.uid()). */
  createdBy: string | null;
}

/**
 * Inserts a workflow. A (type, queue) pair that is not registered fails the foreign key
 * workflows_temporal_workflow_type_registered_fkey (23503); an owner that does not exist,
 * workflows_created_by_fkey.
 */
export async function insertWorkflow(tx: Tx, row: InsertWorkflow): Promise<Workflow> {
  const [created] = await tx`
    insert into public.workflows (name, description, temporal_workflow_type, task_queue, created_by)
    values (${row.name}, ${row.description}, ${row.temporalWorkflowType}, ${row.taskQueue},
            coalesce(${row.createdBy}::uuid, auth.uid()))
    returning ${workflowColumns(tx)}`;
  return toWorkflowRow(created).workflow;
}

/** Applies the given fields (undefined = leave as is); null when the caller cannot see the row. */
export async function updateWorkflow(tx: Tx, id: string, patch: UpdateWorkflowInput): Promise<Workflow | null> {
  const has = (key: keyof UpdateWorkflowInput) => patch[key] !== undefined;
  const [row] = await tx`
    update public.workflows set
      name = coalesce(${patch.name ?? null}::text, name),
      description = case when ${has("description")} then ${patch.description ?? null}::text else description end,
      temporal_workflow_type = case when ${has("temporalWorkflowType")} then ${patch.temporalWorkflowType ?? null}::text else temporal_workflow_type end,
      task_queue = case when ${has("taskQueue")} then ${patch.taskQueue ?? null}::text else task_queue end
    where id = ${id}
    returning ${workflowColumns(tx)}`;
  return row ? toWorkflowRow(row).workflow : null;
}

/** Deletes a workflow (its executions go with it, by cascade); false when the caller cannot see it. */
export async function deleteWorkflow(tx: Tx, id: string): Promise<boolean> {
  const rows = await tx`delete from public.workflows where id = ${id} returning id`;
  return rows.length > 0;
}

export interface ListWorkflowsQuery {
  /** A user's own (also what RLS allows; repeated so the planner reads their index), or one owner's for the service role. */
  ownerId?: string | null;
  after?: CursorPosition;
  limit: number;
}

/** Newest first on (created_at, id); reads `limit + 1` rows to know whether a next page exists. */
export async function listWorkflows(tx: Tx, query: ListWorkflowsQuery): Promise<WorkflowRow[]> {
  const rows = await tx`
    select ${workflowColumns(tx)} from public.workflows
    where true
      ${query.ownerId ? tx`and created_by = ${query.ownerId}::uuid` : tx``}
      ${query.after ? tx`and (created_at, id) < (${query.after.startedAt}::text::timestamptz, ${query.after.id}::uuid)` : tx``}
    order by created_at desc, id desc
    limit ${query.limit + 1}`;
  return rows.map(toWorkflowRow);
}

// ---------------------------------------------------------------------------------------------
// Registry of startable workflow types
// ---------------------------------------------------------------------------------------------

export async function listWorkflowTypes(tx: Tx): Promise<WorkflowType[]> {
  const rows = await tx`
    select workflow_type, task_queue, description, created_at
      from public.temporal_workflow_types order by workflow_type, task_queue`;
  return rows.map(toWorkflowType);
}

/** Registers a pair; the existing row (unchanged) when it is already registered. */
export async function insertWorkflowType(
  tx: Tx,
  row: { workflowType: string; taskQueue: string; description: string | null },
): Promise<{ type: WorkflowType; created: boolean }> {
  const [created] = await tx`
    insert into public.temporal_workflow_types (workflow_type, task_queue, description)
    values (${row.workflowType}, ${row.taskQueue}, ${row.description})
    on conflict do nothing
    returning workflow_type, task_queue, description, created_at`;
  if (created) return { type: toWorkflowType(created), created: true };
  const [existing] = await tx`
    select workflow_type, task_queue, description, created_at from public.temporal_workflow_types
     where workflow_type = ${row.workflowType} and task_queue = ${row.taskQueue}`;
  return { type: toWorkflowType(existing), created: false };
}

/**
 * Unregisters a pair; the workflows that name it lose their type and queue (on delete set
 * null), so nothing can start it any more. Returns how many workflows that cleared, or null
 * when the pair was not registered.
 */
export async function deleteWorkflowType(tx: Tx, workflowType: string, taskQueue: string): Promise<{ workflowsCleared: number } | null> {
  const [row] = await tx`
    with users as (
      select count(*)::int as n from public.workflows
       where temporal_workflow_type = ${workflowType} and task_queue = ${taskQueue}
    ), gone as (
      delete from public.temporal_workflow_types
       where workflow_type = ${workflowType} and task_queue = ${taskQueue}
      returning 1
    )
    select (select n from users) as workflows_cleared, (select count(*)::int from gone) as deleted`;
  return row.deleted ? { workflowsCleared: row.workflows_cleared } : null;
}
