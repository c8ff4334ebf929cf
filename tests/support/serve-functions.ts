/**
 * Deno entry of the end-to-end tests' functions server (spawned by functions-server.ts):
 * every edge function under /functions/v1/<name>, exactly as `local/functions-router.ts`
 * routes them, with the runtime built from the environment (DATABASE_URL,
 * SUPABASE_JWT_SECRET, SUPABASE_JWKS_URL, ...). GET /health answers once the database does.
 * Exits when its stdin closes, so it never outlives the test process that spawned it.
 *
 *   PORT=8787 DATABASE_URL=... SUPABASE_JWT_SECRET=... deno run -A --config deno.json tests/support/serve-functions.ts
 */
import { createFunctionsRouter } from "../../local/functions-router.ts";
import { runtimeFromEnv } from "../../shared/http/runtime.ts";

// The few Deno APIs used here, typed locally so this file also passes `tsc` (Node types).
interface DenoApi {
  env: { get(name: string): string | undefined };
  serve(
    options: { port: number; hostname: string; onListen?: (address: { port: number }) => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { finished: Promise<void>; shutdown(): Promise<void> };
  stdin: { readable: ReadableStream<Uint8Array> };
  exit(code?: number): never;
}
const deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

const runtime = runtimeFromEnv();
const router = createFunctionsRouter(runtime);
const port = Number(deno.env.get("PORT") ?? "8787");

const server = deno.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
  if (new URL(request.url).pathname === "/health") {
    await runtime.sql`select 1`;
    return new Response("ok");
  }
  return router(request);
});

// Parent gone (stdin at EOF): stop.
(async () => {
  try {
    const reader = deno.stdin.readable.getReader();
    while (!(await reader.read()).done) { /* nothing is sent; wait for EOF */ }
  } finally {
    await server.shutdown().catch(() => {});
    await runtime.sql.end({ timeout: 1 }).catch(() => {});
    deno.exit(0);
  }
})();
