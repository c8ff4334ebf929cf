/**
 * POST /executions-create: record a run (201), return the existing one for a repeated
 * temporalWorkflowId (200), or, without temporalWorkflowId, start the workflow in Temporal
 * (201 running; 202 pending when Temporal is unreachable, dispatched later).
 */
import { createFunctionApp, readJsonBody } from "../../../shared/http/app.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { createExecutionSchema, parseInput } from "../../../shared/schemas.ts";

const statusOf = { created: 201, existing: 200, queued: 202 } as const;

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-create", runtime);
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "executions-create" }), 200)); // this function's part of the API document
  app.post("/", async (c) => {
    const input = parseInput(createExecutionSchema, await readJsonBody(c));
    const result = await c.var.service.createExecution(input);
    const body = result.message ? { ...result.execution, message: result.message } : result.execution;
    return c.json(body, statusOf[result.outcome]);
  });
  return app;
}
