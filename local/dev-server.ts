/**
 * `npm start`: a local stand-in for a Supabase project running execution-tracker (Deno).
 *
 *   PORT                  HTTP port (default 54321, Supabase's API port; 0 = any free port)
 *   HOST                  bind address (default 127.0.0.1)
 *   DATABASE_URL          a Postgres to use (SUPABASE_DB_URL wins, as in shared/config.ts);
 *                         unset: an embedded PGlite database kept in DATA_DIR
 *   DATA_DIR              folder of the embedded database (default .data/pglite, gitignored)
 *   SUPABASE_JWT_SECRET   HS256 secret of the tokens (default: LOCAL_JWT_SECRET, the Supabase
 *                         CLI's local secret; `npm run token` uses the same default)
 *   SEED_DEMO             "false" skips seeding the demo user and workflow (default true)
 *   PG_NET_POLL_MS        period of the pg_net queue sweep (default 2000; 0 = notifications only)
 *   STOP_ON_STDIN_EOF     "1": shut down when stdin closes (for supervisors and tests)
 *   ...and everything shared/config.ts reads (TEMPORAL_HTTP_URL, WEBHOOK_SECRET, ...).
 *
 * Start-up: listen at once (GET /health answers 503 until ready); start the database; apply
 * local/platform-bootstrap.sql and the pending supabase/migrations (local/migrate.ts, recorded
 * like the Supabase CLI); seed the demo user and workflow; build the functions' runtime and
 * serve every function at /functions/v1/<name> (local/functions-router.ts) behind the
 * auth.users provisioning that stands in for Supabase Auth; start the pg_net stand-in worker
 * (local/pg-net-worker.ts); run the plugins (local/dev-server-plugins.ts); /health turns 200
 * and the banner is printed. SIGINT/SIGTERM: graceful shutdown in reverse order.
 *
 * `startDevServer` is exported for tools and tests that want a server in their own process.
 */
import postgres from "postgres";
import { ConfigError, type Config, type EnvSource, loadConfig, processEnv } from "../shared/config.ts";
import { createDatabase, type Sql } from "../shared/db.ts";
import { createRuntime, type Runtime } from "../shared/http/runtime.ts";
import type { Caller } from "../shared/types.ts";
import {
  type DevServerContext,
  type DevServerPlugin,
  type DevServerPluginSetup,
  devServerPlugins,
  type FetchHandler,
  type Stop,
} from "./dev-server-plugins.ts";
import { withDashboard } from "../dashboard/serve.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "./embedded-postgres.ts";
import { createFunctionsRouter, functionFactories } from "./functions-router.ts";
import { migrate, type MigrateResult } from "./migrate.ts";
import { LOCAL_JWT_SECRET, mintToken } from "./mint-token.ts";
import { hasPgNetStandIn, type ListenFn, type PgNetWorker, startPgNetWorker } from "./pg-net-worker.ts";

export type { DevServerContext, DevServerPlugin } from "./dev-server-plugins.ts";

export const DEFAULT_PORT = 54321;
export const DEFAULT_DATA_DIR = ".data/pglite";
/** The demo user and workflow seeded on start, used by the printed curl example. */
export const DEMO_USER_ID = "11111111-1111-4111-8111-111111111111";
export const DEMO_WORKFLOW_ID = "22222222-2222-4222-8222-222222222222";
/** A demo workflow the tracker dispatches to Temporal (type demoWorkflow on DEMO_TASK_QUEUE). */
export const DEMO_DISPATCHED_WORKFLOW_ID = "33333333-3333-4333-8333-333333333333";
export const DEMO_TASK_QUEUE = "execution-tracker-demo";
const DEMO_USER_EMAIL = "demo@local.test";
/** Lifetime of the demo token printed in the banner. */
const DEMO_TOKEN_LIFETIME_SECONDS = 24 * 3600;

export interface DevServerOptions {
  /** Where settings are read (default: the process environment). */
  env?: EnvSource;
  /** Default: devServerPlugins. */
  plugins?: DevServerPlugin[];
  /** Status lines (default console.log). */
  print?: (line: string) => void;
}

export interface DevServer {
  /** http://<host>:<port> */
  url: string;
  port: number;
  database: { kind: "embedded" | "external"; url: string; dataDir: string | null };
  runtime: Runtime;
  /** The whole request handler (health + provisioning + functions), in-process. */
  handler: FetchHandler;
  migrations: MigrateResult;
  /** The start-up banner (URLs, tokens, curl example). */
  banner: string;
  /** Milliseconds from the call to ready, and of the database and migration phases. */
  timings: { totalMs: number; databaseMs: number; migrationsMs: number };
  stop(): Promise<void>;
}

interface DevDatabase {
  kind: "embedded" | "external";
  url: string;
  dataDir: string | null;
  /** The pool every part of the server shares. */
  sql: Sql;
  listen: ListenFn;
  close(): Promise<void>;
}

type State = "starting" | "ready" | "stopping";

/** Starts everything; resolves once /health answers 200. On failure everything started is stopped again. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const started = performance.now();
  const env = options.env ?? processEnv;
  const print = options.print ?? ((line: string) => console.log(line));
  const plugins = options.plugins ?? devServerPlugins;
  const read = (name: string) => env(name)?.trim() || undefined;
  const abort = new AbortController();
  let state: State = "starting";
  // Resolved when /health turns 200: the pg_net stand-in delivers only from then on.
  let markHandlersReady = () => {};
  const handlersReady = new Promise<void>((resolve) => (markHandlersReady = resolve));
  let app: FetchHandler | null = null;

  // What to stop, in this order: the plugins' workers (they may still call the functions), the
  // pg_net worker (its requests in flight may target this server), the HTTP server (in-flight
  // requests end), the database, then the services the plugins started before everything.
  const stops = { plugins: [] as Stop[], worker: null as Stop | null, http: null as Stop | null, db: null as Stop | null, services: [] as Stop[] };
  const stopAll = async () => {
    abort.abort();
    const phases: Stop[] = [
      ...stops.plugins.splice(0).reverse(),
      ...(stops.worker ? [stops.worker] : []),
      () => void (state = "stopping"),
      ...(stops.http ? [stops.http] : []),
      ...(stops.db ? [stops.db] : []),
      ...stops.services.splice(0).reverse(),
    ];
    stops.worker = stops.http = stops.db = null;
    for (const stop of phases) {
      try {
        await stop();
      } catch (error) {
        console.error("[dev-server] error during shutdown:", error);
      }
    }
  };

  try {
    // Plugins may start outside services first and hand their settings to the configuration.
    const overrides: Record<string, string> = {};
    const pluginBanner: string[] = [];
    for (const plugin of plugins) {
      const setup: DevServerPluginSetup = (await plugin.configure?.(env)) ?? {};
      Object.assign(overrides, setup.env ?? {});
      pluginBanner.push(...(setup.banner ?? []));
      if (setup.stop) stops.services.push(setup.stop);
    }
    const setting = (name: string) => overrides[name]?.trim() || read(name);

    const port = parsePort(setting("PORT"));
    const host = setting("HOST") ?? "127.0.0.1";
    const externalUrl = setting("SUPABASE_DB_URL") ?? setting("DATABASE_URL");
    const dataDir = setting("DATA_DIR") ?? DEFAULT_DATA_DIR;
    const jwtSecret = setting("SUPABASE_JWT_SECRET") ?? setting("JWT_SECRET") ?? LOCAL_JWT_SECRET;
    const seedDemo = !/^(0|false|no|off)$/i.test(setting("SEED_DEMO") ?? "true");
    const pollIntervalMs = Number(setting("PG_NET_POLL_MS") ?? 2000);

    // Validate the whole configuration before starting anything heavy.
    const configEnv = (databaseUrl: string, poolSize?: string): EnvSource => (name) =>
      ({ SUPABASE_DB_URL: databaseUrl, DATABASE_URL: databaseUrl, SUPABASE_JWT_SECRET: jwtSecret, DB_POOL_SIZE: poolSize })[name] ??
        setting(name);
    let config: Config = loadConfig(configEnv(externalUrl ?? "postgres://embedded", externalUrl ? undefined : "1"));

    // Listen at once: /health says 503 while starting, and a busy port fails fast.
    const handler: FetchHandler = (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/health" || pathname === "/health/") {
        return state === "ready"
          ? Response.json({ status: "ok" })
          : Response.json({ status: state }, { status: 503, headers: { "retry-after": "1" } });
      }
      if (state !== "ready" || !app) {
        return Response.json({ error: { code: "unavailable", message: `the dev server is ${state}` } }, { status: 503 });
      }
      return app(withoutServerSignal(request));
    };
    const httpServer = serve(host, port, handler);
    stops.http = () => withTimeout(httpServer.shutdown(), 5000);
    const boundPort = httpServer.addr.port;
    const url = `http://${displayHost(host)}:${boundPort}`;
    print(`[dev-server] starting on ${url} ...`);

    // Database.
    const databaseStarted = performance.now();
    const db = externalUrl ? openExternalDatabase(externalUrl, config.databasePoolSize) : await openEmbeddedDatabase(dataDir);
    stops.db = () => db.close();
    if (db.kind === "embedded") config = { ...config, databaseUrl: db.url, databasePoolSize: 1 };
    const databaseMs = performance.now() - databaseStarted;

    const migrationsStarted = performance.now();
    const migrations = await migrate(db.sql, { log: (message) => print(`[dev-server] ${message}`) });
    const migrationsMs = performance.now() - migrationsStarted;
    if (seedDemo) await seedDemoData(db.sql);

    // The functions, behind the stand-in for Supabase Auth's auth.users rows.
    const runtime = createRuntime(config, { sql: db.sql });
    // The dashboard (dashboard/serve.ts: built when stale) at /, in front of the functions.
    app = await withDashboard(withUserProvisioning(createFunctionsRouter(runtime), runtime), {
      demoToken: seedDemo ? () => userToken(DEMO_USER_ID, DEMO_TOKEN_LIFETIME_SECONDS, DEMO_USER_EMAIL) : undefined,
      temporalUiUrl: setting("TEMPORAL_UI_URL"),
      temporalNamespace: config.temporalNamespace,
      print,
    });

    let worker: PgNetWorker | null = null;
    if (await hasPgNetStandIn(db.sql)) {
      worker = await startPgNetWorker({
        sql: db.sql,
        // Nothing is sent to a server still answering 503: what was queued meanwhile waits.
        ready: handlersReady,
        listen: db.listen,
        pollIntervalMs: Number.isFinite(pollIntervalMs) && pollIntervalMs >= 0 ? pollIntervalMs : 2000,
        log: (message, error) => runtime.log(`pg_net stand-in: ${message}`, error),
      });
      const running = worker;
      stops.worker = () => running.stop();
    }

    const userToken = (userId: string, expiresInSeconds?: number, email?: string) =>
      mintToken({ userId, email, expiresInSeconds, secret: jwtSecret });
    // For plugins: the same routes, already served while the server is still starting.
    const appHandler = app;
    const inProcess: FetchHandler = (request) =>
      new URL(request.url).pathname.startsWith("/functions/") ? appHandler(request) : handler(request);
    const context: DevServerContext = {
      runtime,
      handler: inProcess,
      url,
      database: { kind: db.kind, url: db.url },
      serviceToken: (expiresInSeconds) => mintToken({ service: true, expiresInSeconds, secret: jwtSecret }),
      userToken: (userId, expiresInSeconds) => userToken(userId, expiresInSeconds),
      log: runtime.log,
      signal: abort.signal,
    };
    for (const plugin of plugins) {
      const stop = await plugin.start?.(context);
      if (stop) stops.plugins.push(stop);
    }

    const demoToken = seedDemo ? await userToken(DEMO_USER_ID, DEMO_TOKEN_LIFETIME_SECONDS, DEMO_USER_EMAIL) : null;
    const timings = { totalMs: performance.now() - started, databaseMs, migrationsMs };
    const banner = renderBanner({
      url,
      db,
      config,
      jwtSecretIsDefault: jwtSecret === LOCAL_JWT_SECRET,
      migrations,
      worker: worker !== null,
      demoToken,
      timings,
      pluginBanner,
    });
    state = "ready";
    markHandlersReady();

    let stopping: Promise<void> | undefined;
    return {
      url,
      port: boundPort,
      database: { kind: db.kind, url: db.url, dataDir: db.dataDir },
      runtime,
      handler,
      migrations,
      banner,
      timings,
      stop: () =>
        (stopping ??= (async () => {
          await stopAll();
        })()),
    };
  } catch (error) {
    state = "stopping";
    await stopAll();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------------------------

function openExternalDatabase(url: string, poolSize: number): DevDatabase {
  const sql = createDatabase({ url, poolSize });
  return {
    kind: "external",
    url,
    dataDir: null,
    sql,
    listen: async (channel, onNotify, onListen) => {
      // A dedicated connection; postgres.js listens again after a reconnect (and calls onListen).
      const { unlisten } = await sql.listen(channel, onNotify, onListen);
      return unlisten;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

async function openEmbeddedDatabase(dataDir: string): Promise<DevDatabase> {
  const embedded: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir });
  const listeners = new Map<string, Set<(payload: string) => void>>();
  const dispatch = (channel: string, payload: string) => {
    for (const listener of listeners.get(channel) ?? []) listener(payload);
  };
  // One connection for everything (see local/embedded-postgres.ts), never recycled. The
  // notifications our own commits raise arrive on it: `onnotify` (missing from postgres.js's
  // types) hands them to the listeners.
  const poolOptions = {
    max: 1,
    prepare: false,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 10,
    onnotice: () => {},
    onnotify: dispatch,
    connection: { application_name: "execution-tracker-dev" },
  };
  const sql = postgres(embedded.url, poolOptions as postgres.Options<Record<string, postgres.PostgresType>>);
  return {
    kind: "embedded",
    url: embedded.url,
    dataDir: embedded.dataDir,
    sql,
    listen: async (channel, onNotify, onListen) => {
      let set = listeners.get(channel);
      if (!set) listeners.set(channel, (set = new Set()));
      set.add(onNotify);
      // LISTEN in the single session; the callback gets notifications of in-process queries.
      const unlisten = await embedded.listen(channel, (payload) => dispatch(channel, payload));
      onListen();
      return async () => {
        set.delete(onNotify);
        await unlisten();
      };
    },
    close: async () => {
      await sql.end({ timeout: 5 }).catch(() => {});
      await embedded.stop();
    },
  };
}

/** The demo user and workflow of the printed curl example; idempotent. */
async function seedDemoData(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`insert into auth.users (id, email, role) values (${DEMO_USER_ID}, ${DEMO_USER_EMAIL}, 'authenticated')
             on conflict (id) do nothing`;
    await tx`insert into public.workflows (id, name, description, created_by)
             values (${DEMO_WORKFLOW_ID}, 'demo-workflow', 'Seeded by the local dev server (npm start)', ${DEMO_USER_ID})
             on conflict (id) do nothing`;
    // The tracker starts runs of this one in Temporal (npm run demo-worker executes them);
    // only a registered (type, queue) pair can be named.
    await tx`insert into public.temporal_workflow_types (workflow_type, task_queue, description)
             values ('demoWorkflow', ${DEMO_TASK_QUEUE}, 'The demo worker (npm run demo-worker)')
             on conflict do nothing`;
    await tx`insert into public.workflows (id, name, description, created_by, temporal_workflow_type, task_queue)
             values (${DEMO_DISPATCHED_WORKFLOW_ID}, 'demo-dispatched', 'Started in Temporal by the tracker; run npm run demo-worker',
                     ${DEMO_USER_ID}, 'demoWorkflow', ${DEMO_TASK_QUEUE})
             on conflict (id) do nothing`;
  });
}

// ---------------------------------------------------------------------------------------------
// Supabase Auth stand-in
// ---------------------------------------------------------------------------------------------

/**
 * Supabase Auth creates auth.users rows at sign-up; here any valid token of a signed-in user
 * creates its row on first sight, so workflows and executions can reference it. Invalid
 * tokens pass through untouched: the function answers 401 itself.
 */
export function withUserProvisioning(handler: FetchHandler, runtime: Pick<Runtime, "sql" | "verifyCaller" | "log">): FetchHandler {
  const known = new Set<string>();
  return async (request) => {
    const authorization = request.headers.get("authorization");
    if (authorization) {
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

// ---------------------------------------------------------------------------------------------
// Banner
// ---------------------------------------------------------------------------------------------

interface BannerInput {
  url: string;
  db: DevDatabase;
  config: Config;
  jwtSecretIsDefault: boolean;
  migrations: MigrateResult;
  worker: boolean;
  demoToken: string | null;
  timings: DevServer["timings"];
  pluginBanner: string[];
}

function renderBanner(input: BannerInput): string {
  const { url, db, config, migrations } = input;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  const applied = migrations.applied.length
    ? `${migrations.applied.length} migration${migrations.applied.length === 1 ? "" : "s"} applied`
    : "migrations up to date";
  const lines = [
    "",
    `execution-tracker dev server ready in ${seconds(input.timings.totalMs)} (${db.kind === "embedded" ? `embedded PGlite up in ${seconds(input.timings.databaseMs)}; ` : ""}${applied}, ${migrations.alreadyApplied.length + migrations.applied.length} in total)`,
    "",
    `  Functions   ${url}/functions/v1/<name>`,
    `              ${Object.keys(functionFactories).join(", ")}`,
    `  Dashboard   ${url}/`,
    `  Health      ${url}/health`,
    db.kind === "embedded"
      ? `  Database    ${db.url}  (embedded PGlite in ${db.dataDir}; psql works, one client at a time)`
      : `  Database    ${redactPassword(db.url)}`,
    `  JWT secret  ${input.jwtSecretIsDefault ? "the local development default (SUPABASE_JWT_SECRET not set)" : "from SUPABASE_JWT_SECRET"}`,
    `  Temporal    ${config.temporalHttpUrl ? `${config.temporalHttpUrl} (namespace ${config.temporalNamespace})` : "not configured (TEMPORAL_HTTP_URL): runs are recorded, not dispatched"}`,
    `  pg_net      ${input.worker ? "stand-in worker sends what net.http_post queues" : "real extension (or none)"}`,
    ...input.pluginBanner.map((line) => `  ${line}`),
    "",
    "Tokens (HS256, signed with the server's secret):",
    "  npm run -s token -- --user <uuid>     a signed-in user's access token",
    "  npm run -s token -- --service         the service_role key",
  ];
  if (input.demoToken) {
    lines.push(
      "",
      `Try it: demo user ${DEMO_USER_ID} owns demo workflow ${DEMO_WORKFLOW_ID} (token valid 24 h)`,
      "",
      `  export TOKEN='${input.demoToken}'`,
      `  curl -s -X POST '${url}/functions/v1/executions-create' \\`,
      `    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\`,
      `    -d '{"workflowId":"${DEMO_WORKFLOW_ID}","temporalWorkflowId":"demo-run-1"}'`,
      `  curl -s '${url}/functions/v1/executions-list' -H "Authorization: Bearer $TOKEN"`,
    );
  }
  lines.push("", "Ctrl+C stops the server.", "");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/**
 * The request without Deno.serve's abort signal: the functions router copies requests, and
 * reading that signal makes Deno 2.9 print a warning about its legacy abort behaviour.
 */
function withoutServerSignal(request: Request): Request {
  const hasBody = request.body !== null && request.method !== "GET" && request.method !== "HEAD";
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: hasBody ? request.body : undefined,
    redirect: request.redirect,
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
}

function serve(hostname: string, port: number, handler: FetchHandler): Deno.HttpServer<Deno.NetAddr> {
  try {
    return Deno.serve({ hostname, port, onListen: () => {} }, handler);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(`port ${port} is in use (another dev server, or a Supabase stack?): set PORT`);
    }
    throw error;
  }
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PORT;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError([`PORT must be a port number, got "${text}"`]);
  return port;
}

function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return url;
  }
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let server: DevServer;
  try {
    server = await startDevServer();
  } catch (error) {
    console.error(`[dev-server] could not start: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
  console.log(server.banner);

  let requests = 0;
  const shutdown = async (reason: string) => {
    if (++requests > 1) {
      console.error(`[dev-server] ${reason} again: exiting without cleanup`);
      Deno.exit(130);
    }
    console.log(`[dev-server] ${reason}: shutting down`);
    const stopped = performance.now();
    await server.stop();
    console.log(`[dev-server] stopped in ${Math.round(performance.now() - stopped)} ms`);
    Deno.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => void shutdown(signal));
  }
  // For supervisors and tests: stop when the parent closes our stdin (or dies).
  if (/^(1|true|yes|on)$/i.test(Deno.env.get("STOP_ON_STDIN_EOF") ?? "")) {
    (async () => {
      const reader = Deno.stdin.readable.getReader();
      try {
        while (!(await reader.read()).done) { /* nothing is expected; wait for EOF */ }
      } catch { /* closed */ }
      await shutdown("stdin closed");
    })();
  }
}

if (import.meta.main) await main();
