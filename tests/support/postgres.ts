/**
 * PostgreSQL for the integration and end-to-end tests (Node only).
 *
 * `startPostgres()` gives a database with the platform bootstrap (local/platform-bootstrap.sql)
 * and every migration applied by the real Supabase CLI (`supabase db push --db-url`):
 *
 * - DATABASE_URL set: a fresh throwaway database is created inside that server for this run
 *   (dropped by stop()).
 * - otherwise: a throwaway cluster is initdb'ed in a temp dir and started on a free 127.0.0.1
 *   port (binaries from PG_BIN, default /usr/lib/postgresql/15/bin or the newest installed; as user
 *   `postgres` when we are root). pg_cron is preloaded when the server has it. stop() =
 *   `pg_ctl stop -m immediate` and the dir removed; a guard process does the same if this
 *   process dies first.
 *
 * The default export is the vitest globalSetup: ONE database per run, its URL handed to the
 * test files with provide/inject (`databaseUrl()`). Tests isolate through fresh users.
 * The rest of this file are the helpers tests use against that database.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { inject } from "vitest";
import type { TestProject } from "vitest/node";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** PostgreSQL 15's binaries (Debian layout), else the newest installed, else `pg_config --bindir`. */
function findPostgresBin(): string {
  const root = "/usr/lib/postgresql";
  if (existsSync(join(root, "15", "bin", "initdb"))) return join(root, "15", "bin");
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length) return join(root, versions[0], "bin");
  const pgConfig = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  if (pgConfig.status === 0 && pgConfig.stdout.trim()) return pgConfig.stdout.trim();
  throw new Error("no PostgreSQL binaries found: install PostgreSQL 15, set PG_BIN, or set DATABASE_URL");
}

export interface PostgresHandle {
  /** URL of the migrated test database. */
  url: string;
  /** Superuser connection to that database. */
  adminSql: Sql;
  /** Whether pg_cron is loaded (throwaway cluster with pg_cron.so, or an external server that has it). */
  pgCron: boolean;
  stop(): Promise<void>;
  /**
   * The server itself, for fault tests (`startPostgres({ throwaway: true })` only; null for a
   * database inside DATABASE_URL): `pg_ctl restart`, `stop` and `start` of this cluster,
   * each awaited (`-w`), on the same port.
   */
  server: PostgresServerControl | null;
}

export interface PostgresServerControl {
  /** `pg_ctl restart -m <mode>` (default fast): every backend is terminated, then it accepts connections again. */
  restart(mode?: "smart" | "fast" | "immediate"): Promise<void>;
  /** `pg_ctl stop -m <mode>` (default fast): connections are refused until start(). */
  halt(mode?: "smart" | "fast" | "immediate"): Promise<void>;
  /** `pg_ctl start` after halt(). */
  resume(): Promise<void>;
}

export interface StartPostgresOptions {
  /** A throwaway cluster of its own even when DATABASE_URL is set (fault tests restart it). */
  throwaway?: boolean;
}

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/** vitest globalSetup: one database for the whole run. */
export default async function globalSetup(project: TestProject) {
  const started = Date.now();
  const pg = await startPostgres();
  project.provide("databaseUrl", pg.url);
  if (process.env.ET_TEST_VERBOSE) console.log(`[postgres] ready in ${Date.now() - started}ms at ${pg.url}`);
  return async () => {
    await pg.stop();
  };
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresHandle> {
  const external = process.env.DATABASE_URL?.trim();
  return external && !options.throwaway ? startInExternalServer(external) : startThrowawayCluster();
}

// ---------------------------------------------------------------------------------------------
// Throwaway cluster
// ---------------------------------------------------------------------------------------------

async function startThrowawayCluster(): Promise<PostgresHandle> {
  const PG_BIN = process.env.PG_BIN ?? findPostgresBin();
  const PG_LIB = process.env.PG_LIB ?? join(PG_BIN, "..", "lib");
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "et-pg-"));
  if (asRoot) {
    const uid = Number(run("id", ["-u", "postgres"]).trim());
    const gid = Number(run("id", ["-g", "postgres"]).trim());
    chownSync(dir, uid, gid);
  }
  // initdb and postgres refuse root: run them as `postgres` then.
  const pgCommand = (bin: string, args: string[]): [string, string[]] =>
    asRoot ? ["runuser", ["-u", "postgres", "--", join(PG_BIN, bin), ...args]] : [join(PG_BIN, bin), args];
  const data = join(dir, "data");
  try {
    run(...pgCommand("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]));
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const pgCron = existsSync(join(PG_LIB, "pg_cron.so"));
  const settings = [
    "listen_addresses=127.0.0.1",
    `unix_socket_directories=${dir}`,
    "max_connections=300",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=128MB",
    ...(pgCron ? ["shared_preload_libraries=pg_cron", "cron.database_name=postgres"] : []),
  ];
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const options = [`-p ${port}`, ...settings.map((s) => `-c ${s}`)].join(" ");
    const started = spawnSync(...pgCommand("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "postgres.log"), "-w", "-t", "60", "start"]), { encoding: "utf8" });
    if (started.status === 0) break;
    if (attempt >= 3) {
      const log = existsSync(join(dir, "postgres.log")) ? readFileSync(join(dir, "postgres.log"), "utf8") : "";
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pg_ctl start failed: ${started.stderr}\n${log}`);
    }
  }

  // Stops the cluster and removes its dir when our stdin pipe closes: at stop(), or when this
  // process dies without running its exit handlers.
  const [guardCmd, guardArgs] = pgCommand("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
  const guard = spawn("sh", ["-c", `cat >/dev/null; "$@" >/dev/null 2>&1; rm -rf '${dir}'`, "guard", guardCmd, ...guardArgs], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  guard.unref();
  const guardExited = new Promise<void>((resolve) => guard.once("exit", () => resolve()));

  const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
  try {
    await migrate(url);
  } catch (error) {
    guard.stdin!.end();
    await guardExited;
    throw error;
  }
  const adminSql = connect(url, { max: 4 });
  let stopped: Promise<void> | undefined;
  const ctl = async (args: string[]) => {
    const [command, commandArgs] = pgCommand("pg_ctl", ["-D", data, "-l", join(dir, "postgres.log"), "-w", "-t", "60", ...args]);
    const result = await runAsync(command, commandArgs);
    if (result.code !== 0) throw new Error(`pg_ctl ${args.join(" ")} failed (${result.code}): ${result.stderr}${result.stdout}`);
  };
  const serverOptions = [`-p ${port}`, ...settings.map((s) => `-c ${s}`)].join(" ");
  return {
    url,
    adminSql,
    pgCron,
    server: {
      restart: (mode = "fast") => ctl(["-m", mode, "-o", serverOptions, "restart"]),
      halt: (mode = "fast") => ctl(["-m", mode, "stop"]),
      resume: () => ctl(["-o", serverOptions, "start"]),
    },
    stop: () =>
      (stopped ??= (async () => {
        await adminSql.end({ timeout: 1 }).catch(() => {});
        guard.stdin!.end();
        await guardExited;
      })()),
  };
}

// ---------------------------------------------------------------------------------------------
// External server (DATABASE_URL)
// ---------------------------------------------------------------------------------------------

async function startInExternalServer(serverUrl: string): Promise<PostgresHandle> {
  const name = `et_test_${Date.now()}_${randomUUID().slice(0, 8)}`;
  const url = await createMigratedDatabase(serverUrl, name);
  const adminSql = connect(url, { max: 4 });
  const [{ loaded }] = await adminSql`select exists (select from pg_extension where extname = 'pg_cron') as loaded`;
  let stopped: Promise<void> | undefined;
  return {
    url,
    adminSql,
    pgCron: loaded,
    server: null,
    stop: () =>
      (stopped ??= (async () => {
        await adminSql.end({ timeout: 1 }).catch(() => {});
        await dropDatabase(serverUrl, name);
      })()),
  };
}

/**
 * Creates database `name` in the server of `serverUrl`, applies the bootstrap and the
 * migrations, and returns its URL. Used for DATABASE_URL runs and by tests that need a
 * database of their own (query plans).
 */
export async function createMigratedDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = connect(serverUrl, { max: 1 });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = withDatabase(serverUrl, name);
  try {
    await migrate(url);
  } catch (error) {
    await dropDatabase(serverUrl, name).catch(() => {});
    throw error;
  }
  return url;
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = connect(serverUrl, { max: 1 });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end({ timeout: 1 });
  }
}

/** `url` pointing at database `name`. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

// ---------------------------------------------------------------------------------------------
// Bootstrap + migrations
// ---------------------------------------------------------------------------------------------

/** local/platform-bootstrap.sql, then `supabase db push` of supabase/migrations. */
export async function migrate(url: string): Promise<void> {
  const sql = connect(url, { max: 1 });
  try {
    await sql.unsafe(readFileSync(join(REPO_ROOT, "local", "platform-bootstrap.sql"), "utf8"));
  } finally {
    await sql.end({ timeout: 1 });
  }
  await pushMigrations(url);
}

/** The real Supabase CLI, non-interactive; applies every migration not yet in its history table. */
export async function pushMigrations(url: string): Promise<void> {
  const result = await runAsync(join(REPO_ROOT, "node_modules", ".bin", "supabase"), [
    "db", "push", "--db-url", cliUrl(url), "--include-all", "--yes", "--workdir", REPO_ROOT,
  ]);
  if (result.code !== 0) {
    throw new Error(`supabase db push failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** The CLI insists on TLS unless told otherwise; a loopback server has none. */
function cliUrl(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has("sslmode") && ["127.0.0.1", "localhost", "[::1]", ""].includes(parsed.hostname)) {
    parsed.searchParams.set("sslmode", "disable");
  }
  return parsed.toString();
}

// ---------------------------------------------------------------------------------------------
// Helpers for tests
// ---------------------------------------------------------------------------------------------

/** The URL of this run's database (inside a test file). */
export function databaseUrl(): string {
  return inject("databaseUrl");
}

/** A postgres.js pool as the product configures it (no prepared statements), notices silenced. */
export function connect(url: string, options: postgres.Options<Record<string, postgres.PostgresType>> = {}): Sql {
  return postgres(url, { max: 10, prepare: false, onnotice: () => {}, idle_timeout: 5, connect_timeout: 10, ...options });
}

/** A new auth.users row; returns its id. */
export async function createUser(sql: Sql, id: string = randomUUID()): Promise<string> {
  await sql`insert into auth.users (id, email, role) values (${id}, ${`${id}@test.local`}, 'authenticated')`;
  return id;
}

/** A workflow owned by `owner` (inserted as superuser); returns its id. */
export async function createWorkflow(
  sql: Sql,
  owner: string,
  options: { name?: string; temporalWorkflowType?: string; taskQueue?: string } = {},
): Promise<string> {
  // Only registered (type, queue) pairs can be named (migration 20261201000100); the test's superuser registers it.
  if (options.temporalWorkflowType && options.taskQueue) {
    await sql`
      insert into public.temporal_workflow_types (workflow_type, task_queue)
      values (${options.temporalWorkflowType}, ${options.taskQueue}) on conflict do nothing`;
  }
  const [row] = await sql`
    insert into public.workflows (name, created_by, temporal_workflow_type, task_queue)
    values (${options.name ?? `wf-${randomUUID().slice(0, 8)}`}, ${owner},
            ${options.temporalWorkflowType ?? null}, ${options.taskQueue ?? null})
    returning id`;
  return row.id;
}

export const userCaller = (userId: string) =>
  ({ role: "authenticated", userId, claims: { sub: userId, role: "authenticated", aud: "authenticated" } }) as const;
export const serviceCaller = () => ({ role: "service_role", userId: null, claims: { role: "service_role" } }) as const;

/**
 * Runs `work` in a transaction as PostgREST would for this persona: `set local role` and
 * `request.jwt.claims` (userId null = service_role). RLS applies as for an API request.
 */
export async function asRole<T>(sql: Sql, userId: string | null, work: (tx: Tx) => Promise<T>): Promise<T> {
  return (await sql.begin(async (tx) => {
    const caller = userId ? userCaller(userId) : serviceCaller();
    await tx`select set_config('role', ${caller.role}, true), set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true)`;
    return await work(tx);
  })) as T;
}

/** The SQLSTATE of a rejected promise (or throws if it resolved). */
export async function sqlState(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: string }).code ?? `no code: ${String(error)}`;
  }
  throw new Error("expected the statement to fail");
}

// ---------------------------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------------------------

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr || result.error}`);
  }
  return result.stdout;
}

function runAsync(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
