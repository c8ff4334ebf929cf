/**
 * `npm start` plugin, the stand-in for Supabase Auth's sign-up: Supabase Auth creates the
 * auth.users row of a user when they sign up; here any valid token of a signed-in user creates
 * its row on first sight, so workflows and executions can reference it. Invalid tokens pass
 * through untouched: the function answers 401 itself.
 */
import type { Runtime } from "../../shared/http/runtime.ts";
import type { Caller } from "../../shared/types.ts";
import type { DevServerPlugin, FetchHandler } from "../dev-server/types.ts";

export function withUserProvisioning(handler: FetchHandler, runtime: Pick<Runtime, "sql" | "verifyCaller" | "log">): FetchHandler {
  const known = new Set<string>();
  return async (request) => {
    const authorization = request.headers.get("authorization");
    if (authorization && new URL(request.url).pathname.startsWith("/functions/")) {
      let caller: Caller | null = null;
      try {
        caller = await runtime.verifyCaller(authorization);
      } catch {
        // not ours to answer
      }
      if (caller?.role === "authenticated" && !known.has(caller.userId)) {
        const email = typeof caller.claims.email === "string" && caller.claims.email ? caller.claims.email : null;
        try {
          await runtime.sql`insert into auth.users (id, email, role) values (${caller.userId}, ${email}, 'authenticated')
                            on conflict (id) do nothing`;
          known.add(caller.userId);
        } catch (error) {
          runtime.log(`could not provision auth.users row for ${caller.userId}`, error);
        }
      }
    }
    return handler(request);
  };
}

export const userProvisioningPlugin: DevServerPlugin = {
  name: "user-provisioning",
  start: (ctx) => ({ middleware: (next) => withUserProvisioning(next, ctx.runtime) }),
};
