/**
 * Zod schemas for everything that crosses the HTTP boundary, and `parseInput`, which turns a
 * zod failure into a ValidationError naming each bad field.
 */
import { z } from "zod";
import { ValidationError } from "./errors.ts";
import { executionStatuses } from "./status.ts";

/** Any UUID-shaped id (Supabase user ids, gen_random_uuid()); not limited to one UUID version. */
const id = z.guid({ error: "must be a UUID" });
/** A Temporal workflow/run id Temporal and both gateways can address (the database checks the same: public.temporal_id_is_addressable). */
const temporalId = z.string().min(1, "must not be empty")
  .refine((v) => new TextEncoder().encode(v).length <= 1000, "must be at most 1000 bytes (UTF-8)")
  .refine((v) => !v.includes("/"), 'must not contain "/"')
  .refine((v) => v !== "." && v !== "..", 'must not be "." or ".."')
  .refine((v) => !/[\u0000-\u001f\u007f-\u009f]/.test(v), "must not contain control characters");
const timestamp = z.iso.datetime({ offset: true, error: "must be an ISO 8601 timestamp with a time zone" });
const status = z.enum(executionStatuses);
const maxInt32 = 2_147_483_647;

export const createExecutionSchema = z.strictObject({
  workflowId: id,
  temporalWorkflowId: temporalId.optional(),
  temporalRunId: temporalId.optional(),
  input: z.json().optional(),
  timeoutSeconds: z.number().int().positive().max(366 * 24 * 3600).optional(),
  userId: id.optional(),
});

export const updateExecutionSchema = z
  .strictObject({
    id: id.optional(),
    temporalWorkflowId: temporalId.optional(),
    status: status.optional(),
    output: z.json().optional(),
    errorMessage: z.string().max(100_000).nullable().optional(),
    durationMs: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
    activitiesExecuted: z.number().int().nonnegative().max(maxInt32).optional(),
    temporalRunId: temporalId.optional(),
  })
  .refine((body) => (body.id === undefined) !== (body.temporalWorkflowId === undefined), {
    message: "give exactly one of id and temporalWorkflowId",
    path: ["id"],
  });

/** `status=a,b` in a query string. */
const statusList = z
  .string()
  .transform((value) => value.split(",").map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(status).min(1, "name at least one status").max(executionStatuses.length));

export const listExecutionsSchema = z.strictObject({
  status: statusList.optional(),
  workflowId: id.optional(),
  startedAfter: timestamp.optional(),
  startedBefore: timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
});

export const statsSchema = z.strictObject({
  workflowId: id.optional(),
  startedAfter: timestamp.optional(),
  startedBefore: timestamp.optional(),
});

export const idParamSchema = z.strictObject({ id });

/** Validates `data`, or throws a ValidationError whose details name every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, data: unknown, what = "request"): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.length ? issue.path.map(String).join(".") : "(body)",
    message: issue.message,
  }));
  const fields = [...new Set(issues.map((i) => i.path))].join(", ");
  throw new ValidationError(`invalid ${what}: ${fields}`, issues);
}

// ---------------------------------------------------------------------------------------------
// Workflows (supabase/functions/workflows, shared/workflows.ts)
// ---------------------------------------------------------------------------------------------

const workflowName = z.string().min(1, "must not be empty").max(200);
const workflowDescription = z.string().max(10_000).nullable();
const workflowTypeName = z.string().min(1, "must not be empty").max(255);
const typePairMessage = { message: "set temporalWorkflowType and taskQueue together (both null: runs are only reported)", path: ["taskQueue"] };
const samePresence = (a: unknown, b: unknown) => (a === undefined) === (b === undefined) && (a === null) === (b === null);

export const createWorkflowSchema = z
  .strictObject({
    name: workflowName,
    description: workflowDescription.optional(),
    temporalWorkflowType: workflowTypeName.nullable().optional(),
    taskQueue: workflowTypeName.nullable().optional(),
    userId: id.optional(),
  })
  .refine((body) => (body.temporalWorkflowType ?? null) === null === ((body.taskQueue ?? null) === null), typePairMessage);

export const updateWorkflowSchema = z
  .strictObject({
    name: workflowName.optional(),
    description: workflowDescription.optional(),
    temporalWorkflowType: workflowTypeName.nullable().optional(),
    taskQueue: workflowTypeName.nullable().optional(),
  })
  .refine((body) => Object.values(body).some((v) => v !== undefined), { message: "give at least one field to change", path: ["(body)"] })
  .refine((body) => samePresence(body.temporalWorkflowType, body.taskQueue), typePairMessage);

export const listWorkflowsSchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
  userId: id.optional(),
});

export const registerWorkflowTypeSchema = z.strictObject({
  workflowType: workflowTypeName,
  taskQueue: workflowTypeName,
  description: z.string().max(2000).nullable().optional(),
});

/** `?workflowType=...&taskQueue=...` of DELETE /workflows/types. */
export const workflowTypeKeySchema = z.strictObject({
  workflowType: workflowTypeName,
  taskQueue: workflowTypeName,
});
