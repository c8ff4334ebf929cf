/**
 * POST /executions-bulk: cancel, retry or delete every execution of a list filter (a dry run
 * only counts them); 202 with the action's record, which GET /executions-bulk/:id polls.
 * GET /executions-bulk: the caller's recent actions. POST /executions-bulk/process (internal:
 * the webhook secret or the service role; pg_net and pg_cron call it): works on unfinished
 * actions for a time budget (shared/bulk/processor.ts).
 */
import type { Context } from "hono";
import { bulkActionRequestSchema, listBulkActionsSchema, processBulkOptionsSchema } from "../../../shared/bulk/schemas.ts";
import { processBulkActions } from "../../../shared/bulk/processor.ts";
import { createBulkService } from "../../../shared/bulk/service.ts";
import { createFunctionApp, type FunctionEnv, queryObject, readJsonBody } from "../../../shared/http/app.ts";
import { requireInternalCaller } from "../../../shared/http/internal-auth.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { idParamSchema, parseInput } from "../../../shared/schemas.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-bulk", runtime, { auth: "none" });
  const bulkFor = async (c: Context<FunctionEnv>) => {
    const caller = await runtime.verifyCaller(c.req.header("authorization"));
    c.set("caller", caller);
    return createBulkService({ sql: runtime.sql, caller, temporal: runtime.temporal, log: runtime.log });
  };
  app.post("/process", requireInternalCaller(runtime), async (c) => {
    const hasBody = (c.req.header("content-length") ?? "0") !== "0" || c.req.header("content-type");
    const options = hasBody ? parseInput(processBulkOptionsSchema, await readJsonBody(c), "processor options") : {};
    return c.json(await processBulkActions(runtime, options), 200);
  });
  app.get("/openapi.json", async (c) => (await bulkFor(c), c.json(openApiDocument({ only: "executions-bulk" }), 200)));
  app.post("/", async (c) => {
    const bulk = await bulkFor(c);
    const result = await bulk.submit(parseInput(bulkActionRequestSchema, await readJsonBody(c)));
    if (result.kind === "dryRun") return c.json(result.answer, 200);
    return c.json(result.action, result.created ? 202 : 200);
  });
  app.get("/", async (c) => {
    const bulk = await bulkFor(c);
    return c.json(await bulk.list(parseInput(listBulkActionsSchema, queryObject(c), "query")), 200);
  });
  app.get("/:id", async (c) => {
    const bulk = await bulkFor(c);
    const { id } = parseInput(idParamSchema, { id: c.req.param("id") }, "bulk action id");
    return c.json(await bulk.get(id), 200);
  });
  return app;
}
