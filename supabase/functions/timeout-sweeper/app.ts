/**
 * POST /timeout-sweeper: one sweeper run (service role or the internal secret; pg_cron calls
 * it every minute). Optional JSON body tunes the run; answers with the sweep's report: counts
 * per phase, failures, and `complete: false` when the time budget (SWEEP_BUDGET_MS, or
 * `budgetMs` here) left work for the next invocation.
 */
import { createFunctionApp, readJsonBody } from "../../../shared/http/app.ts";
import { requireInternalCaller } from "../../../shared/http/internal-auth.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { parseInput, sweepOptionsSchema } from "../../../shared/schemas.ts";
import { sweep } from "../../../shared/sweeper.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("timeout-sweeper", runtime, { auth: "none" });
  app.use("*", requireInternalCaller(runtime));
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "timeout-sweeper" }), 200)); // this function's part of the API document
  app.post("/", async (c) => {
    const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("content-type");
    const options = hasBody ? parseInput(sweepOptionsSchema, await readJsonBody(c), "sweeper options") : {};
    const defaults = { retentionDays: runtime.config.retentionDays, budgetMs: runtime.config.sweepBudgetMs };
    return c.json(await sweep(runtime, { ...defaults, ...options }), 200);
  });
  return app;
}
