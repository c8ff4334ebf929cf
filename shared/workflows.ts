/**
 * The workflow service: a caller's workflows (create, list, get, rename/describe, delete) and
 * the registry of workflow types the tracker may start. RLS scopes a user to their own
 * workflows (another user's is a 404, never a 403); which (workflow type, task queue) pairs
 * exist is decided by the service role alone (docs/architecture.md §1): a user can point a
 * workflow at a registered pair only (400 otherwise).
 */
import { decodeCursor, encodeCursor } from "./cursor.ts";
import { type Sql, type Tx, withCaller } from "./db.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "./errors.ts";
import { resolveOwner } from "./identity.ts";
import * as repo from "./repository/workflows.ts";
import type {
  Caller,
  CreateWorkflowInput,
  ListWorkflowsFilter,
  RegisterWorkflowTypeInput,
  UpdateWorkflowInput,
  Workflow,
  WorkflowPage,
  WorkflowType,
} from "./types.ts";

export interface WorkflowServiceDeps {
  sql: Sql;
  caller: Caller;
}

export type WorkflowService = ReturnType<typeof createWorkflowService>;

export function createWorkflowService(deps: WorkflowServiceDeps) {
  const { sql, caller } = deps;
  const inCallerTx = <T>(work: (tx: Tx) => Promise<T>) => withCaller(sql, caller, work);

  async function createWorkflow(input: CreateWorkflowInput): Promise<Workflow> {
    const owner = resolveOwner(caller, input.userId);
    checkTypePair(input);
    return await inCallerTx((tx) =>
      repo.insertWorkflow(tx, {
        name: input.name,
        description: input.description ?? null,
        temporalWorkflowType: input.temporalWorkflowType ?? null,
        taskQueue: input.taskQueue ?? null,
        createdBy: owner,
      })
    );
  }

  async function getWorkflow(id: string): Promise<Workflow> {
    const workflow = await inCallerTx((tx) => repo.getWorkflow(tx, id));
    if (!workflow) throw new NotFoundError("workflow not found");
    return workflow;
  }

  async function listWorkflows(filter: ListWorkflowsFilter = {}): Promise<WorkflowPage> {
    const limit = filter.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new ValidationError("invalid limit", [{ path: "limit", message: "must be an integer from 1 to 100" }]);
    }
    if (filter.userId && caller.role !== "service_role") {
      throw new ForbiddenError("userId may only be set by service-role callers");
    }
    const after = filter.cursor ? decodeCursor(filter.cursor) : undefined;
    const ownerId = caller.role === "service_role" ? filter.userId ?? null : caller.userId;
    const rows = await inCallerTx((tx) => repo.listWorkflows(tx, { ownerId, after, limit }));
    const page = rows.slice(0, limit);
    const nextCursor = rows.length > limit ? encodeCursor(page[page.length - 1].position) : null;
    return { data: page.map((row) => row.workflow), nextCursor };
  }

  async function updateWorkflow(id: string, patch: UpdateWorkflowInput): Promise<Workflow> {
    if (patch.temporalWorkflowType !== undefined || patch.taskQueue !== undefined) checkTypePair(patch);
    const workflow = await inCallerTx((tx) => repo.updateWorkflow(tx, id, patch));
    if (!workflow) throw new NotFoundError("workflow not found");
    return workflow;
  }

  /** Deletes the workflow and, by cascade, its executions (a live one's run is stopped as for any execution delete). */
  async function deleteWorkflow(id: string): Promise<void> {
    const deleted = await inCallerTx((tx) => repo.deleteWorkflow(tx, id));
    if (!deleted) throw new NotFoundError("workflow not found");
  }

  async function listWorkflowTypes(): Promise<{ data: WorkflowType[] }> {
    return { data: await inCallerTx((tx) => repo.listWorkflowTypes(tx)) };
  }

  async function registerWorkflowType(input: RegisterWorkflowTypeInput): Promise<{ type: WorkflowType; created: boolean }> {
    requireServiceRole("registering a workflow type");
    return await inCallerTx((tx) =>
      repo.insertWorkflowType(tx, { workflowType: input.workflowType, taskQueue: input.taskQueue, description: input.description ?? null })
    );
  }

  /** Unregisters a pair; workflows naming it lose their type and queue, so nothing can start it any more. */
  async function unregisterWorkflowType(workflowType: string, taskQueue: string): Promise<{ workflowsCleared: number }> {
    requireServiceRole("unregistering a workflow type");
    const result = await inCallerTx((tx) => repo.deleteWorkflowType(tx, workflowType, taskQueue));
    if (!result) throw new NotFoundError("workflow type not registered");
    return result;
  }

  function requireServiceRole(what: string) {
    if (caller.role !== "service_role") throw new ForbiddenError(`${what} is for service-role callers only`);
  }

  return {
    createWorkflow,
    getWorkflow,
    listWorkflows,
    updateWorkflow,
    deleteWorkflow,
    listWorkflowTypes,
    registerWorkflowType,
    unregisterWorkflowType,
  };
}

/** The type and the queue are set together or not at all (the database checks it too). */
function checkTypePair(input: { temporalWorkflowType?: string | null; taskQueue?: string | null }) {
  if ((input.temporalWorkflowType ?? null) === null !== ((input.taskQueue ?? null) === null)) {
    throw new ValidationError("invalid workflow type", [
      { path: input.temporalWorkflowType ? "taskQueue" : "temporalWorkflowType", message: "temporalWorkflowType and taskQueue are set together, or both null" },
    ]);
  }
}
