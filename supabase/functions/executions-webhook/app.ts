/**
 * POST /executions-webhook: Supabase Database Webhooks for workflow_executions (sent through
 * pg_net by the triggers of migration 20261201000300_temporal_effects, only for direct writes:
 * a pending insert without a dispatch lease, an unclaimed stop request, an acted-on live row
 * deleted). Answers 200 with what it did (`dispatched`, `stop_confirmed`, `stop_sent`,
 * `ignored`...); what it cannot do now is the sweeper's. Secret header or service-role JWT.
 */
import { createFunctionApp, readJsonBody } from "../../../shared/http/app.ts";
import { requireInternalCaller } from "../../../shared/http/internal-auth.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { handleExecutionWebhook } from "../../../shared/webhook.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-webhook", runtime, { auth: "none" });
  app.use("*", requireInternalCaller(runtime));
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "executions-webhook" }), 200)); // this function's part of the API document
  app.post("/", async (c) => c.json(await handleExecutionWebhook(runtime, await readJsonBody(c)), 200));
  return app;
}
