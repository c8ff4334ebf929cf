/**
 * POST /executions-update: change an execution's status or results, or replace its tags or
 * metadata while it is live, by id or Temporal workflow id (200; 409 invalid_transition,
 * terminal_execution). DELETE /executions-update/:id removes one (204).
 */
import { createFunctionApp, readJsonBody } from "../../../shared/http/app.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { idParamSchema, parseInput, updateExecutionSchema } from "../../../shared/schemas.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-update", runtime);
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "executions-update" }), 200)); // this function's part of the API document
  app.post("/", async (c) => {
    const { id, temporalWorkflowId, ...patch } = parseInput(updateExecutionSchema, await readJsonBody(c));
    const ref = id !== undefined ? { id } : { temporalWorkflowId: temporalWorkflowId! };
    return c.json(await c.var.service.updateExecutionByRef(ref, patch), 200);
  });
  app.delete("/:id", async (c) => {
    const { id } = parseInput(idParamSchema, { id: c.req.param("id") }, "execution id");
    await c.var.service.deleteExecution(id);
    return c.body(null, 204);
  });
  return app;
}
