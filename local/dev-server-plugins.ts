/**
 * Extension points of the local dev server (`npm start`, local/dev-server.ts), and the list of
 * plugins it runs. Add a plugin to `devServerPlugins` to make the dev server do more, e.g.:
 *
 *  - start a Temporal dev server: `configure` starts it and returns
 *    `{ env: { TEMPORAL_HTTP_URL: ... }, stop }`; the functions then dispatch to it.
 *  - run the timeout sweeper on an interval (pg_cron does it on Supabase; the embedded database
 *    has no pg_cron): `start` sets an interval that calls
 *    `ctx.handler(new Request(ctx.url + "/functions/v1/timeout-sweeper", { method: "POST",
 *    headers: { authorization: "Bearer " + await ctx.serviceToken() } }))` or shared/sweeper.ts
 *    with `ctx.runtime`, and returns a function that clears it.
 *
 * Plugins run in list order; their stops run in reverse order at shutdown.
 */
import type { EnvSource } from "../shared/config.ts";
import type { Runtime } from "../shared/http/runtime.ts";
import { databaseWebhooksPlugin } from "./plugins/database-webhooks.ts";
import { sweeperIntervalPlugin } from "./plugins/sweeper-interval.ts";
import { temporalDevServerPlugin } from "./plugins/temporal-dev-server.ts";

export type FetchHandler = (request: Request) => Response | Promise<Response>;
export type Stop = () => void | Promise<void>;

export interface DevServerPluginSetup {
  /** Environment overrides for the configuration (shared/config.ts), e.g. TEMPORAL_HTTP_URL. */
  env?: Record<string, string>;
  /** Lines added to the start-up banner, e.g. "Temporal UI  http://127.0.0.1:8233". */
  banner?: string[];
  /** Called at shutdown, after the HTTP server and the database are closed. */
  stop?: Stop;
}

export interface DevServerContext {
  /** The functions' runtime: config, the database pool, verifier, Temporal gateway, log. */
  runtime: Runtime;
  /**
   * The server's request handler, in-process (no network): /health and /functions/v1/<name>,
   * the functions already served during `start`. Requests go through the same auth.users
   * provisioning as HTTP ones.
   */
  handler: FetchHandler;
  /** Base URL of the server, e.g. http://127.0.0.1:54321. */
  url: string;
  /**
   * The database. Use `runtime.sql`: with the embedded database, never open another pool
   * to `database.url` (see local/embedded-postgres.ts).
   */
  database: { kind: "embedded" | "external"; url: string };
  /** A service_role key signed with the server's secret. */
  serviceToken(expiresInSeconds?: number): Promise<string>;
  /** A signed-in user's access token signed with the server's secret. */
  userToken(userId: string, expiresInSeconds?: number): Promise<string>;
  log(message: string, error?: unknown): void;
  /** Aborted when shutdown begins. */
  signal: AbortSignal;
}

export interface DevServerPlugin {
  name: string;
  /** Before the configuration is read and the database starts: start outside services, return env overrides. */
  configure?(env: EnvSource): Promise<DevServerPluginSetup | void> | DevServerPluginSetup | void;
  /** After the migrations, before /health reports ready: start intervals or workers; return their stop. */
  start?(ctx: DevServerContext): Promise<Stop | void> | Stop | void;
}

/** The plugins `npm start` runs. */
export const devServerPlugins: DevServerPlugin[] = [temporalDevServerPlugin, databaseWebhooksPlugin, sweeperIntervalPlugin];
