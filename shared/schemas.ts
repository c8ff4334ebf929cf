/**
 * Zod schemas for everything that crosses the HTTP boundary, and `parseInput`, which turns a
 * zod failure into a ValidationError naming each bad field.
 *
 * Limits of what is stored as sent (each a 400 naming the field, details.fields[].path):
 * - no string anywhere (a value, an object key, an id, a query parameter) holds U+0000 or an
 *   unpaired UTF-16 surrogate: PostgreSQL can store neither in text or jsonb, and the driver
 *   would silently turn a lone surrogate into U+FFFD;
 * - a JSON value (input, output) nests at most `maxJsonDepth` (64) arrays/objects deep, and
 *   holds only finite numbers (`1e400` parses as Infinity, which JSON cannot carry back);
 * - a request body nests at most `maxBodyDepth` (128) levels at all: checked right after
 *   parsing, before anything recursive sees it (JSON.parse itself is iterative);
 * - JSON values are validated, never rebuilt: a `__proto__` key (an own property after
 *   JSON.parse) is stored as sent.
 * All checks below walk values with an explicit stack, so no input depth can overflow ours.
 */
import { z } from "zod";
import { type FieldIssue, ValidationError } from "./errors.ts";
import { executionStatuses } from "./status.ts";
import type { Json } from "./types.ts";

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

/** How deep a stored JSON value (input, output) may nest: `{}` and `[]` are depth 1, a scalar 0. */
export const maxJsonDepth = 64;
/** How deep a request body may nest (the body object, a webhook's record around a row's values, room to spare). */
export const maxBodyDepth = 2 * maxJsonDepth;
/** At most this many problems are listed for one request. */
const maxIssues = 20;

type Segment = string | number;

/** What is wrong with one string for PostgreSQL, or null. */
function stringProblem(value: string): string | null {
  if (value.includes("\u0000")) return "must not contain the NUL character (\\u0000)";
  if (!isWellFormed(value)) return "must not contain an unpaired UTF-16 surrogate";
  return null;
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function isWellFormed(value: string): boolean {
  const native = (value as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(value) : !loneSurrogate.test(value);
}

/** A path segment as shown in `details.fields[].path`: control characters escaped. */
const showSegment = (segment: Segment) =>
  String(segment).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** A node of an iterative walk: the path is rebuilt from the parents only when it is reported. */
interface Node {
  value: unknown;
  key: Segment | null;
  parent: Node | null;
}

function pathOf(node: Node): Segment[] {
  const path: Segment[] = [];
  for (let n: Node | null = node; n && n.key !== null; n = n.parent) path.push(n.key);
  return path.reverse();
}

/** The children of an array or a plain object, last first (so a stack visits them in order). */
function pushChildren(stack: Node[], node: Node, onKey?: (key: string) => boolean): void {
  const v = node.value;
  if (Array.isArray(v)) {
    for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], key: i, parent: node });
  } else if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i >= 0; i--) {
      if (onKey && !onKey(keys[i])) continue;
      stack.push({ value: (v as Record<string, unknown>)[keys[i]], key: keys[i], parent: node });
    }
  }
}

/**
 * Every string (values and keys) in `value` that PostgreSQL cannot store as sent, walked
 * iteratively (any depth). Paths are relative to `value`.
 */
export function stringIssues(value: unknown, limit = maxIssues): { path: Segment[]; message: string }[] {
  const issues: { path: Segment[]; message: string }[] = [];
  const stack: Node[] = [{ value, key: null, parent: null }];
  while (stack.length && issues.length < limit) {
    const node = stack.pop()!;
    if (typeof node.value === "string") {
      const problem = stringProblem(node.value);
      if (problem) issues.push({ path: pathOf(node), message: problem });
      continue;
    }
    pushChildren(stack, node, (key) => {
      const problem = stringProblem(key);
      if (problem) issues.push({ path: [...pathOf(node), key], message: `key ${problem}` });
      return !problem;
    });
  }
  return issues.slice(0, limit);
}

/**
 * Whether `value` nests deeper than `limit` arrays/objects; iterative, stops at the first
 * container past the limit. Returns the top-level key of the object `value` under which that
 * happens (`[]` when `value` is not an object, or is too deep itself), or null.
 */
export function tooDeep(value: unknown, limit: number): Segment[] | null {
  const stack: { value: unknown; depth: number; top: Segment[] }[] = [{ value, depth: 0, top: [] }];
  while (stack.length) {
    const item = stack.pop()!;
    if (item.value === null || typeof item.value !== "object") continue;
    const depth = item.depth + 1;
    if (depth > limit) return item.top;
    const v = item.value;
    const keys: Segment[] = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
    for (const key of keys) {
      // A top-level field names itself; an array body is the body.
      stack.push({ value: (v as Record<Segment, unknown>)[key], depth, top: item.depth === 0 && !Array.isArray(v) ? [key] : item.top });
    }
  }
  return null;
}

/** JSON as parsed: null, booleans, finite numbers, strings, arrays and plain objects; iterative. */
function jsonTypeIssue(value: unknown): { path: Segment[]; message: string } | null {
  const stack: Node[] = [{ value, key: null, parent: null }];
  while (stack.length) {
    const node = stack.pop()!;
    const v = node.value;
    if (v === null || typeof v === "string" || typeof v === "boolean") continue;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return { path: pathOf(node), message: "numbers must be finite (at most about 1.8e308)" };
      continue;
    }
    if (typeof v !== "object" || !(Array.isArray(v) || [Object.prototype, null].includes(Object.getPrototypeOf(v)))) {
      return { path: pathOf(node), message: "must be JSON" };
    }
    pushChildren(stack, node);
  }
  return null;
}

/**
 * A JSON value stored in a jsonb column, validated in place: the value comes out exactly as it
 * went in (zod's z.json() rebuilds objects, which drops a `__proto__` key).
 */
const jsonValue = z.custom<Json>(() => true).superRefine((value, ctx) => {
  const deep = tooDeep(value, maxJsonDepth);
  if (deep) {
    ctx.addIssue({ code: "custom", message: `must not nest deeper than ${maxJsonDepth} levels`, path: [] });
    return;
  }
  const typeIssue = jsonTypeIssue(value);
  if (typeIssue) ctx.addIssue({ code: "custom", message: typeIssue.message, path: typeIssue.path });
  for (const issue of stringIssues(value)) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
});

export const createExecutionSchema = z.strictObject({
  workflowId: id,
  temporalWorkflowId: temporalId.optional(),
  temporalRunId: temporalId.optional(),
  input: jsonValue.optional(),
  timeoutSeconds: z.number().int().positive().max(366 * 24 * 3600).optional(),
  userId: id.optional(),
});

export const updateExecutionSchema = z
  .strictObject({
    id: id.optional(),
    temporalWorkflowId: temporalId.optional(),
    status: status.optional(),
    output: jsonValue.optional(),
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

/**
 * Validates `data`, or throws a ValidationError whose details name every bad field. Strings
 * PostgreSQL cannot store (see the top of this file) are named first, wherever they are.
 */
export function parseInput<S extends z.ZodType>(schema: S, data: unknown, what = "request"): z.output<S> {
  const unstorable = stringIssues(data);
  if (unstorable.length) throw invalid(what, unstorable);
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw invalid(what, result.error.issues.map((issue) => ({ path: issue.path as Segment[], message: issue.message })));
}

/**
 * The request body's own limit (`maxBodyDepth`), for `readJsonBody` right after JSON.parse:
 * a ValidationError naming the top-level field that nests too deep, or nothing.
 */
export function checkBodyDepth(body: unknown): void {
  const deep = tooDeep(body, maxBodyDepth);
  if (deep) throw invalid("request body", [{ path: deep, message: `must not nest deeper than ${maxBodyDepth} levels` }]);
}

function invalid(what: string, problems: { path: Segment[]; message: string }[]): ValidationError {
  const issues: FieldIssue[] = problems.map((p) => ({ path: p.path.length ? p.path.map(showSegment).join(".") : "(body)", message: p.message }));
  const fields = [...new Set(issues.map((i) => i.path))].join(", ");
  return new ValidationError(`invalid ${what}: ${fields}`, issues);
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
