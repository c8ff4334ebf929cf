/**
 * POST /alerts-deliver: one run of the alert deliverer (service role or the internal secret;
 * pg_cron calls it every minute). It keeps sending until its time budget ends (default 50 s,
 * polling for new rows while nothing is due), so alerts go out within about a second of the
 * change; `budgetMs` etc. in an optional JSON body tune it. Answers with the run's counts.
 */
import { deliverDueAlerts } from "../../../shared/alerts/deliver.ts";
import { deliverOptionsSchema } from "../../../shared/alerts/schemas.ts";
import { createFunctionApp, readJsonBody } from "../../../shared/http/app.ts";
import { requireInternalCaller } from "../../../shared/http/internal-auth.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { parseInput } from "../../../shared/schemas.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("alerts-deliver", runtime, { auth: "none" });
  app.use("*", requireInternalCaller(runtime));
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "alerts-deliver" }), 200)); // this function's part of the API document
  app.post("/", async (c) => {
    const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("content-type");
    const options = hasBody ? parseInput(deliverOptionsSchema, await readJsonBody(c), "deliverer options") : {};
    const allowPrivateUrls = runtime.config.alertsAllowPrivateUrls ?? false;
    const logRetentionDays = runtime.config.alertsLogRetentionDays;
    return c.json(await deliverDueAlerts(runtime, { budgetMs: 50_000, keepPolling: true, allowPrivateUrls, logRetentionDays, ...options }), 200);
  });
  return app;
}
