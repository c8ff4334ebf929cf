/**
 * The OpenAPI 3.1 document of every function, generated from the zod schemas the handlers
 * validate with (request schemas) and the response schemas of shared/schemas.ts, with every
 * status code each operation can answer and the one error body (shared/errors.ts,
 * shared/http/app.ts). One source: nothing here restates a field.
 *
 *   openApiDocument()                       the whole API (served at /openapi.json by `npm start`)
 *   openApiDocument({ only: "workflows" })  one function's operations (GET /functions/v1/<name>/openapi.json)
 *
 * `npm run openapi` writes it to shared/openapi/openapi.json and the client's types
 * (client/api-types.ts); tests/contract/ fails when either is stale, when a response of the
 * e2e suite does not conform, or when schemathesis finds a 500 or a nonconforming answer.
 */
import { z } from "zod";
import { type ErrorCode, errorStatus } from "../errors.ts";
import * as s from "../schemas.ts";
import * as bulk from "../bulk/schemas.ts";
import type { ExecutionPage, ExecutionStats, ExecutionStatsSeries, ExecutionWithWorkflow, Workflow, WorkflowPage, WorkflowType } from "../types.ts";
import { webhookPayloadSchema } from "../webhook.ts";
import { alertComponentSchemas, alertOperations } from "../alerts/openapi.ts";
import { retryExecutionSchema, retryRequestIdSchema } from "../retry-schemas.ts";

/** The API's version (package.json's; tests/contract/document.test.ts checks they agree). */
export const apiVersion = "0.1.0";

export const functionNames = [
  "executions-create",
  "executions-update",
  "executions-list",
  "executions-stats",
  "executions-retry",
  "workflows",
  "executions-webhook",
  "timeout-sweeper",
  "executions-bulk",
  "alerts",
  "alerts-deliver",
] as const;
export type FunctionName = (typeof functionNames)[number];

// deno-lint-ignore no-explicit-any
type JsonObject = Record<string, any>;
type Method = "get" | "post" | "patch" | "delete";

interface Operation {
  fn: FunctionName;
  method: Method;
  /** Below the function, as Hono routes it: "" (the function's root), "/{id}", "/types". */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** "caller": a user's access token or the service role key; "internal": the webhook secret or the service role key. */
  auth: "caller" | "internal";
  query?: z.ZodObject;
  /** Descriptions of query parameters the schema cannot carry (how a list is written). */
  queryNotes?: Record<string, string>;
  /** Request headers the operation reads besides authorization, by name. */
  headers?: Record<string, { description: string; schema: z.ZodType }>;
  pathId?: string;
  body?: { schema: string; required: boolean; description?: string };
  /**
   * Success answers: status -> component schema name (null: no body; a list: one of them), or
   * `media`: a body that is not JSON, by content type (an export's NDJSON or CSV), with `headers`.
   */
  ok: Record<number, { description: string; schema: string | string[] | null; media?: Record<string, JsonObject>; headers?: Record<string, JsonObject> }>;
  /** Error statuses besides those every operation can answer (400, 401, 500, 503; 413 and 415 with a body). */
  errors?: number[];
}

/** The tag / metadata / retryOf filters of list, export and stats (docs/architecture.md §5.1). */
const filterNotes = {
  tag: "Comma-separated tags: executions that have all of them, e.g. `tag=billing,eu`.",
  metadata: "Written `metadata.<key>=<value>`, one parameter per key (e.g. `metadata.orderId=1234`): executions whose metadata value for the key, as text, equals it (all keys given).",
  retryOf: "The retries of this execution.",
};

const ops: Operation[] = [
  {
    fn: "executions-create", method: "post", path: "", operationId: "createExecution", auth: "caller",
    summary: "Record a run, or start one in Temporal",
    description:
      "With `temporalWorkflowId` (the app started the run): 201 with the execution, running; the same id again: 200 with the existing one, never a duplicate. " +
      "Without it the tracker starts the workflow the workflow row names: 201 running (`temporalWorkflowId = execution-<id>`), or 202 pending with a `message` when Temporal is unreachable (dispatched later by the sweeper). " +
      "`userId` names the owner: required for the service role, refused (403) for another user.",
    body: { schema: "CreateExecutionRequest", required: true },
    ok: {
      201: { description: "Created: running (registered, or started in Temporal).", schema: "Execution" },
      200: { description: "The execution that already has this temporalWorkflowId (an idempotent retry).", schema: "Execution" },
      202: { description: "Created pending: Temporal is unreachable; the sweeper dispatches it later.", schema: "QueuedExecution" },
    },
    errors: [403, 404, 409],
  },
  {
    fn: "executions-update", method: "post", path: "", operationId: "updateExecution", auth: "caller",
    summary: "Change an execution's status or results",
    description:
      "By `id` or `temporalWorkflowId` (exactly one). An illegal transition: 409 `invalid_transition`; any change to a terminal execution: 409 `terminal_execution` " +
      "(repeating its status with the same data: 200, unchanged). Cancelling (or timing out) a run the tracker acts on in Temporal requests the stop: the answer is the row as it then is.",
    body: { schema: "UpdateExecutionRequest", required: true },
    ok: { 200: { description: "The execution after the change.", schema: "Execution" } },
    errors: [404, 409],
  },
  {
    fn: "executions-update", method: "delete", path: "/{id}", operationId: "deleteExecution", auth: "caller", pathId: "execution id",
    summary: "Delete an execution (a live run is terminated in Temporal)",
    ok: { 204: { description: "Deleted.", schema: null } },
    errors: [404],
  },
  {
    fn: "executions-list", method: "get", path: "", operationId: "listExecutions", auth: "caller",
    summary: "The caller's executions, newest first (or oldest first), keyset-paginated",
    description: "Ordered by `startedAt`, then `id`, descending (`order=asc`: ascending). `startedAfter` is inclusive, `startedBefore` exclusive.",
    query: s.listExecutionsSchema,
    queryNotes: { status: "Comma-separated statuses, e.g. `running,failed`.", cursor: "The previous page's `nextCursor` (of the same `order`; another order's cursor is a 400).", ...filterNotes },
    ok: { 200: { description: "A page.", schema: "ExecutionPage" } },
  },
  {
    fn: "executions-list", method: "get", path: "/export", operationId: "exportExecutions", auth: "caller",
    summary: "Every execution of a list filter, as NDJSON or CSV, streamed",
    description:
      "The rows `GET /executions-list` would page through with the same filter and `order`, read in keyset pages inside the caller's RLS and streamed. " +
      "NDJSON: one Execution per line. CSV (RFC 4180, CRLF): a fixed header row (id, workflowId, workflowName, createdBy, status, startedAt, completedAt, durationMs, timeoutAt, " +
      "temporalWorkflowId, temporalRunId, temporalLink, stopRequestedAt, stopReason, temporalClosedAt, input, output, errorMessage, activitiesExecuted, createdAt, updatedAt); " +
      "null is empty, input and output are JSON text, and a cell starting with `=`, `+`, `-`, `@`, tab or CR is prefixed with `'` (against formula injection). " +
      "Not a snapshot: no row is repeated or skipped; rows inserted meanwhile may or may not appear.",
    query: s.exportExecutionsSchema,
    queryNotes: { status: "Comma-separated statuses, e.g. `running,failed`.", format: "`ndjson` (application/x-ndjson) or `csv` (text/csv).", ...filterNotes },
    ok: {
      200: {
        description: "The export (content-disposition: attachment with a filename).",
        schema: null,
        media: { "application/x-ndjson": { schema: { type: "string" } }, "text/csv": { schema: { type: "string" } } },
        headers: { "content-disposition": { description: "`attachment; filename=\"executions-<time>.<format>\"`", schema: { type: "string" } } },
      },
    },
  },
  {
    fn: "executions-list", method: "get", path: "/{id}", operationId: "getExecution", auth: "caller", pathId: "execution id",
    summary: "One execution (404 when the caller cannot see it)",
    ok: { 200: { description: "The execution.", schema: "Execution" } },
    errors: [404],
  },
  {
    fn: "executions-stats", method: "get", path: "", operationId: "getExecutionStats", auth: "caller",
    summary: "Counts per status, success rate and durations; per UTC hour or day with `bucket`",
    description: "From rollups kept by triggers (counts, success rate and average exact; percentiles within 2%). " +
      "With a time range and a workflow from the hourly rollups plus the partial edge hours from rows; over all of the caller's workflows from the rows of the range (exact). " +
      "With `bucket` (hour | day, UTC): an ExecutionStatsSeries, every bucket of the range oldest first, empty ones zero-filled; " +
      "default range the last 24 hours / 30 days; at most 1,000 buckets (400 above).",
    query: s.statsSchema,
    queryNotes: filterNotes,
    ok: { 200: { description: "The statistics (ExecutionStats), or with `bucket` the series (ExecutionStatsSeries).", schema: ["ExecutionStats", "ExecutionStatsSeries"] } },
  },
  {
    fn: "executions-retry", method: "post", path: "/{id}", operationId: "retryExecution", auth: "caller", pathId: "execution id",
    summary: "Retry an execution: a new run of the same workflow, with the same or an edited input",
    description:
      "A new execution of the original's workflow and owner (the service role retries for the original's owner), with its tags, metadata and timeout length, " +
      "`retryOf` = the original, the original's `input` unless the body gives one; dispatched like a create without `temporalWorkflowId`: " +
      "201 running, or 202 pending with a `message` when Temporal is unreachable (dispatched later by the sweeper). Any status may be retried, also a run started elsewhere, " +
      "but only if the workflow has a registered Temporal type and task queue (else 409 `not_retryable`). " +
      "`requestId` (or the `Idempotency-Key` header) makes it idempotent: the same one again for the same execution answers 200 with the retry it made, never a second run. " +
      "The original lists its retries with `GET /executions-list?retryOf=<id>`.",
    body: { schema: "RetryExecutionRequest", required: false },
    headers: { "Idempotency-Key": { description: "The requestId as a header (400 when the body's requestId differs).", schema: retryRequestIdSchema } },
    ok: {
      201: { description: "Created and started in Temporal.", schema: "Execution" },
      200: { description: "The retry this requestId made before (an idempotent repeat).", schema: "Execution" },
      202: { description: "Created pending: Temporal is unreachable; the sweeper dispatches it later.", schema: "QueuedExecution" },
    },
    errors: [404, 409],
  },
  {
    fn: "workflows", method: "post", path: "", operationId: "createWorkflow", auth: "caller",
    summary: "Create a workflow",
    description: "`temporalWorkflowType` and `taskQueue` together name a registered pair (GET /workflows/types): the tracker can then start its runs.",
    body: { schema: "CreateWorkflowRequest", required: true },
    ok: { 201: { description: "Created.", schema: "Workflow" } },
    errors: [403, 404, 409],
  },
  {
    fn: "workflows", method: "get", path: "", operationId: "listWorkflows", auth: "caller",
    summary: "The caller's workflows, newest first, keyset-paginated",
    query: s.listWorkflowsSchema,
    queryNotes: { userId: "Service role only: one owner's workflows." },
    ok: { 200: { description: "A page.", schema: "WorkflowPage" } },
    errors: [403],
  },
  {
    fn: "workflows", method: "get", path: "/types", operationId: "listWorkflowTypes", auth: "caller",
    summary: "The registered (workflowType, taskQueue) pairs the tracker may start",
    ok: { 200: { description: "Every registered pair.", schema: "WorkflowTypeList" } },
  },
  {
    fn: "workflows", method: "post", path: "/types", operationId: "registerWorkflowType", auth: "caller",
    summary: "Register a pair (service role)",
    body: { schema: "RegisterWorkflowTypeRequest", required: true },
    ok: {
      201: { description: "Registered.", schema: "WorkflowType" },
      200: { description: "Already registered.", schema: "WorkflowType" },
    },
    errors: [403, 409],
  },
  {
    fn: "workflows", method: "delete", path: "/types", operationId: "unregisterWorkflowType", auth: "caller",
    summary: "Unregister a pair (service role); workflows naming it lose their type and queue",
    query: s.workflowTypeKeySchema,
    ok: { 200: { description: "Unregistered.", schema: "WorkflowTypeRemoved" } },
    errors: [403, 404],
  },
  {
    fn: "workflows", method: "get", path: "/{id}", operationId: "getWorkflow", auth: "caller", pathId: "workflow id",
    summary: "One workflow (404 when not the caller's)",
    ok: { 200: { description: "The workflow.", schema: "Workflow" } },
    errors: [404],
  },
  {
    fn: "workflows", method: "patch", path: "/{id}", operationId: "updateWorkflow", auth: "caller", pathId: "workflow id",
    summary: "Rename, describe, or set/clear the (registered) type and queue",
    body: { schema: "UpdateWorkflowRequest", required: true },
    ok: { 200: { description: "The workflow after the change.", schema: "Workflow" } },
    errors: [404, 409],
  },
  {
    fn: "workflows", method: "delete", path: "/{id}", operationId: "deleteWorkflow", auth: "caller", pathId: "workflow id",
    summary: "Delete a workflow and its executions",
    ok: { 204: { description: "Deleted.", schema: null } },
    errors: [404],
  },
  {
    fn: "executions-webhook", method: "post", path: "", operationId: "executionWebhook", auth: "internal",
    summary: "Database webhook for public.workflow_executions (internal: pg_net)",
    description: "Supabase's Database Webhook payload. Called by the database's triggers through pg_net with the shared secret.",
    body: { schema: "WebhookPayload", required: true },
    ok: { 200: { description: "What the webhook did.", schema: "WebhookResult" } },
  },
  {
    fn: "timeout-sweeper", method: "post", path: "", operationId: "sweep", auth: "internal",
    summary: "One sweeper run (internal: pg_cron every minute)",
    description: "Times out overdue runs, adopts results Temporal has, re-dispatches pending runs, sends stop requests, applies retention. An empty body uses the defaults.",
    body: { schema: "SweepOptions", required: false },
    ok: { 200: { description: "The sweep's report.", schema: "SweepReport" } },
  },
  {
    fn: "executions-bulk", method: "post", path: "", operationId: "createBulkAction", auth: "caller",
    summary: "Cancel, retry or delete every execution of a list filter (or count them: dryRun)",
    description:
      "`dryRun: true`: 200 `{matched}` (exact up to 100,000), nothing changes. Otherwise the matched rows (at most 100,000: else 400 `too_many_matches`, nothing written) are fixed now " +
      "and processed in batches of 1,000, each its own transaction as the owner (RLS), never waiting on a row a writer holds: 202 with the record (its progress so far), polled with GET /executions-bulk/{id}. " +
      "A cancel requests the stop of each live run (sent to Temporal once by the sweeper's stop phase; `reported` runs end at once), a delete deletes (a live run is terminated), " +
      "a retry starts a new run of each (idempotent per action and row). The same `requestId` again: 200 with the same action (409 when its action or filter differ).",
    body: { schema: "BulkActionRequest", required: true },
    ok: {
      202: { description: "Accepted: the new action.", schema: "BulkAction" },
      200: { description: "A dry run's count, or the action this requestId made before.", schema: ["BulkDryRun", "BulkAction"] },
    },
    errors: [403, 404, 409],
  },
  {
    fn: "executions-bulk", method: "get", path: "", operationId: "listBulkActions", auth: "caller",
    summary: "The caller's most recent bulk actions, newest first",
    query: bulk.listBulkActionsSchema,
    queryNotes: { userId: "Service role only: one owner's actions." },
    ok: { 200: { description: "The actions.", schema: "BulkActionList" } },
    errors: [403],
  },
  {
    fn: "executions-bulk", method: "get", path: "/{id}", operationId: "getBulkAction", auth: "caller", pathId: "bulk action id",
    summary: "One bulk action and its progress (404 when not the caller's)",
    ok: { 200: { description: "The action.", schema: "BulkAction" } },
    errors: [404],
  },
  {
    fn: "executions-bulk", method: "post", path: "/process", operationId: "processBulkActions", auth: "internal",
    summary: "Work on unfinished bulk actions for a time budget (internal: pg_net and pg_cron)",
    body: { schema: "BulkProcessOptions", required: false },
    ok: { 200: { description: "What this run did.", schema: "BulkProcessReport" } },
  },
  ...alertOperations(),
];

/** Component schemas: request bodies (the handlers' own schemas) and responses. */
function componentSchemas(): Record<string, z.ZodType> {
  return {
    CreateExecutionRequest: s.createExecutionSchema,
    UpdateExecutionRequest: s.updateExecutionSchema,
    RetryExecutionRequest: retryExecutionSchema,
    CreateWorkflowRequest: s.createWorkflowSchema,
    UpdateWorkflowRequest: s.updateWorkflowSchema,
    RegisterWorkflowTypeRequest: s.registerWorkflowTypeSchema,
    WebhookPayload: webhookPayloadSchema,
    SweepOptions: s.sweepOptionsSchema,
    Execution: s.executionResponseSchema,
    QueuedExecution: s.queuedExecutionResponseSchema,
    ExecutionPage: s.executionPageResponseSchema,
    ExecutionStats: s.executionStatsResponseSchema,
    ExecutionStatsSeries: s.executionStatsSeriesResponseSchema,
    Workflow: s.workflowResponseSchema,
    WorkflowPage: s.workflowPageResponseSchema,
    WorkflowType: s.workflowTypeResponseSchema,
    WorkflowTypeList: s.workflowTypeListResponseSchema,
    WorkflowTypeRemoved: s.workflowTypeRemovedResponseSchema,
    WebhookResult: s.webhookResultResponseSchema,
    SweepReport: s.sweepReportResponseSchema,
    BulkActionRequest: bulk.bulkActionRequestSchema,
    BulkProcessOptions: bulk.processBulkOptionsSchema,
    BulkAction: bulk.bulkActionResponseSchema,
    BulkDryRun: bulk.bulkDryRunResponseSchema,
    BulkActionList: bulk.bulkActionListResponseSchema,
    BulkProcessReport: bulk.bulkProcessReportResponseSchema,
    ...alertComponentSchemas(),
  };
}

/** OpenAPI links: the id a success answer carries, to the operations that take it (tools and schemathesis' stateful phase follow them). */
const byId = (operationId: string) => ({ operationId, parameters: { id: "$response.body#/id" } });
const linksFrom: Record<string, JsonObject> = {
  createExecution: { GetExecution: byId("getExecution"), DeleteExecution: byId("deleteExecution") },
  retryExecution: { GetExecution: byId("getExecution"), DeleteExecution: byId("deleteExecution") },
  getExecution: { DeleteExecution: byId("deleteExecution") },
  createWorkflow: { GetWorkflow: byId("getWorkflow"), UpdateWorkflow: byId("updateWorkflow"), DeleteWorkflow: byId("deleteWorkflow") },
  updateWorkflow: { GetWorkflow: byId("getWorkflow"), DeleteWorkflow: byId("deleteWorkflow") },
};

/** What zod cannot say in JSON Schema: the cross-field rules its refinements check. */
const refinementNotes: Record<string, JsonObject> = {
  UpdateExecutionRequest: {
    description: "Exactly one of `id` and `temporalWorkflowId` names the execution.",
    // Exactly one: with both, both branches match and oneOf fails.
    oneOf: [{ required: ["id"] }, { required: ["temporalWorkflowId"] }],
  },
  CreateWorkflowRequest: { description: "`temporalWorkflowType` and `taskQueue` are set together (a registered pair) or both null/absent." },
  UpdateWorkflowRequest: { description: "At least one field; `temporalWorkflowType` and `taskQueue` change together.", minProperties: 1 },
};

/** A Temporal id as the request schemas' refinements check it (the JSON Schema of a refinement is only its base type). */
const temporalIdNote = "1 to 1000 bytes (UTF-8), no `/`, not `.` or `..`, no control characters.";

/** Error statuses and their codes, from shared/errors.ts. */
function codesOf(status: number): [ErrorCode, ...ErrorCode[]] {
  const codes = (Object.keys(errorStatus) as ErrorCode[]).filter((code) => errorStatus[code] === status);
  if (!codes.length) throw new Error(`no error code has status ${status}`);
  return codes as [ErrorCode, ...ErrorCode[]];
}

const errorDescriptions: Record<number, string> = {
  400: "validation_failed: a bad field (details.fields names each), malformed JSON, a bad cursor.",
  401: "unauthorized: a missing, malformed, forged or expired token (or, for the internal functions, neither the webhook secret nor the service role).",
  403: "forbidden: not allowed for this caller (a user naming another user, a service-role-only operation).",
  404: "not_found: no such row for this caller (other users' rows look exactly like missing ones).",
  409: "invalid_transition, terminal_execution, immutable_field, conflict or not_retryable.",
  413: "payload_too_large: the body is over 1 MiB.",
  415: "unsupported_media_type: the body is not application/json.",
  500: "internal: anything else; details are logged with the request id, never returned.",
  503: "unavailable: the database cannot be reached right now; try again after Retry-After seconds.",
};

function stripMeta(schema: JsonObject): JsonObject {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

function toSchema(schema: z.ZodType, io: "input" | "output"): JsonObject {
  return stripMeta(z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonObject);
}

/** Names a component schema ("Execution") as a $ref. */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function buildComponents(): JsonObject {
  const registry = z.registry<{ id: string }>();
  const components = componentSchemas();
  for (const [id, schema] of Object.entries(components)) registry.add(schema, { id });
  // Requests as their handlers read them (io: input); responses as written (the same here: no transforms).
  const converted = z.toJSONSchema(registry, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas as Record<string, JsonObject>;
  const schemas: Record<string, JsonObject> = {};
  for (const id of Object.keys(components)) {
    const schema = stripMeta(converted[id]);
    const note = refinementNotes[id];
    schemas[id] = note ? { ...schema, ...note, description: [schema.description, note.description].filter(Boolean).join(" ") } : schema;
    for (const [name, property] of Object.entries((schema.properties ?? {}) as Record<string, JsonObject>)) {
      if (/^temporal(Workflow|Run)Id$/.test(name) && id.endsWith("Request")) property.description = temporalIdNote;
    }
  }
  const errorStatuses = [...new Set(Object.values(errorStatus))].sort();
  for (const status of errorStatuses) schemas[`Error${status}`] = toSchema(s.errorResponseSchema(codesOf(status)), "output");

  const requestIdHeader = {
    description: "The request's id (the caller's valid x-request-id, else a new UUID); also in error bodies and the server's log.",
    schema: { type: "string" },
  };
  const responses: JsonObject = {};
  for (const status of errorStatuses) {
    responses[`Error${status}`] = {
      description: errorDescriptions[status] ?? codesOf(status).join(", "),
      headers: {
        "x-request-id": requestIdHeader,
        ...(status === 503 ? { "Retry-After": { description: "Seconds to wait before trying again.", schema: { type: "string", pattern: "^[0-9]+$" } } } : {}),
      },
      content: { "application/json": { schema: ref(`Error${status}`) } },
    };
  }
  return {
    schemas,
    responses,
    headers: { "x-request-id": requestIdHeader },
    securitySchemes: {
      bearerAuth: {
        type: "http",
        scheme: "bearer",
        bearerFormat: "JWT",
        description: "A signed-in user's Supabase access token (RLS: their own rows), or the service role key (every row).",
      },
      webhookSecret: {
        type: "apiKey",
        in: "header",
        name: "x-webhook-secret",
        description: "The shared secret of the database webhooks and the pg_cron job (WEBHOOK_SECRET).",
      },
    },
  };
}

function parametersOf(op: Operation, pathIdSchema: JsonObject): JsonObject[] {
  const parameters: JsonObject[] = [];
  if (op.pathId) parameters.push({ name: "id", in: "path", required: true, description: `The ${op.pathId} (a UUID).`, schema: pathIdSchema });
  if (op.query) {
    const schema = toSchema(op.query, "input");
    const required = new Set<string>(schema.required ?? []);
    for (const [name, property] of Object.entries((schema.properties ?? {}) as Record<string, JsonObject>)) {
      const note = op.queryNotes?.[name];
      parameters.push({
        name,
        in: "query",
        required: required.has(name),
        ...(note ?? property.description ? { description: note ?? property.description } : {}),
        schema: property,
      });
    }
  }
  for (const [name, header] of Object.entries(op.headers ?? {})) {
    parameters.push({ name, in: "header", required: false, description: header.description, schema: toSchema(header.schema, "input") });
  }
  return parameters;
}

function buildOperation(op: Operation, pathIdSchema: JsonObject): JsonObject {
  const commonErrors = [400, 401, ...(op.body ? [413, 415] : []), 500, 503];
  const errors = [...new Set([...commonErrors, ...(op.errors ?? [])])].sort();
  const responses: JsonObject = {};
  for (const [status, answer] of Object.entries(op.ok)) {
    responses[status] = {
      description: answer.description,
      headers: { "x-request-id": { $ref: "#/components/headers/x-request-id" }, ...answer.headers },
      ...(answer.schema
        ? { content: { "application/json": { schema: Array.isArray(answer.schema) ? { oneOf: answer.schema.map(ref) } : ref(answer.schema) } } }
        : {}),
      ...(answer.media ? { content: answer.media } : {}),
      ...(linksFrom[op.operationId] && status.startsWith("2") ? { links: linksFrom[op.operationId] } : {}),
    };
  }
  for (const status of errors) responses[String(status)] = { $ref: `#/components/responses/Error${status}` };
  const parameters = parametersOf(op, pathIdSchema);
  return {
    operationId: op.operationId,
    tags: [op.fn],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: op.auth === "caller" ? [{ bearerAuth: [] }] : [{ webhookSecret: [] }, { bearerAuth: [] }],
    ...(parameters.length ? { parameters } : {}),
    ...(op.body
      ? {
        requestBody: {
          required: op.body.required,
          ...(op.body.description ? { description: op.body.description } : {}),
          content: { "application/json": { schema: ref(op.body.schema) } },
        },
      }
      : {}),
    responses,
  };
}

/** GET /<name>/openapi.json: the function's own part of this document, for its callers. */
function documentOperation(fn: FunctionName): Operation & { document: true } {
  return {
    fn, method: "get", path: "/openapi.json", operationId: `${fn.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())}OpenApi`,
    auth: fn === "executions-webhook" || fn === "timeout-sweeper" || fn === "alerts-deliver" ? "internal" : "caller",
    summary: `This function's part of the OpenAPI document`,
    ok: { 200: { description: "An OpenAPI 3.1 document.", schema: null } },
    document: true,
  };
}

export interface DocumentOptions {
  /** One function's operations only (its own document); default: every function. */
  only?: FunctionName;
  /** The servers' URL; default `/functions/v1` (relative to where the document is served). */
  serverUrl?: string;
}

let componentsCache: JsonObject | null = null;

/** The OpenAPI 3.1 document (a fresh object each call; the components are built once). */
export function openApiDocument(options: DocumentOptions = {}): JsonObject {
  componentsCache ??= buildComponents();
  const components = structuredClone(componentsCache);
  const pathIdSchema = toSchema(s.idParamSchema, "input").properties.id;
  const paths: JsonObject = {};
  const selected = options.only ? [options.only] : [...functionNames];
  for (const fn of selected) {
    for (const op of [...ops.filter((o) => o.fn === fn), documentOperation(fn)]) {
      const path = `/${op.fn}${op.path}`;
      const operation = buildOperation(op, pathIdSchema);
      if ("document" in op) operation.responses["200"].content = { "application/json": { schema: { type: "object" } } };
      (paths[path] ??= {})[op.method] = operation;
    }
  }
  return {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    info: {
      title: options.only ? `execution-tracker: ${options.only}` : "execution-tracker",
      version: apiVersion,
      description:
        "Workflow-execution tracking for apps on Supabase and Temporal: Supabase Edge Functions under `/functions/v1/<name>`. " +
        "JSON bodies, camelCase fields, `Authorization: Bearer <JWT>` (a user's access token or the service role key). " +
        "Every error is `{error: {code, message, details?, requestId}}`; a failed request changes nothing. " +
        "Every answer carries `x-request-id`. A path or method not listed here answers 404 `not_found`.",
    },
    servers: [{ url: options.serverUrl ?? "/functions/v1" }],
    tags: selected.map((name) => ({ name })),
    paths,
    components,
  };
}

/** Every operation of the document: method, path (below /functions/v1) and the statuses it declares. */
export function operationsOf(document: JsonObject): { method: string; path: string; operationId: string; statuses: string[] }[] {
  return Object.entries(document.paths as Record<string, JsonObject>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      operationId: operation.operationId,
      statuses: Object.keys(operation.responses),
    }))
  );
}

// ---------------------------------------------------------------------------------------------
// Compile-time: each response schema and its type in shared/types.ts describe the same shape.
// ---------------------------------------------------------------------------------------------

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type ResponseSchemasMatchTypes = [
  Assert<Same<z.output<typeof s.executionResponseSchema>, ExecutionWithWorkflow>>,
  Assert<Same<z.output<typeof s.executionPageResponseSchema>, ExecutionPage>>,
  Assert<Same<z.output<typeof s.executionStatsResponseSchema>, ExecutionStats>>,
  Assert<Same<z.output<typeof s.executionStatsSeriesResponseSchema>, ExecutionStatsSeries>>,
  Assert<Same<z.output<typeof s.workflowResponseSchema>, Workflow>>,
  Assert<Same<z.output<typeof s.workflowPageResponseSchema>, WorkflowPage>>,
  Assert<Same<z.output<typeof s.workflowTypeResponseSchema>, WorkflowType>>,
];
