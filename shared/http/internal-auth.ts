/**
 * Authentication of internal callers (database webhooks, pg_cron): the shared secret in
 * `x-webhook-secret`, compared in constant time, or a service-role JWT. Anything else: 401.
 */
import type { MiddlewareHandler } from "hono";
import { UnauthorizedError } from "../errors.ts";
import type { FunctionEnv } from "./app.ts";
import type { Runtime } from "./runtime.ts";

export function requireInternalCaller(runtime: Runtime): MiddlewareHandler<FunctionEnv> {
  return async (c, next) => {
    const secret = c.req.header("x-webhook-secret");
    if (secret !== undefined) {
      if (!runtime.config.webhookSecret || !(await sameSecret(secret, runtime.config.webhookSecret))) {
        throw new UnauthorizedError("invalid webhook secret");
      }
      return await next();
    }
    const caller = await runtime.verifyCaller(c.req.header("authorization"));
    if (caller.role !== "service_role") throw new UnauthorizedError("only the service role or the webhook secret may call this");
    c.set("caller", caller); // for the request log
    await next();
  };
}

/** Constant-time comparison: both sides are hashed first, so neither length nor content leaks through timing. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const digest = async (text: string) => new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
