/**
 * POST /timeout-sweeper: one sweeper run (service role or the internal secret; pg_cron calls
 * it every minute). Optional JSON body tunes the run; answers with the sweep's report: counts
 * per phase, failures, and `complete: false` when the time budget (SWEEP_BUDGET_MS, or
 * `budgetMs` here) left work for the next invocation.
 */
import { z } from "zod";
import { createFunctionApp, readJsonBody } from "../../../shared/http/app.ts";
import { requireInternalCaller } from "../../../shared/http/internal-auth.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { parseInput } from "../../../shared/schemas.ts";
import { sweep } from "../../../shared/sweeper.ts";

const sweepOptionsSchema = z.strictObject({
  batchSize: z.number().int().min(1).max(10_000).optional(),
  maxBatches: z.number().int().min(1).max(10_000).optional(),
  recheckAfterSeconds: z.number().min(0).max(86_400).optional(),
  redispatchAfterSeconds: z.number().min(0).max(86_400).optional(),
  retentionDays: z.number().int().min(1).max(36_500).nullable().optional(),
  // The Edge Runtime stops a function at 150 s (free) / 400 s (paid) of wall clock.
  budgetMs: z.number().int().min(100).max(390_000).optional(),
});

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("timeout-sweeper", runtime, { auth: "none" });
  app.use("*", requireInternalCaller(runtime));
  app.post("/", async (c) => {
    const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("content-type");
    const options = hasBody ? parseInput(sweepOptionsSchema, await readJsonBody(c), "sweeper options") : {};
    const defaults = { retentionDays: runtime.config.retentionDays, budgetMs: runtime.config.sweepBudgetMs };
    return c.json(await sweep(runtime, { ...defaults, ...options }), 200);
  });
  return app;
}
