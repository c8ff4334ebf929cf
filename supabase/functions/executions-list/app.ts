/**
 * Filters (list and export): status, workflowId, startedAfter/Before, `tag=a,b` (all of),
 * `metadata.<key>=<value>` (repeatable, one per key), retryOf.
 * GET /executions-list: the caller's executions, newest first (or oldest first with
 * `order=asc`), keyset-paginated (`{data, nextCursor}`). GET /executions-list/export: every
 * row of a filter as NDJSON or CSV, streamed (shared/export.ts). GET /executions-list/:id: one
 * execution (404 when not visible).
 */
import { exportContentTypes, exportStream } from "../../../shared/export.ts";
import { createFunctionApp, queryObject } from "../../../shared/http/app.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { exportExecutionsSchema, foldMetadataParams, idParamSchema, listExecutionsSchema, parseInput, withTags } from "../../../shared/schemas.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-list", runtime);
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "executions-list" }), 200)); // this function's part of the API document
  app.get("/", async (c) => {
    const filter = withTags(parseInput(listExecutionsSchema, foldMetadataParams(queryObject(c)), "query"));
    return c.json(await c.var.service.listExecutions(filter), 200);
  });
  app.get("/export", async (c) => {
    const { format, ...filter } = parseInput(exportExecutionsSchema, foldMetadataParams(queryObject(c)), "query");
    const body = await exportStream(format, c.var.service.exportExecutions(withTags(filter)), (error) => runtime.log("export aborted", error));
    const filename = `executions-${new Date().toISOString().replace(/[:.]/g, "-")}.${format}`;
    return c.body(body, 200, { "content-type": exportContentTypes[format], "content-disposition": `attachment; filename="${filename}"` });
  });
  app.get("/:id", async (c) => {
    const { id } = parseInput(idParamSchema, { id: c.req.param("id") }, "execution id");
    return c.json(await c.var.service.getExecution(id), 200);
  });
  return app;
}
