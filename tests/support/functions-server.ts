/**
 * The edge functions on real Deno for the end-to-end tests: spawns
 * `deno run -A --config deno.json tests/support/serve-functions.ts` on a free 127.0.0.1 port
 * and resolves once GET /health answers (the database included).
 *
 * The functions reach the database through PgBouncer in transaction mode (tests/support/pgbouncer.ts,
 * started in front of `databaseUrl` for this server and stopped with it), as Edge Functions
 * reach Postgres through Supavisor on Supabase; `pooler: "direct"` (or ET_TEST_POOLER=direct
 * for a whole run) connects them straight to `databaseUrl` instead.
 *
 *   const server = await startFunctionsServer({ databaseUrl, jwksUrl });
 *   createClient(server.url, anonKey, ...)   // supabase-js: functions at `${url}/functions/v1`
 *   await server.stop();
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type PgBouncer, startPgBouncer } from "./pgbouncer.ts";
import { freePort, REPO_ROOT } from "./postgres.ts";
import { TEST_JWT_SECRET } from "./tokens.ts";

export interface FunctionsServer {
  /** Base URL, like a Supabase project URL: functions are under `${url}/functions/v1/<name>`. */
  url: string;
  /** `${url}/functions/v1` */
  functionsUrl: string;
  /** What the server wrote to stdout/stderr so far (for failure messages). */
  logs(): string;
  /** The functions' DATABASE_URL: PgBouncer's, or `databaseUrl` itself when direct. */
  databaseUrl: string;
  /** The PgBouncer in front of the database; null when direct. */
  pgbouncer: PgBouncer | null;
  stop(): Promise<void>;
}

export interface FunctionsServerOptions {
  databaseUrl: string;
  /** "pgbouncer" (default; ET_TEST_POOLER=direct changes the default) or "direct". */
  pooler?: "pgbouncer" | "direct";
  /** PgBouncer's server connections (`default_pool_size`); default 2. */
  poolerSize?: number;
  /** HS256 secret; default TEST_JWT_SECRET. null: not set (JWKS only). */
  jwtSecret?: string | null;
  jwksUrl?: string;
  /** More environment for the functions (WEBHOOK_SECRET, TEMPORAL_HTTP_URL, ...). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

/** Variables of this process that must not leak into the functions' configuration. */
const configVariables = [
  "SUPABASE_DB_URL", "DATABASE_URL", "DB_POOL_SIZE", "SUPABASE_JWT_SECRET", "JWT_SECRET", "SUPABASE_JWKS_URL",
  "SUPABASE_URL", "TEMPORAL_HTTP_URL", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "WEBHOOK_SECRET", "EXECUTION_RETENTION_DAYS",
];

export async function startFunctionsServer(options: FunctionsServerOptions): Promise<FunctionsServer> {
  const port = await freePort();
  const pooled = (options.pooler ?? (process.env.ET_TEST_POOLER === "direct" ? "direct" : "pgbouncer")) === "pgbouncer";
  const pgbouncer = pooled ? await startPgBouncer({ targetUrl: options.databaseUrl, poolSize: options.poolerSize }) : null;
  const databaseUrl = pgbouncer?.url ?? options.databaseUrl;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !configVariables.includes(key) && key !== "NODE_OPTIONS") env[key] = value;
  }
  Object.assign(env, {
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    DB_POOL_SIZE: "8",
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    ...(options.jwtSecret === null ? {} : { SUPABASE_JWT_SECRET: options.jwtSecret ?? TEST_JWT_SECRET }),
    ...(options.jwksUrl ? { SUPABASE_JWKS_URL: options.jwksUrl } : {}),
    ...options.env,
  });

  const localDeno = join(REPO_ROOT, "node_modules", ".bin", "deno");
  const [command, prefix] = existsSync(localDeno) ? [localDeno, []] : ["npx", ["deno"]];
  const child: ChildProcess = spawn(
    command,
    [...prefix, "run", "-A", "--config", "deno.json", "tests/support/serve-functions.ts"],
    { cwd: REPO_ROOT, env, stdio: ["pipe", "pipe", "pipe"], detached: true },
  );
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
    if (process.env.ET_TEST_VERBOSE) process.stderr.write(`[functions] ${chunk}`);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once("exit", () => { exited = true; resolve(); }));

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited) {
      child.stdin!.end(); // serve-functions.ts exits at stdin EOF
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch { /* already gone */ }
      }, 5_000);
      await exit;
      clearTimeout(timer);
    }
    await pgbouncer?.stop();
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`the functions server exited before answering /health:\n${output}${pgbouncer ? `\npgbouncer:\n${pgbouncer.logs()}` : ""}`);
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the functions server did not answer /health in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, functionsUrl: `${url}/functions/v1`, logs: () => output, databaseUrl, pgbouncer, stop };
}
