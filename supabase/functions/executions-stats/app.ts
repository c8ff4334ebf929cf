/**
 * GET /executions-stats: counts per status, success rate and durations for the caller's
 * executions (one workflow, a time range, or all), read from the stats views; with
 * `bucket=hour|day`, the same per UTC bucket of the range (a time series). With `tag=`,
 * `metadata.<key>=` or `retryOf=`, both are aggregated from the matching rows.
 */
import { createFunctionApp, queryObject } from "../../../shared/http/app.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { foldMetadataParams, parseInput, statsSchema, withTags } from "../../../shared/schemas.ts";

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-stats", runtime);
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "executions-stats" }), 200)); // this function's part of the API document
  app.get("/", async (c) => {
    const { bucket, ...query } = parseInput(statsSchema, foldMetadataParams(queryObject(c)), "query");
    const filter = withTags(query);
    if (bucket) return c.json(await c.var.service.getTimeSeries({ bucket, ...filter }), 200);
    return c.json(await c.var.service.getStats(filter), 200);
  });
  return app;
}
