/**
 * `npm start` plugin: the dashboard (dashboard/serve.ts, built when stale) at `/`, in front of
 * the functions, with the demo user's token offered on its sign-in page when the demo is seeded.
 */
import { withDashboard } from "../../dashboard/serve.ts";
import { DEMO_USER_EMAIL, DEMO_USER_ID } from "../dev-server/seed.ts";
import type { DevServerPlugin } from "../dev-server/types.ts";

/** Lifetime of the demo token offered on the sign-in page. */
const DEMO_TOKEN_LIFETIME_SECONDS = 24 * 3600;

export const dashboardPlugin: DevServerPlugin = {
  name: "dashboard",
  start: (ctx) => ({
    middleware: (next) =>
      withDashboard(next, {
        demoToken: ctx.settings.seedDemo ? () => ctx.userToken(DEMO_USER_ID, DEMO_TOKEN_LIFETIME_SECONDS, DEMO_USER_EMAIL) : undefined,
        temporalUiUrl: ctx.settings.temporalUiUrl ?? undefined,
        temporalNamespace: ctx.config.temporalNamespace,
        print: ctx.print,
      }),
    banner: [`Dashboard   ${ctx.url}/`],
  }),
};
