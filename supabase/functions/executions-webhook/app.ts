/**
 * POST /executions-webhook: Supabase Database Webhooks for workflow_executions (sent by the
 * triggers of migration temporal_sync through pg_net). Secret header or service-role JWT.
 */
import { createFunctionApp, readJsonBody } from "../../../shared/http/app.ts";
import { requireInternalCaller } from "../../../shared/http/internal-auth.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { handleExecutionWebhook } from "../../../shared/webhook.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-webhook", runtime, { auth: "none" });
  app.use("*", requireInternalCaller(runtime));
  app.post("/", async (c) => c.json(await handleExecutionWebhook(runtime, await readJsonBody(c)), 200));
  return app;
}
