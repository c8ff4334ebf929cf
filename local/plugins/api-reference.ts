/**
 * `npm start` plugin: the OpenAPI document at /openapi.json and an interactive reference page
 * at /api (shared/openapi/reference.ts), in front of the functions.
 */
import { withApiReference } from "../../shared/openapi/reference.ts";
import type { DevServerPlugin } from "../dev-server/types.ts";

export const apiReferencePlugin: DevServerPlugin = {
  name: "api-reference",
  start: (ctx) => ({
    middleware: (next) => withApiReference(next),
    banner: [`API         ${ctx.url}/api (OpenAPI document: ${ctx.url}/openapi.json)`],
  }),
};
