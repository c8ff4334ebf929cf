/**
 * The dev server's plugin model (`npm start`, local/dev-server.ts). Every stand-in for a part
 * of a Supabase project is a plugin: the Temporal dev server, user provisioning (Supabase
 * Auth's auth.users rows), the dashboard, the pg_net worker, the database webhooks' Vault
 * secrets, the sweeper's schedule (pg_cron). This module holds only types, so plugins and the
 * server import it and nothing imports in a circle; the list `npm start` runs is
 * local/dev-server-plugins.ts.
 *
 * A plugin's life:
 *  1. `configure(ctx)`: after the settings are validated and DATA_DIR is locked, before the
 *     database starts. Start outside services, hand settings to the functions' configuration
 *     (`env`), add banner lines, a stop (run last at shutdown) and a /health part.
 *  2. `start(ctx)`: after the migrations and the seed, before /health reports ready. Start
 *     workers and intervals, wrap the request handler (`middleware`), return their stop and a
 *     /health part.
 * Plugins run in list order; middleware of an earlier plugin sees a request first; stops run
 * in reverse order.
 */
import type { Config, EnvSource } from "../../shared/config.ts";
import type { Runtime } from "../../shared/http/runtime.ts";
import type { ListenFn } from "../pg-net-worker.ts";
import type { DataDir } from "./data-dir.ts";
import type { DevSettings } from "./settings.ts";

export type { ListenFn };
export type FetchHandler = (request: Request) => Response | Promise<Response>;
export type Stop = () => void | Promise<void>;
export type Print = (line: string) => void;

/** One part of GET /health. `up`: working; `down`: failing (`error` says why); `off`: not run here (`reason`). */
export type HealthPart = { status: "up" | "down" | "off"; [field: string]: unknown };
export type HealthProbe = () => HealthPart | Promise<HealthPart>;

export interface ConfigureContext {
  /** The raw environment (settings of other programs, e.g. ET_CACHE_DIR, HOME). */
  env: EnvSource;
  /** Every dev-server setting, validated. */
  settings: DevSettings;
  /** The data folder's layout and lock (locked by this process). */
  dataDir: DataDir;
  print: Print;
}

export interface PluginSetup {
  /** Settings for the functions' configuration (shared/config.ts), e.g. TEMPORAL_HTTP_URL. */
  env?: Record<string, string>;
  /** Lines added to the start-up banner, e.g. "Temporal    ...". */
  banner?: string[];
  /** Called at shutdown, after the HTTP server and the database are closed. */
  stop?: Stop;
  /** Its part of GET /health, under the plugin's `healthKey` (default: its name). */
  health?: HealthProbe;
}

export interface DevServerContext {
  /** The functions' runtime: config, the database pool, verifier, Temporal gateway, log. */
  runtime: Runtime;
  config: Config;
  settings: DevSettings;
  /**
   * The server's request handler, in-process (no network): /health and /functions/v1/<name>,
   * the functions already served during `start`, through every plugin's middleware.
   */
  handler: FetchHandler;
  /** Base URL of the server, e.g. http://127.0.0.1:54321. */
  url: string;
  /**
   * The database. Use `runtime.sql`: with the embedded database, never open another pool
   * to `database.url` (see local/embedded-postgres.ts).
   */
  database: {
    kind: "embedded" | "external";
    url: string;
    /** Subscribes to a channel (LISTEN), working for both kinds of database. */
    listen: ListenFn;
  };
  /** Resolves once /health answers 200 (the functions answer). */
  ready: Promise<void>;
  /** A service_role key signed with the server's secret. */
  serviceToken(expiresInSeconds?: number): Promise<string>;
  /** A signed-in user's access token signed with the server's secret. */
  userToken(userId: string, expiresInSeconds?: number, email?: string): Promise<string>;
  log(message: string, error?: unknown): void;
  print: Print;
  /** Aborted when shutdown begins. */
  signal: AbortSignal;
}

export interface PluginStarted {
  stop?: Stop;
  /** Wraps the request handler (functions and everything after it). */
  middleware?: (next: FetchHandler) => FetchHandler | Promise<FetchHandler>;
  /** Its part of GET /health. */
  health?: HealthProbe;
  banner?: string[];
}

export interface DevServerPlugin {
  name: string;
  /** The key of its part in GET /health (default: `name`). */
  healthKey?: string;
  /** True when it will keep something in DATA_DIR (then DATA_DIR is locked even with DATABASE_URL). */
  usesDataDir?(ctx: Pick<ConfigureContext, "env" | "settings">): boolean;
  configure?(ctx: ConfigureContext): Promise<PluginSetup | void> | PluginSetup | void;
  start?(ctx: DevServerContext): Promise<PluginStarted | Stop | void> | PluginStarted | Stop | void;
}
