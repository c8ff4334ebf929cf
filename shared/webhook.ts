/**
 * Database webhooks for `workflow_executions` (Supabase's payload: {type, table, schema,
 * record, old_record}): the effects in Temporal of what apps write directly through SQL or
 * supabase-js. The triggers (migration 20261201000300_temporal_effects.sql) fire only for
 * what the writer does not handle itself: a pending INSERT without a dispatch lease (the API's
 * own inserts carry one), a stop requested by a transaction that did not claim it (the API
 * claims its own), a DELETE of an acted-on live row (likewise).
 *
 * Decisions read the current state, not the payload, and every effect is claimed first (the
 * dispatch lease, the stop request's lease), so a webhook delivered twice, late or out of
 * order does nothing more, and one that is lost is the sweeper's: it dispatches what stayed
 * pending and sends every stop request still open.
 */
import { z } from "zod";
import type { Sql } from "./db.ts";
import { withCaller } from "./db.ts";
import { dispatchExecution } from "./dispatch.ts";
import { ValidationError } from "./errors.ts";
import { serviceCaller } from "./identity.ts";
import * as repo from "./repository/executions.ts";
import { parseInput } from "./schemas.ts";
import { processStopFor } from "./stops.ts";
import type { TemporalGateway } from "./temporal/gateway.ts";

const executionRecord = z.looseObject({
  id: z.guid(),
  status: z.string(),
});

export const webhookPayloadSchema = z.looseObject({
  type: z.enum(["INSERT", "UPDATE", "DELETE"]),
  table: z.string(),
  schema: z.string(),
  record: executionRecord.nullable().optional(),
  old_record: executionRecord.nullable().optional(),
});

export type WebhookAction =
  | "dispatched"
  | "queued"
  | "rejected"
  /** Temporal confirmed the stop; the execution (if it still exists) is terminal. */
  | "stop_confirmed"
  /** The stop was sent (or waits for a dispatch in flight); the sweeper confirms it. */
  | "stop_sent"
  /** Temporal was unreachable or refused; the sweeper retries with backoff. */
  | "stop_retrying"
  | "ignored";

export interface WebhookResult {
  action: WebhookAction;
  executionId: string;
  reason?: string;
}

export async function handleExecutionWebhook(
  deps: { sql: Sql; temporal: TemporalGateway | null; log: (message: string, error?: unknown) => void },
  body: unknown,
): Promise<WebhookResult> {
  const payload = parseInput(webhookPayloadSchema, body, "webhook payload");
  if (payload.schema !== "public" || payload.table !== "workflow_executions") {
    throw new ValidationError(`webhooks for ${payload.schema}.${payload.table} are not handled; only public.workflow_executions`,
      [{ path: "table", message: "must be workflow_executions in schema public" }]);
  }
  const row = payload.type === "DELETE" ? payload.old_record : payload.record;
  if (!row) {
    const field = payload.type === "DELETE" ? "old_record" : "record";
    throw new ValidationError(`a ${payload.type} webhook needs ${field}`, [{ path: field, message: "required" }]);
  }
  const ignored = (reason: string): WebhookResult => ({ action: "ignored", executionId: row.id, reason });

  if (payload.type === "INSERT") {
    if (!deps.temporal) return ignored("Temporal is not configured; the execution stays pending");
    const current = await withCaller(deps.sql, serviceCaller, (tx) => repo.findExecution(tx, { id: row.id }));
    if (!current) return ignored("the execution no longer exists");
    const result = await dispatchExecution({ sql: deps.sql, temporal: deps.temporal, log: deps.log }, current);
    if (result.outcome === "started") return { action: "dispatched", executionId: current.id };
    if (result.outcome === "skipped") return ignored(result.message);
    return { action: result.outcome, executionId: current.id, reason: result.message };
  }

  // UPDATE (a stop requested) or DELETE (a tombstone): send the execution's open stop request,
  // unless it is confirmed, claimed by another, or backing off.
  const stop = await processStopFor(deps, row.id);
  switch (stop.state) {
    case "confirmed":
      return { action: "stop_confirmed", executionId: row.id };
    case "waiting":
      return { action: "stop_sent", executionId: row.id };
    case "retrying":
      return { action: "stop_retrying", executionId: row.id, reason: stop.error };
    default:
      return ignored("no stop request to send: none, confirmed, or another is sending it");
  }
}
