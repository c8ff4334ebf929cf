/**
 * /workflows: the caller's workflows and the registry of startable workflow types.
 *   POST   /workflows              create (201)
 *   GET    /workflows              list, newest first, keyset-paginated ({data, nextCursor})
 *   GET    /workflows/types        the registered (workflowType, taskQueue) pairs ({data})
 *   POST   /workflows/types        register one (service role; 201, or 200 when already there)
 *   DELETE /workflows/types?workflowType=&taskQueue=   unregister one (service role; 200)
 *   GET    /workflows/:id          one workflow (404 when not the caller's)
 *   PATCH  /workflows/:id          rename, describe, or set/clear the (registered) type and queue
 *   DELETE /workflows/:id          delete it and its executions (204)
 */
import { createFunctionApp, queryObject, readJsonBody } from "../../../shared/http/app.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import {
  createWorkflowSchema,
  idParamSchema,
  listWorkflowsSchema,
  parseInput,
  registerWorkflowTypeSchema,
  updateWorkflowSchema,
  workflowTypeKeySchema,
} from "../../../shared/schemas.ts";
import type { Caller } from "../../../shared/types.ts";
import { createWorkflowService } from "../../../shared/workflows.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("workflows", runtime);
  const service = (caller: Caller) => createWorkflowService({ sql: runtime.sql, caller });

  app.post("/", async (c) => {
    const input = parseInput(createWorkflowSchema, await readJsonBody(c));
    return c.json(await service(c.var.caller).createWorkflow(input), 201);
  });
  app.get("/", async (c) => {
    const filter = parseInput(listWorkflowsSchema, queryObject(c), "query");
    return c.json(await service(c.var.caller).listWorkflows(filter), 200);
  });

  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "workflows" }), 200)); // this function's part of the API document
  // Before /:id, which would otherwise take "types" as an id.
  app.get("/types", async (c) => c.json(await service(c.var.caller).listWorkflowTypes(), 200));
  app.post("/types", async (c) => {
    const input = parseInput(registerWorkflowTypeSchema, await readJsonBody(c));
    const { type, created } = await service(c.var.caller).registerWorkflowType(input);
    return c.json(type, created ? 201 : 200);
  });
  app.delete("/types", async (c) => {
    const { workflowType, taskQueue } = parseInput(workflowTypeKeySchema, queryObject(c), "query");
    return c.json(await service(c.var.caller).unregisterWorkflowType(workflowType, taskQueue), 200);
  });

  app.get("/:id", async (c) => {
    const { id } = parseInput(idParamSchema, { id: c.req.param("id") }, "workflow id");
    return c.json(await service(c.var.caller).getWorkflow(id), 200);
  });
  app.patch("/:id", async (c) => {
    const { id } = parseInput(idParamSchema, { id: c.req.param("id") }, "workflow id");
    const patch = parseInput(updateWorkflowSchema, await readJsonBody(c));
    return c.json(await service(c.var.caller).updateWorkflow(id, patch), 200);
  });
  app.delete("/:id", async (c) => {
    const { id } = parseInput(idParamSchema, { id: c.req.param("id") }, "workflow id");
    await service(c.var.caller).deleteWorkflow(id);
    return c.body(null, 204);
  });
  return app;
}
