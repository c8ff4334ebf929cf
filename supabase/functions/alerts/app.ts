/**
 * /alerts: the caller's failure-alert endpoints and their delivery log (docs/architecture.md §5.5).
 *   POST   /alerts/endpoints                    create (201; the only answer besides rotate with the secret)
 *   GET    /alerts/endpoints                    the caller's endpoints ({data})
 *   GET    /alerts/endpoints/:id                one (404 when not the caller's)
 *   PATCH  /alerts/endpoints/:id                change url, description, workflowId, statuses, enabled
 *   DELETE /alerts/endpoints/:id                delete it and its log (204)
 *   POST   /alerts/endpoints/:id/rotate-secret  a new secret (200, shown once)
 *   GET    /alerts/deliveries?endpointId=&status=&cursor=&limit=   the log, newest first, keyset-paginated
 */
import { createAlertService } from "../../../shared/alerts/service.ts";
import * as s from "../../../shared/alerts/schemas.ts";
import { createFunctionApp, queryObject, readJsonBody } from "../../../shared/http/app.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { idParamSchema, parseInput } from "../../../shared/schemas.ts";
import type { Caller } from "../../../shared/types.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("alerts", runtime);
  const service = (caller: Caller) =>
    createAlertService({ sql: runtime.sql, caller, allowPrivateUrls: runtime.config.alertsAllowPrivateUrls ?? false });
  const endpointId = (id: string | undefined) => parseInput(idParamSchema, { id }, "alert endpoint id").id;

  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "alerts" }), 200)); // this function's part of the API document
  app.post("/endpoints", async (c) => {
    const input = parseInput(s.createAlertEndpointSchema, await readJsonBody(c));
    return c.json(await service(c.var.caller).createEndpoint(input), 201);
  });
  app.get("/endpoints", async (c) => {
    parseInput(s.listAlertEndpointsSchema, queryObject(c), "query");
    return c.json(await service(c.var.caller).listEndpoints(), 200);
  });
  app.get("/endpoints/:id", async (c) => c.json(await service(c.var.caller).getEndpoint(endpointId(c.req.param("id"))), 200));
  app.patch("/endpoints/:id", async (c) => {
    const id = endpointId(c.req.param("id"));
    const patch = parseInput(s.updateAlertEndpointSchema, await readJsonBody(c));
    return c.json(await service(c.var.caller).updateEndpoint(id, patch), 200);
  });
  app.delete("/endpoints/:id", async (c) => {
    await service(c.var.caller).deleteEndpoint(endpointId(c.req.param("id")));
    return c.body(null, 204);
  });
  app.post("/endpoints/:id/rotate-secret", async (c) => c.json(await service(c.var.caller).rotateSecret(endpointId(c.req.param("id"))), 200));
  app.get("/deliveries", async (c) => {
    const filter = parseInput(s.listAlertDeliveriesSchema, queryObject(c), "query");
    return c.json(await service(c.var.caller).listDeliveries(filter), 200);
  });
  return app;
}
