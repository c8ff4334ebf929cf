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
import { metadataLimits, normalizeTags, tagLimits, tagRule } from "./execution-limits.ts";
import type { Json } from "./types.ts";

/** Any UUID-shaped id (Supabase user ids, gen_random_uuid()); not limited to one UUID version. */
const id = z.guid({ error: "must be a UUID" });
/** A Temporal workflow/run id Temporal and both gateways can address (the database checks the same: public.temporal_id_is_addressable). */
const temporalId = z.string().min(1, "must not be empty")
  .refine((v) => new TextEncoder().encode(v).length <= 1000, "must be at most 1000 bytes (UTF-8)")
  .refine((v) => !v.includes("/"), 'must not contain "/"')
  .refine((v) => v !== "." && v !== "..", 'must not be "." or ".."')
  .refine((v) => !/[\u0000-\u001f\u007f-\u009f]/.test(v), "must not contain control characters");
const timestamp = z.iso.datetime({ offset: true, error: "must be an ISO 8601 timestamp with a time zone", abort: true })
  // What PostgreSQL's timestamptz can read (found by fuzzing: a +23:02 offset was a 500): offsets within ±15:59, years from 1.
  .refine((v) => /(?:Z|[+-](?:0\d|1[0-5]):[0-5]\d)$/i.test(v), "the time zone offset must be within ±15:59")
  .refine((v) => !v.startsWith("0000"), "the year must be at least 0001");
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

// ---------------------------------------------------------------------------------------------
// Tags and metadata (docs/architecture.md §5.1; the database checks the same:
// public.execution_tags_are_valid, public.execution_metadata_is_valid)
// ---------------------------------------------------------------------------------------------

export { metadataLimits, tagLimits, tagRule };

const tag = z.string().regex(tagLimits.pattern, `must be ${tagRule}`);
const metadataKey = z.string().regex(metadataLimits.keyPattern, "must be 1 to 64 characters of A-Z a-z 0-9 _ -");

const tagSet = z.array(tag).max(100, "at most 100 entries")
  .transform(normalizeTags)
  .refine((tags) => tags.length <= tagLimits.maxTags, `at most ${tagLimits.maxTags} distinct tags`)
  .meta({ description: `At most ${tagLimits.maxTags} distinct tags of 1-64 characters ([A-Za-z0-9_.:/-]); stored sorted, without duplicates.` });

/**
 * A JSON number as PostgreSQL's numeric prints it back (no exponent): `1e21` is stored as 22
 * digits. Only its length matters here (the 4 KiB limit is on PostgreSQL's text).
 */
function plainDecimal(n: number): string {
  const [mantissa, exponent = "0"] = String(n).split("e");
  const sign = mantissa.startsWith("-") ? "-" : "";
  const [whole, fraction = ""] = mantissa.replace("-", "").split(".");
  const digits = whole + fraction;
  const point = whole.length + Number(exponent);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + "0".repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** The size of `metadata::text` in PostgreSQL, in bytes (`{"k": v, ...}`). */
export function metadataTextBytes(metadata: Record<string, string | number | boolean>): number {
  const entries = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}: ${typeof v === "number" ? plainDecimal(v) : JSON.stringify(v)}`);
  return new TextEncoder().encode(`{${entries.join(", ")}}`).length;
}

const metadataObject = z.record(
  metadataKey,
  z.union([
    z.string().max(metadataLimits.maxStringLength, `a string value must be at most ${metadataLimits.maxStringLength} characters`),
    z.number(),
    z.boolean(),
  ], { error: "must be a string, a number or a boolean" }),
)
  .refine((m) => Object.keys(m).length <= metadataLimits.maxKeys, `at most ${metadataLimits.maxKeys} keys`)
  .refine((m) => metadataTextBytes(m) <= metadataLimits.maxBytes, `at most ${metadataLimits.maxBytes} bytes as JSON text`)
  .meta({
    description: `A flat object: at most ${metadataLimits.maxKeys} keys of 1-64 characters ([A-Za-z0-9_-]), each a string (at most ${metadataLimits.maxStringLength} characters), a number or a boolean; at most ${metadataLimits.maxBytes} bytes as JSON text.`,
  });

/** `tag=a,b` in a query string: rows with all of them. */
const tagList = z.string()
  .transform((value) => value.split(",").map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(tag).min(1, "name at least one tag").max(tagLimits.maxTags))
  .transform(normalizeTags);

/** `metadata.<key>=<value>` parameters, folded into one object by `foldMetadataParams`. */
const metadataEquals = z.record(metadataKey, z.string().max(metadataLimits.maxStringLength))
  .refine((m) => Object.keys(m).length <= metadataLimits.maxKeys, `at most ${metadataLimits.maxKeys} keys`);

/**
 * The query's `metadata.<key>=<value>` parameters as one `metadata` object (what the filter
 * schemas read); every other parameter as it is. A bad key (`metadata.` alone too) is then
 * named by its parameter: `metadata.<key>`.
 */
export function foldMetadataParams(query: Record<string, string>): Record<string, unknown> {
  const folded: Record<string, unknown> = {};
  let metadata: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(query)) {
    if (name.startsWith("metadata.")) (metadata ??= {})[name.slice("metadata.".length)] = value;
    else folded[name] = value;
  }
  return metadata ? { ...folded, metadata } : folded;
}

/** The filter fields every list-like query takes (list, export, stats). */
const filterFields = {
  tag: tagList.optional(),
  metadata: metadataEquals.optional(),
  retryOf: id.optional(),
};

/** The query's `tag` as the filter's `tags`. */
export function withTags<T extends { tag?: string[] }>({ tag, ...rest }: T): Omit<T, "tag"> & { tags?: string[] } {
  return tag ? { ...rest, tags: tag } : rest;
}

export const createExecutionSchema = z.strictObject({
  workflowId: id,
  temporalWorkflowId: temporalId.optional(),
  temporalRunId: temporalId.optional(),
  input: jsonValue.optional(),
  timeoutSeconds: z.number().int().positive().max(366 * 24 * 3600).optional(),
  userId: id.optional(),
  tags: tagSet.optional(),
  metadata: metadataObject.optional(),
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
    tags: tagSet.optional(),
    metadata: metadataObject.optional(),
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

const listOrder = z.enum(["asc", "desc"], { error: "must be asc or desc" })
  .describe("`desc` (default): newest first; `asc`: oldest first. A cursor works only with the order it came from.");

export const listExecutionsSchema = z.strictObject({
  status: statusList.optional(),
  workflowId: id.optional(),
  startedAfter: timestamp.optional(),
  startedBefore: timestamp.optional(),
  ...filterFields,
  order: listOrder.default("desc"),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
});

/** GET /executions-list/export: the list's filters and order, every row, as NDJSON or CSV. */
export const exportExecutionsSchema = z.strictObject({
  format: z.enum(["ndjson", "csv"], { error: "must be ndjson or csv" }),
  status: statusList.optional(),
  workflowId: id.optional(),
  startedAfter: timestamp.optional(),
  startedBefore: timestamp.optional(),
  ...filterFields,
  order: listOrder.default("desc"),
});

/**
 * GET /executions-stats. Without `bucket`: one summary. With `bucket` (hour | day, UTC): a
 * series, one entry per bucket of the range (defaults and the 1,000-bucket limit: seriesRange
 * in shared/service.ts).
 */
export const statsSchema = z.strictObject({
  bucket: z.enum(["hour", "day"], { error: "must be hour or day" }).optional(),
  workflowId: id.optional(),
  startedAfter: timestamp.optional(),
  startedBefore: timestamp.optional(),
  ...filterFields,
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

// ---------------------------------------------------------------------------------------------
// The timeout sweeper's options (POST /timeout-sweeper): moved here from its app.ts so that
// the handler and the OpenAPI document share the one schema.
// ---------------------------------------------------------------------------------------------

export const sweepOptionsSchema = z.strictObject({
  batchSize: z.number().int().min(1).max(10_000).optional(),
  maxBatches: z.number().int().min(1).max(10_000).optional(),
  recheckAfterSeconds: z.number().min(0).max(86_400).optional(),
  redispatchAfterSeconds: z.number().min(0).max(86_400).optional(),
  retentionDays: z.number().int().min(1).max(36_500).nullable().optional(),
  // The Edge Runtime stops a function at 150 s (free) / 400 s (paid) of wall clock.
  budgetMs: z.number().int().min(100).max(390_000).optional(),
});

// ---------------------------------------------------------------------------------------------
// Responses: the API contract (shared/openapi/ builds the OpenAPI document from these and the
// request schemas above; tests/contract/ checks every response of the e2e suite against it).
// Nothing parses a response with them at run time; shared/openapi/document.ts asserts at
// compile time that each one and its type in shared/types.ts agree. Objects are closed
// (`additionalProperties: false`), so a field added to an answer fails the contract test until
// it is documented here.
// ---------------------------------------------------------------------------------------------

const responseTimestamp = z.iso.datetime({ offset: true });
const nullableTimestamp = responseTimestamp.nullable();
/** A stored JSON value (input, output): any JSON, as stored (the JSON Schema is `{}`). */
const anyJson = z.custom<Json>(() => true).meta({ description: "Any JSON value, as stored." });

export const executionResponseSchema = z.strictObject({
  id,
  workflowId: id,
  createdBy: id,
  temporalWorkflowId: z.string().nullable(),
  temporalRunId: z.string().nullable(),
  temporalLink: z.enum(["dispatched", "registered", "reported"]).meta({
    description: "How the row is tied to its Temporal run (docs/architecture.md §1): dispatched (the tracker started it), registered (a service-role caller vouched for it), reported (a user's own record: never acted on in Temporal).",
  }),
  stopRequestedAt: nullableTimestamp.meta({ description: "A stop (cancel or deadline) requested and not yet confirmed by Temporal: the row stays live until it is." }),
  stopReason: z.enum(["cancel", "timeout"]).nullable(),
  temporalClosedAt: nullableTimestamp,
  status,
  startedAt: responseTimestamp,
  completedAt: nullableTimestamp,
  // A whole number of ms; not bounded by 2^53: the column is a bigint that SQL may fill beyond it (found by the contract test).
  durationMs: z.number().nonnegative().nullable().meta({ description: "Whole milliseconds (a bigint column: past 2^53 a JSON number loses precision)." }),
  timeoutAt: nullableTimestamp,
  input: anyJson.nullable(),
  output: anyJson.nullable(),
  errorMessage: z.string().nullable(),
  activitiesExecuted: z.number().int().nonnegative(),
  createdAt: responseTimestamp,
  updatedAt: responseTimestamp,
  tags: z.array(z.string()).meta({ description: "A set of labels, sorted, without duplicates (filter: `tag=a,b`)." }),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .meta({ description: "A flat object of business fields (filter: `metadata.<key>=<value>`, equality with the value's text)." }),
  retryOf: id.nullable().meta({ description: "The execution this one retries (POST /executions-retry/:id); null for an original, or once the original is deleted." }),
  workflow: z.strictObject({ id, name: z.string() }),
}).meta({ id: "Execution" });

/** 202 of executions-create: the execution waits as pending, with why. */
export const queuedExecutionResponseSchema = executionResponseSchema
  .extend({ message: z.string().meta({ description: "Why the dispatch is queued (Temporal unreachable); the sweeper dispatches it later." }) })
  .meta({ id: "QueuedExecution" });

export const executionPageResponseSchema = z.strictObject({
  data: z.array(executionResponseSchema),
  nextCursor: z.string().nullable().meta({ description: "Pass back as `cursor` for the next page; null on the last." }),
}).meta({ id: "ExecutionPage" });

export const executionStatsResponseSchema = z.strictObject({
  total: z.number().int().nonnegative(),
  byStatus: z.strictObject(Object.fromEntries(executionStatuses.map((s) => [s, z.number().int().nonnegative()])) as Record<
    (typeof executionStatuses)[number],
    z.ZodNumber
  >),
  successRate: z.number().min(0).max(1).nullable().meta({ description: "completed / executions in a terminal state; null when none is terminal." }),
  avgDurationMs: z.number().nonnegative().nullable(),
  p50DurationMs: z.number().nonnegative().nullable(),
  p95DurationMs: z.number().nonnegative().nullable(),
  history: z.strictObject({
    includesPruned: z.boolean().meta({ description: "Whether the numbers count runs that retention has deleted (they keep counting after the rows are gone)." }),
    prunedExecutions: z.number().int().nonnegative().meta({ description: "How many of the counted runs were deleted by retention." }),
    prunedBefore: responseTimestamp.nullable().meta({ description: "Every pruned run counted started before this instant (the end of its UTC hour, or of its UTC day where the answer read daily rollups); null when none is counted." }),
  }).meta({ description: "Which numbers include runs deleted by retention. Runs in the partial edge hours of a range are read from the rows, so pruned ones there are not counted." }),
}).meta({ id: "ExecutionStats" });

/** GET /executions-stats?bucket=hour|day: every bucket of the range, oldest first, empty ones included. */
export const executionStatsSeriesResponseSchema = z.strictObject({
  bucket: z.enum(["hour", "day"]),
  buckets: z.array(executionStatsResponseSchema.omit({ history: true }).extend({
    start: responseTimestamp.meta({ description: "The bucket's UTC start (also for a partial first or last bucket, which counts only the executions inside the range)." }),
  })),
  history: executionStatsResponseSchema.shape.history,
}).meta({ id: "ExecutionStatsSeries" });

export const workflowResponseSchema = z.strictObject({
  id,
  name: z.string(),
  description: z.string().nullable(),
  temporalWorkflowType: z.string().nullable(),
  taskQueue: z.string().nullable(),
  createdBy: id,
  createdAt: responseTimestamp,
  updatedAt: responseTimestamp,
}).meta({ id: "Workflow" });

export const workflowPageResponseSchema = z.strictObject({
  data: z.array(workflowResponseSchema),
  nextCursor: z.string().nullable(),
}).meta({ id: "WorkflowPage" });

export const workflowTypeResponseSchema = z.strictObject({
  workflowType: z.string(),
  taskQueue: z.string(),
  description: z.string().nullable(),
  createdAt: responseTimestamp,
}).meta({ id: "WorkflowType" });

export const workflowTypeListResponseSchema = z.strictObject({ data: z.array(workflowTypeResponseSchema) }).meta({ id: "WorkflowTypeList" });

export const workflowTypeRemovedResponseSchema = z.strictObject({
  workflowsCleared: z.number().int().nonnegative().meta({ description: "Workflows that named the pair and lost their type and queue." }),
}).meta({ id: "WorkflowTypeRemoved" });

export const webhookResultResponseSchema = z.strictObject({
  action: z.enum(["dispatched", "queued", "rejected", "stop_confirmed", "stop_sent", "stop_retrying", "ignored"]),
  executionId: id,
  reason: z.string().optional(),
}).meta({ id: "WebhookResult" });

const counter = z.number().int().nonnegative();
const phaseReport = {
  stoppedBy: z.enum(["budget", "max_batches", "temporal_unreachable"]).nullable(),
  left: counter,
  failures: counter,
  parked: counter,
  failedIds: z.array(z.string()),
};
const stopReportResponseSchema = z.strictObject({
  claimed: counter,
  sent: z.strictObject({ cancel: counter, terminate: counter }),
  escalated: counter,
  confirmed: z.strictObject({ completed: counter, failed: counter, cancelled: counter, timed_out: counter, deleted: counter }),
  waiting: counter,
  failed: counter,
  deletedConfirmed: counter,
  leftForNextRun: counter,
  temporalReachable: z.boolean(),
});

export const sweepReportResponseSchema = z.strictObject({
  complete: z.boolean().meta({ description: "False when the time budget (or maxBatches) cut a phase short: invoke again to continue." }),
  elapsedMs: z.number().nonnegative(),
  budgetMs: z.number().nonnegative(),
  temporalReachable: z.boolean(),
  stats: z.strictObject({
    ...phaseReport,
    folded: counter.meta({ description: "Stat deltas folded into the rollups (reads are exact either way; folding keeps them cheap)." }),
  }),
  deadlines: z.strictObject({ ...phaseReport, timedOut: counter, stopRequested: counter }),
  reconcile: z.strictObject({
    ...phaseReport,
    completed: counter,
    failed: counter,
    cancelled: counter,
    timed_out: counter,
    stillRunning: counter,
    unknownToTemporal: counter,
  }),
  redispatch: z.strictObject({ ...phaseReport, started: counter, rejected: counter }),
  stops: z.strictObject({ ...phaseReport, sent: counter, requests: stopReportResponseSchema.nullable() }),
  retention: z.strictObject({
    ...phaseReport,
    deleted: counter.meta({ description: "Terminal executions deleted (their runs stay counted in the statistics)." }),
    deletedByOwnerPolicy: counter.meta({ description: "Of those, deleted under their owner's retention policy rather than the global period." }),
  }),
}).meta({ id: "SweepReport" });

/** The error body of every 4xx/5xx a function answers (shared/http/app.ts), for the codes of one HTTP status. */
export function errorResponseSchema<C extends string>(codes: readonly [C, ...C[]]) {
  return z.strictObject({
    error: z.strictObject({
      code: z.enum(codes),
      message: z.string().meta({ description: "Safe to show; never SQL or a stack trace." }),
      details: z.unknown().optional().meta({
        description: "validation_failed: {fields: [{path, message}]} naming each bad field; invalid_transition, terminal_execution, immutable_field: {field}.",
      }),
      requestId: z.string().meta({ description: "Also in the x-request-id header and in the server's log line of the request." }),
    }),
  });
}
