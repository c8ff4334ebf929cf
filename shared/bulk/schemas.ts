/**
 * What the bulk-action routes accept and answer (supabase/functions/executions-bulk): the
 * request, its list filter as JSON (the same fields as the list's query: docs/architecture.md
 * §5.1), the record, the dry run's count, and the internal processor's options and report.
 * The OpenAPI document builds its components from these.
 */
import { z } from "zod";
import { executionStatuses } from "../status.ts";
import { metadataLimits, normalizeTags, tagLimits, tagRule } from "../execution-limits.ts";

/** At most this many executions per bulk action (a request matching more is a 400 `too_many_matches`). */
export const maxBulkMatches = 100_000;

const id = z.guid({ error: "must be a UUID" });
const timestamp = z.iso.datetime({ offset: true, error: "must be an ISO 8601 timestamp with a time zone", abort: true })
  .refine((v) => /(?:Z|[+-](?:0\d|1[0-5]):[0-5]\d)$/i.test(v), "the time zone offset must be within ±15:59")
  .refine((v) => !v.startsWith("0000"), "the year must be at least 0001");

/** The list filter of a bulk action, as a JSON object (a list's `tag=a,b` is `tags: [a, b]`, its `metadata.k=v` is `metadata: {k: v}`). */
export const bulkFilterSchema = z.strictObject({
  status: z.array(z.enum(executionStatuses)).min(1, "name at least one status").max(executionStatuses.length)
    .transform((statuses) => [...new Set(statuses)]).optional(),
  workflowId: id.optional(),
  startedAfter: timestamp.optional().meta({ description: "Inclusive." }),
  startedBefore: timestamp.optional().meta({ description: "Exclusive." }),
  tags: z.array(z.string().regex(tagLimits.pattern, `must be ${tagRule}`))
    .min(1, "name at least one tag").max(tagLimits.maxTags)
    .transform(normalizeTags).optional().meta({ description: "Rows that have every one of these tags." }),
  metadata: z.record(
    z.string().regex(metadataLimits.keyPattern, "must be 1 to 64 characters of A-Z a-z 0-9 _ -"),
    z.string().max(metadataLimits.maxStringLength),
  ).refine((m) => Object.keys(m).length <= metadataLimits.maxKeys, `at most ${metadataLimits.maxKeys} keys`)
    .optional().meta({ description: "Rows whose metadata value (as text) equals the given one, for every key." }),
  retryOf: id.optional().meta({ description: "The retries of this execution." }),
}).meta({ description: "The list filter (the fields of GET /executions-list); `{}` matches every execution of the owner." });

export const bulkActionRequestSchema = z.strictObject({
  action: z.enum(["cancel", "retry", "delete"], { error: "must be cancel, retry or delete" }),
  filter: bulkFilterSchema,
  dryRun: z.boolean().optional().meta({ description: "true: only count the matches (`{matched}`), change nothing." }),
  requestId: z.string().min(1, "must not be empty").max(200, "must be at most 200 characters")
    .refine((v) => !/[\u0000-\u001f\u007f-\u009f]/.test(v), "must not contain control characters")
    .meta({ description: "Idempotency key, unique per owner: the same requestId again answers the same action, and its work is done once." }),
  userId: id.optional().meta({ description: "The owner whose executions are acted on: required for the service role, refused (403) for another user." }),
});

export type BulkActionRequest = z.output<typeof bulkActionRequestSchema>;

export const listBulkActionsSchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  userId: id.optional(),
});

/** POST /executions-bulk/process (internal): how long to work and how big a batch is. */
export const processBulkOptionsSchema = z.strictObject({
  budgetMs: z.number().int().min(100).max(390_000).optional(),
  batchSize: z.number().int().min(1).max(5_000).optional(),
});

const timestampOut = z.iso.datetime({ offset: true });

export const bulkActionResponseSchema = z.strictObject({
  id,
  action: z.enum(["cancel", "retry", "delete"]),
  filter: bulkFilterSchema,
  requestId: z.string(),
  createdBy: id,
  status: z.enum(["queued", "running", "done", "failed"]).meta({
    description: "queued, running, done (every matched row handled: see done/failed/skipped) or failed (the action could not go on: lastError).",
  }),
  matched: z.number().int().meta({ description: "The executions the action acts on: fixed when it was accepted (rows created later are not included)." }),
  done: z.number().int().meta({ description: "Rows acted on: cancelled (or their stop requested), deleted, retried." }),
  failed: z.number().int().meta({ description: "Rows whose effect failed; the first 100 reasons are in errors." }),
  skipped: z.number().int().meta({ description: "Rows with nothing to do: already terminal or already stopping (cancel), or no longer there." }),
  errors: z.array(z.strictObject({ executionId: id, reason: z.string() })),
  lastError: z.string().nullable(),
  createdAt: timestampOut,
  startedAt: timestampOut.nullable(),
  finishedAt: timestampOut.nullable(),
});

export type BulkAction = z.output<typeof bulkActionResponseSchema>;

export const bulkDryRunResponseSchema = z.strictObject({
  dryRun: z.literal(true),
  matched: z.number().int().meta({ description: `Exact up to the limit; limit + 1 means "more than the limit".` }),
  limit: z.number().int(),
  withinLimit: z.boolean(),
});

export const bulkActionListResponseSchema = z.strictObject({ data: z.array(bulkActionResponseSchema) });

export const bulkProcessReportResponseSchema = z.strictObject({
  actions: z.number().int(),
  batches: z.number().int(),
  done: z.number().int(),
  failed: z.number().int(),
  skipped: z.number().int(),
  /** Rows a writer held at the moment: left for a later batch. */
  locked: z.number().int(),
  /** Some action is unfinished (another run was requested). */
  remaining: z.boolean(),
  elapsedMs: z.number().int(),
});

export type BulkProcessReport = z.output<typeof bulkProcessReportResponseSchema>;
