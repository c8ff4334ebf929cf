/**
 * Database webhooks for `workflow_executions` (Supabase's payload: {type, table, schema,
 * record, old_record}). What apps do directly through supabase-js reaches Temporal here:
 * a pending INSERT is dispatched, an UPDATE to cancelled cancels the run, a DELETE of a
 * live execution terminates it. Decisions read the row as it is now, not the payload, so a
 * webhook delivered twice or out of order does no harm.
 */
import { z } from "zod";
import type { Sql } from "./db.ts";
import { withCaller } from "./db.ts";
import { dispatchExecution, requestTemporalStop } from "./dispatch.ts";
import { ValidationError } from "./errors.ts";
import * as repo from "./repository/executions.ts";
import { parseInput } from "./schemas.ts";
import { serviceCaller } from "./identity.ts";
import type { TemporalGateway } from "./temporal/gateway.ts";

const executionRecord = z.looseObject({
  id: z.guid(),
  status: z.string(),
  temporal_workflow_id: z.string().nullable().optional(),
  temporal_run_id: z.string().nullable().optional(),
});

export const webhookPayloadSchema = z.looseObject({
  type: z.enum(["INSERT", "UPDATE", "DELETE"]),
  table: z.string(),
  schema: z.string(),
  record: executionRecord.nullable().optional(),
  old_record: executionRecord.nullable().optional(),
});

export type WebhookAction = "dispatched" | "queued" | "rejected" | "cancel_requested" | "terminate_requested" | "ignored";

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
  if (!deps.temporal) return ignored("Temporal is not configured");
  const temporal = deps.temporal;

  if (payload.type === "DELETE") {
    if (!row.temporal_workflow_id || !["pending", "running"].includes(row.status)) return ignored("not a live execution");
    const stillThere = await withCaller(deps.sql, serviceCaller, (tx) => repo.findExecution(tx, { id: row.id }));
    if (stillThere) return ignored("the execution still exists");
    await temporal.terminate(row.temporal_workflow_id, undefined, "execution record deleted");
    return { action: "terminate_requested", executionId: row.id };
  }

  const current = await withCaller(deps.sql, serviceCaller, (tx) => repo.findExecution(tx, { id: row.id }));
  if (!current) return ignored("the execution no longer exists");

  if (current.status === "pending" && payload.type === "INSERT") {
    const result = await dispatchExecution({ sql: deps.sql, caller: serviceCaller, temporal }, current);
    return result.outcome === "started"
      ? { action: "dispatched", executionId: current.id }
      : { action: result.outcome, executionId: current.id, reason: result.message };
  }
  if (current.status === "cancelled" && current.temporalWorkflowId) {
    await requestTemporalStop(temporal, current, deps.log);
    return { action: "cancel_requested", executionId: current.id };
  }
  return ignored(`nothing to do for a ${payload.type} of an execution that is now ${current.status}`);
}
