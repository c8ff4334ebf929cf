/**
 * `npm start`: a local stand-in for a Supabase project running execution-tracker (Deno).
 *
 * Settings (all validated at start; one message names every problem, local/dev-server/settings.ts):
 *   PORT, HOST            where it listens (default 54321, Supabase's API port; 0 = any free port; 127.0.0.1)
 *   DATABASE_URL          a Postgres to use (SUPABASE_DB_URL wins, as in shared/config.ts);
 *                         unset: an embedded PGlite database in DATA_DIR
 *   DATA_DIR              everything the dev server keeps (default .data, gitignored): pglite/,
 *                         temporal.db, dev-server.lock; `npm run reset` deletes it
 *   SUPABASE_JWT_SECRET   HS256 secret of the tokens (default: LOCAL_JWT_SECRET, the Supabase
 *                         CLI's local secret; `npm run token` uses the same default)
 *   SEED_DEMO             false skips seeding the demo user and workflows (default true)
 *   PG_NET_POLL_MS        period of the pg_net queue sweep (default 2000; 0 = notifications only)
 *   SWEEP_INTERVAL_MS, SWEEP_RECHECK_SECONDS, LOCAL_WEBHOOKS, START_TEMPORAL, TEMPORAL_UI_URL: the plugins'
 *   LOG_LEVEL             error | warn | info (default) | debug: the JSON request lines on stdout
 *   STOP_ON_STDIN_EOF     true: shut down when stdin closes (for supervisors and tests)
 *   ...and everything shared/config.ts reads (TEMPORAL_HTTP_URL, WEBHOOK_SECRET, ...).
 *
 * Start-up: validate every setting; lock DATA_DIR when it is used (before anything starts:
 * local/dev-server/data-dir.ts); listen (GET /health answers 503 until ready); the plugins'
 * configure (the Temporal dev server); the database (local/dev-server/database.ts, with
 * progress while the embedded one is created); local/platform-bootstrap.sql and the pending
 * supabase/migrations (local/migrate.ts); the demo seed (local/dev-server/seed.ts); the
 * functions' runtime and router; the plugins' start (local/dev-server-plugins.ts: dashboard,
 * user provisioning, pg_net worker, webhooks, sweeper; their model in local/dev-server/types.ts);
 * /health turns 200 and the banner (local/dev-server/banner.ts) is printed. SIGINT/SIGTERM:
 * graceful shutdown in reverse order (local/dev-server/shutdown.ts).
 *
 * `startDevServer` is exported for tools and tests that want a server in their own process.
 */
import { type Config, ConfigError, type EnvSource, processEnv } from "../shared/config.ts";
import { createRuntime, type Runtime } from "../shared/http/runtime.ts";
import { createStructuredLogger, requestIdOf, requestLogLevel } from "../shared/http/request-log.ts";
import { renderBanner } from "./dev-server/banner.ts";
import { type DataDir, dataDirLayout as dataDirLayoutOf, lockDataDir } from "./dev-server/data-dir.ts";
import { type DevDatabase, openEmbeddedDatabase, openExternalDatabase } from "./dev-server/database.ts";
import { databaseProbe, healthResponse, type ServerState, temporalProbe } from "./dev-server/health.ts";
import { displayHost, forwardedRequest, serve, withRequestId } from "./dev-server/http.ts";
import { DEMO_USER_EMAIL, DEMO_USER_ID, seedDemoData } from "./dev-server/seed.ts";
import { describeConfigError, type DevSettings, loadDevSettings } from "./dev-server/settings.ts";
import { createShutdown, withTimeout } from "./dev-server/shutdown.ts";
import type { DevServerContext, DevServerPlugin, FetchHandler, HealthProbe, PluginStarted } from "./dev-server/types.ts";
import { devServerPlugins } from "./dev-server-plugins.ts";
import { createFunctionsRouter, functionFactories } from "./functions-router.ts";
import { migrate, type MigrateResult } from "./migrate.ts";
import { mintToken } from "./mint-token.ts";

export type { DevServerContext, DevServerPlugin } from "./dev-server/types.ts";
export { DEFAULT_DATA_DIR, DEFAULT_PORT } from "./dev-server/settings.ts";
export { DEMO_DISPATCHED_WORKFLOW_ID, DEMO_TASK_QUEUE, DEMO_USER_ID, DEMO_WORKFLOW_ID } from "./dev-server/seed.ts";
export { withUserProvisioning } from "./plugins/user-provisioning.ts";

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
  /** DATA_DIR (absolute) when this server keeps something there (and holds its lock), else null. */
  dataDir: string | null;
  settings: DevSettings;
  runtime: Runtime;
  /** The whole request handler (health + plugins' middleware + functions), in-process. */
  handler: FetchHandler;
  migrations: MigrateResult;
  /** The start-up banner (URLs, tokens, curl example). */
  banner: string;
  /** Milliseconds from the call to ready, and of the database and migration phases. */
  timings: { totalMs: number; databaseMs: number; migrationsMs: number };
  stop(): Promise<void>;
}

/** Starts everything; resolves once /health answers 200. On failure everything started is stopped again. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const started = performance.now();
  const startedAt = new Date();
  const env = options.env ?? processEnv;
  const print = options.print ?? ((line: string) => console.log(line));
  const plugins = options.plugins ?? devServerPlugins;
  const abort = new AbortController();
  let state: ServerState = "starting";
  let phase = "settings";
  // Resolved when /health turns 200: the pg_net stand-in delivers only from then on.
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let app: FetchHandler | null = null;
  const probes = new Map<string, HealthProbe>();
  const shutdown = createShutdown((error) => console.error("[dev-server] error during shutdown:", error), {
    workers: () => abort.abort(),
    http: () => void (state = "stopping"),
  });

  try {
    // 1. Every setting, before anything starts.
    let settings = loadDevSettings(env);
    const logger = createStructuredLogger(settings.config.logLevel);

    // 2. DATA_DIR, when this server keeps something there: refused when another instance uses it.
    const usesDataDir = !settings.externalDatabaseUrl || plugins.some((plugin) => plugin.usesDataDir?.({ env, settings }));
    const dataDir: DataDir | null = usesDataDir ? lockDataDir(settings.dataDir) : null;
    if (dataDir) {
      shutdown.add("lock", () => dataDir.release());
      if (dataDir.previous) {
        const { pid, startedAt: since } = dataDir.previous;
        print(pid > 0
          ? `[dev-server] ${dataDir.root}: took over the lock of dev server pid ${pid} (started ${since}), which is no longer running`
          : `[dev-server] ${dataDir.root}: took over an unreadable lock file (no running instance holds it)`);
      }
    }

    // 3. Listen at once: /health says 503 while starting, and a busy port fails fast.
    const functionNames = new Set(Object.keys(functionFactories));
    const handler: FetchHandler = async (request) => {
      const began = performance.now();
      const { pathname } = new URL(request.url);
      const requestId = requestIdOf(request.headers.get("x-request-id"));
      let response: Response;
      // A function's own frame logs its line (shared/http/app.ts); this logs everything else.
      let logged = false;
      if (pathname === "/health" || pathname === "/health/") {
        response = await healthResponse({ state: () => state, phase: () => phase, startedAt, probes: () => probes });
      } else if (state !== "ready" || !app) {
        response = Response.json({ error: { code: "unavailable", message: `the dev server is ${state}`, requestId } }, {
          status: 503,
          headers: { "retry-after": "1" },
        });
      } else if (/^(TRACE|TRACK)$/i.test(request.method)) {
        // fetch's Request cannot carry these methods, so the router could not copy the request: no route, as a function answers.
        response = Response.json({ error: { code: "not_found", message: `no route for ${request.method} ${pathname}`, requestId } }, { status: 404 });
      } else {
        const name = /^\/functions\/v1\/([^/]+)/.exec(pathname)?.[1];
        logged = name !== undefined && functionNames.has(name);
        response = await app(forwardedRequest(request, requestId));
      }
      response = withRequestId(response, requestId);
      if (!logged) {
        const level = pathname.startsWith("/health") ? "debug" : requestLogLevel(response.status);
        logger.write(level, {
          msg: "request",
          requestId,
          function: null,
          method: request.method,
          path: pathname,
          status: response.status,
          durationMs: Math.round((performance.now() - began) * 10) / 10,
          role: null,
        });
      }
      return response;
    };
    const httpServer = serve(settings.host, settings.port, handler);
    shutdown.add("http", () => withTimeout(httpServer.shutdown(), 5000));
    const boundPort = httpServer.addr.port;
    const url = `http://${displayHost(settings.host)}:${boundPort}`;
    if (dataDir) dataDir.record({ url });
    print(`[dev-server] starting on ${url} ...`);

    // 4. Plugins may start outside services first and hand their settings to the configuration.
    phase = "plugins: configure";
    const overrides: Record<string, string> = {};
    const pluginBanner: string[] = [];
    for (const plugin of plugins) {
      if (!plugin.configure) continue;
      const setup = (await plugin.configure({ env, settings, dataDir: dataDir ?? lockless(settings), print })) ?? {};
      Object.assign(overrides, setup.env ?? {});
      pluginBanner.push(...(setup.banner ?? []));
      if (setup.stop) shutdown.add("services", setup.stop);
      if (setup.health) probes.set(plugin.healthKey ?? plugin.name, setup.health);
    }
    if (Object.keys(overrides).length) settings = loadDevSettings(env, overrides);

    // 5. The database.
    phase = "database";
    const databaseStarted = performance.now();
    const db: DevDatabase = settings.externalDatabaseUrl
      ? openExternalDatabase(settings.externalDatabaseUrl, settings.config.databasePoolSize)
      : await openEmbeddedDatabase(dataDir!.databaseDir, print, { progressOnStdout: !options.print });
    shutdown.add("database", () => db.close());
    const config: Config = db.kind === "embedded" ? { ...settings.config, databaseUrl: db.url, databasePoolSize: 1 } : settings.config;
    const databaseMs = performance.now() - databaseStarted;
    probes.set("database", databaseProbe(db.sql, db.kind));

    phase = "migrations";
    const migrationsStarted = performance.now();
    const migrations = await migrate(db.sql, { log: (message) => print(`[dev-server] ${message}`) });
    const migrationsMs = performance.now() - migrationsStarted;
    phase = "seed";
    if (settings.seedDemo) await seedDemoData(db.sql);

    // 6. The functions, then the plugins: their middleware wraps the functions, in list order.
    phase = "plugins: start";
    const runtime = createRuntime(config, { sql: db.sql });
    probes.set("temporal", temporalProbe(config, Boolean(overrides.TEMPORAL_HTTP_URL)));
    const functions = createFunctionsRouter(runtime);
    let composed: FetchHandler = functions;
    const userToken = (userId: string, expiresInSeconds?: number, email?: string) =>
      mintToken({ userId, email, expiresInSeconds, secret: settings.jwtSecret });
    // For plugins: the same routes through every middleware, already served while starting.
    const inProcess: FetchHandler = (request) =>
      new URL(request.url).pathname.startsWith("/functions/") ? composed(request) : handler(request);
    const context: DevServerContext = {
      runtime,
      config,
      settings,
      handler: inProcess,
      url,
      database: { kind: db.kind, url: db.url, listen: db.listen },
      ready,
      serviceToken: (expiresInSeconds) => mintToken({ service: true, expiresInSeconds, secret: settings.jwtSecret }),
      userToken,
      log: runtime.log,
      print,
      signal: abort.signal,
    };
    const middleware: NonNullable<PluginStarted["middleware"]>[] = [];
    for (const plugin of plugins) {
      const result = await plugin.start?.(context);
      if (!result) continue;
      const started: PluginStarted = typeof result === "function" ? { stop: result } : result;
      if (started.stop) shutdown.add("workers", started.stop);
      if (started.middleware) middleware.push(started.middleware);
      if (started.health) probes.set(plugin.healthKey ?? plugin.name, started.health);
      pluginBanner.push(...(started.banner ?? []));
    }
    for (const wrap of middleware.reverse()) composed = await wrap(composed);
    app = composed;

    const demoToken = settings.seedDemo ? await userToken(DEMO_USER_ID, DEMO_TOKEN_LIFETIME_SECONDS, DEMO_USER_EMAIL) : null;
    const timings = { totalMs: performance.now() - started, databaseMs, migrationsMs };
    const banner = renderBanner({
      url,
      database: db,
      dataDir: dataDir?.root ?? null,
      config,
      jwtSecretIsDefault: settings.jwtSecretIsDefault,
      migrations,
      demoToken,
      timings,
      pluginBanner,
    });
    state = "ready";
    phase = "ready";
    markReady();

    return {
      url,
      port: boundPort,
      database: { kind: db.kind, url: db.url, dataDir: db.dataDir },
      dataDir: dataDir?.root ?? null,
      settings,
      runtime,
      handler,
      migrations,
      banner,
      timings,
      stop: () => shutdown.run(),
    };
  } catch (error) {
    state = "stopping";
    await shutdown.run();
    throw error;
  }
}

/** For plugins when DATA_DIR is not used (DATABASE_URL and nothing kept): its layout, unlocked, nothing recorded. */
function lockless(settings: DevSettings): DataDir {
  return { ...dataDirLayoutOf(settings.dataDir), previous: null, record: () => {}, release: () => {} };
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let server: DevServer;
  try {
    server = await startDevServer();
  } catch (error) {
    const message = error instanceof ConfigError ? describeConfigError(error) : error instanceof Error ? error.message : String(error);
    console.error(`[dev-server] could not start: ${message}`);
    Deno.exit(1);
  }
  console.log(server.banner);

  let requests = 0;
  const stop = async (reason: string) => {
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
    Deno.addSignalListener(signal, () => void stop(signal));
  }
  // For supervisors and tests: stop when the parent closes our stdin (or dies).
  if (server.settings.stopOnStdinEof) {
    (async () => {
      const reader = Deno.stdin.readable.getReader();
      try {
        while (!(await reader.read()).done) { /* nothing is expected; wait for EOF */ }
      } catch { /* closed */ }
      await stop("stdin closed");
    })();
  }
}

if (import.meta.main) await main();
