/**
 * GET /executions-list: the caller's executions, newest first, keyset-paginated
 * (`{data, nextCursor}`). GET /executions-list/:id: one execution (404 when not visible).
 */
import { createFunctionApp, queryObject } from "../../../shared/http/app.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { idParamSchema, listExecutionsSchema, parseInput } from "../../../shared/schemas.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-list", runtime);
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "executions-list" }), 200)); // this function's part of the API document
  app.get("/", async (c) => {
    const filter = parseInput(listExecutionsSchema, queryObject(c), "query");
    return c.json(await c.var.service.listExecutions(filter), 200);
  });
  app.get("/:id", async (c) => {
    const { id } = parseInput(idParamSchema, { id: c.req.param("id") }, "execution id");
    return c.json(await c.var.service.getExecution(id), 200);
  });
  return app;
}
