/**
 * Serves every edge function under `/functions/v1/<name>/...`, as the Supabase API gateway
 * does: the prefix is stripped and the request goes to that function's handler. Used by the
 * local dev server (`npm start`) and the end-to-end tests, both on Deno.
 */
import { getPath } from "hono/utils/url";
import { REQUEST_ID_HEADER, requestIdOf } from "../shared/http/request-log.ts";
import type { Runtime } from "../shared/http/runtime.ts";
import { createApp as alerts } from "../supabase/functions/alerts/app.ts";
import { createApp as alertsDeliver } from "../supabase/functions/alerts-deliver/app.ts";
import { createApp as executionsBulk } from "../supabase/functions/executions-bulk/app.ts";
import { createApp as executionsCreate } from "../supabase/functions/executions-create/app.ts";
import { createApp as executionsList } from "../supabase/functions/executions-list/app.ts";
import { createApp as executionsRetry } from "../supabase/functions/executions-retry/app.ts";
import { createApp as executionsStats } from "../supabase/functions/executions-stats/app.ts";
import { createApp as executionsUpdate } from "../supabase/functions/executions-update/app.ts";
import { createApp as executionsWebhook } from "../supabase/functions/executions-webhook/app.ts";
import { createApp as timeoutSweeper } from "../supabase/functions/timeout-sweeper/app.ts";
import { createApp as workflows } from "../supabase/functions/workflows/app.ts";

type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Each function's handler factory, by function name. */
export const functionFactories: Record<string, (runtime: Runtime) => { fetch: FetchHandler }> = {
  "executions-create": executionsCreate,
  "executions-update": executionsUpdate,
  "executions-list": executionsList,
  "executions-stats": executionsStats,
  "executions-retry": executionsRetry,
  "executions-bulk": executionsBulk,
  "executions-webhook": executionsWebhook,
  "timeout-sweeper": timeoutSweeper,
  alerts,
  "alerts-deliver": alertsDeliver,
  workflows,
};

export function createFunctionsRouter(runtime: Runtime): FetchHandler {
  const handlers = new Map(Object.entries(functionFactories).map(([name, factory]) => [name, factory(runtime).fetch]));
  // The request goes to its function as is: each function app drops the `/functions/v1`
  // prefix itself (shared/http/app.ts functionPath), so no Request is copied (a copy costs
  // as much CPU as the routing, and its signal follows the original's).
  return (request) => {
    const path = getPath(request);
    const handler = path.startsWith(prefix) ? handlers.get(path.slice(prefix.length).split("/", 1)[0]) : undefined;
    if (!handler) {
      const requestId = requestIdOf(request.headers.get(REQUEST_ID_HEADER));
      return Response.json({ error: { code: "not_found", message: `no function at ${path}`, requestId } }, {
        status: 404,
        headers: { [REQUEST_ID_HEADER]: requestId },
      });
    }
    return handler(request);
  };
}

const prefix = "/functions/v1/";
