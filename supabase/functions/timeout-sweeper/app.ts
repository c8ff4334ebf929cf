/**
 * POST /timeout-sweeper: one sweeper run (service role or the internal secret; pg_cron calls
 * it every minute). Optional JSON body tunes the run; answers with counts of what it did.
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
});

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("timeout-sweeper", runtime, { auth: "none" });
  app.use("*", requireInternalCaller(runtime));
  app.post("/", async (c) => {
    const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("content-type");
    const options = hasBody ? parseInput(sweepOptionsSchema, await readJsonBody(c), "sweeper options") : {};
    return c.json(await sweep(runtime, { retentionDays: runtime.config.retentionDays, ...options }), 200);
  });
  return app;
}
