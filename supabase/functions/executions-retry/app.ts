/**
 * POST /executions-retry/:id: a new execution retrying `id` (shared/retry.ts), dispatched to
 * Temporal: 201 running; 202 pending when Temporal is unreachable; 200 the retry a repeated
 * requestId (or Idempotency-Key) made before; 404 when the caller cannot see `id`; 409
 * not_retryable when the tracker cannot start its workflow. The body is optional.
 */
import type { Context } from "hono";
import { createFunctionApp, readJsonBody } from "../../../shared/http/app.ts";
import { openApiDocument } from "../../../shared/openapi/document.ts";
import type { Runtime } from "../../../shared/http/runtime.ts";
import { retryExecution } from "../../../shared/retry.ts";
import { requestIdOf, retryExecutionSchema } from "../../../shared/retry-schemas.ts";
import { idParamSchema, parseInput } from "../../../shared/schemas.ts";

const statusOf = { created: 201, existing: 200, queued: 202 } as const;

/** No body at all (a bare POST) is an empty one; anything sent must be JSON. */
const hasBody = (c: Context) =>
  c.req.header("content-type") !== undefined || c.req.header("transfer-encoding") !== undefined ||
  Number(c.req.header("content-length") ?? 0) > 0;

export function createApp(runtime: Runtime) {
  const app = createFunctionApp("executions-retry", runtime);
  app.get("/openapi.json", (c) => c.json(openApiDocument({ only: "executions-retry" }), 200)); // this function's part of the API document
  app.post("/:id", async (c) => {
    const { id } = parseInput(idParamSchema, { id: c.req.param("id") }, "execution id");
    const body = parseInput(retryExecutionSchema, hasBody(c) ? await readJsonBody(c) : {});
    const requestId = requestIdOf(body, c.req.header("idempotency-key"));
    const deps = { sql: runtime.sql, caller: c.var.caller, temporal: runtime.temporal, log: runtime.log };
    const result = await retryExecution(deps, id, { input: body.input, requestId });
    const answer = result.message ? { ...result.execution, message: result.message } : result.execution;
    return c.json(answer, statusOf[result.outcome]);
  });
  return app;
}
