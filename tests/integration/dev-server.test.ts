/**
 * `npm start` (local/dev-server.ts) as a developer uses it: the real command of package.json on
 * Deno, on a free port, in a temporary DATA_DIR.
 *
 *  - embedded PGlite: /health, the printed curl example run as printed, `npm run token`, the
 *    auth.users provisioning, a restart on the same data (nothing lost, no migration applied
 *    again), and the pg_net stand-in (queued while stopped → sent at start; queued by a webhook
 *    trigger on a direct SQL write → sent by the queue sweep); progress while the embedded
 *    database is created; DATA_DIR's layout (pglite/, dev-server.lock).
 *  - DATABASE_URL: a database migrated by the Supabase CLI is recognised as up to date (the
 *    statements we record are the CLI's, byte for byte), and one migrated by the dev server is
 *    one the CLI considers up to date; pg_net notifications through LISTEN.
 *
 *   npx vitest run tests/integration/dev-server.test.ts
 */
import { PGlite } from "@electric-sql/pglite";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { splitStatements } from "../../local/migrate.ts";
import { type DevServerProcess, startDevServer as startLocalServer } from "../support/dev-server.ts";
import {
  connect,
  createMigratedDatabase,
  databaseUrl,
  dropDatabase,
  freePort,
  pushMigrations,
  REPO_ROOT,
  withDatabase,
} from "../support/postgres.ts";

const run = promisify(execFile);
/** The migration files, in order. */
const migrationFiles = (): string[] =>
  readdirSync(join(REPO_ROOT, "supabase", "migrations")).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();

// ---------------------------------------------------------------------------------------------
// A dev server process
// ---------------------------------------------------------------------------------------------

/**
 * The Temporal dev server, the sweeper interval and the self-pointed webhooks have a test of
 * their own (tests/e2e/dev-server-temporal.test.ts); here the webhooks go where each test points them.
 */
const startDevServer = (settings: Record<string, string>, timeoutMs?: number) =>
  startLocalServer({ START_TEMPORAL: "false", LOCAL_WEBHOOKS: "false", SWEEP_INTERVAL_MS: "0", ...settings }, timeoutMs);

/** The lines of the printed curl example, as a shell script. */
function printedExample(output: string): string {
  const lines = output.split("\n");
  const start = lines.findIndex((line) => line.startsWith("Try it:"));
  const end = lines.findIndex((line, i) => i > start && line.startsWith("Ctrl+C"));
  expect(start).toBeGreaterThan(0);
  return lines.slice(start + 1, end).filter((line) => line.startsWith("  ")).map((line) => line.slice(2)).join("\n");
}

/** `npm run -s token -- <args>`, the documented command. */
async function npmToken(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run("npm", ["run", "-s", "token", "--", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: "1", SUPABASE_JWT_SECRET: "", JWT_SECRET: "", ...env },
  });
  const token = stdout.trim();
  expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  return token;
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP target for the pg_net stand-in
// ---------------------------------------------------------------------------------------------

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Target {
  url: string;
  received: Received[];
  waitFor(predicate: (r: Received) => boolean, timeoutMs?: number): Promise<Received>;
  close(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      received.push({ method: request.method!, url: request.url!, headers: request.headers, body });
      if (request.url === "/slow") return; // never answers
      response.writeHead(200, { "content-type": "text/plain" }).end(`got ${request.url}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    async waitFor(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = received.find(predicate);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`not received in ${timeoutMs} ms; got ${JSON.stringify(received.map((r) => r.url))}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const DEMO_USER_ID = "11111111-1111-4111-8111-111111111111";
const DEMO_WORKFLOW_ID = "22222222-2222-4222-8222-222222222222";

async function createExecution(url: string, token: string, body: Record<string, unknown>) {
  const response = await fetch(`${url}/functions/v1/executions-create`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function listExecutions(url: string, token: string): Promise<{ temporalWorkflowId: string; status: string }[]> {
  const response = await fetch(`${url}/functions/v1/executions-list?limit=100`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return (await response.json()).data;
}

// ---------------------------------------------------------------------------------------------
// Embedded PGlite
// ---------------------------------------------------------------------------------------------

describe("npm start with the embedded database", () => {
  let dataDir: string;
  let target: Target;
  let server: DevServerProcess | undefined;
  const runId = `dev-server-test-${randomUUID()}`;
  const strangerId = randomUUID();

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "et-dev-server-"));
    target = await startTarget();
  });

  afterAll(async () => {
    await server?.stop();
    await target?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("starts on a fresh data folder, and the printed curl example works as printed", async () => {
    const started = Date.now();
    server = await startDevServer({ DATA_DIR: dataDir });
    const startMs = Date.now() - started;
    const output = server.output();
    if (process.env.ET_TEST_VERBOSE) console.log(`first start: ${startMs} ms\n${output}`);

    expect(server.healthBeforeReady.every((status) => status === 503)).toBe(true);
    expect(output).toContain(`${server.url}/functions/v1/<name>`);
    expect(output).toContain(`${migrationFiles().length} migrations applied, ${migrationFiles().length} in total`);
    expect(output).toContain("npm run -s token -- --user <uuid>");
    expect(output).toContain("npm run -s token -- --service");
    expect(output).not.toContain("legacy behavior");
    // The first start creates the database (~15 s): it says so before, and when it is done.
    expect(output).toMatch(new RegExp(`creating the embedded database in ${join(dataDir, "pglite")} \\(first start only: about 15 s\\) \\.\\.\\.[\\s\\S]*embedded database created in \\d+\\.\\d s`));
    expect(output.indexOf("creating the embedded database")).toBeLessThan(output.indexOf("applied 2"));
    // ...and every 3 s meanwhile (a worker thread: PGlite's WASM keeps the main thread busy).
    const createdInSeconds = Number(/embedded database created in (\d+\.\d) s/.exec(output)![1]);
    const ticks = output.match(/\.\.\. still creating the embedded database \(\d+ s\)/g) ?? [];
    expect(ticks.length).toBeGreaterThanOrEqual(Math.floor(createdInSeconds / 3) - 1);
    if (createdInSeconds >= 4) expect(ticks.length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(dataDir, "dev-server.lock"), "utf8"))).toMatchObject({ pid: server.pid, url: server.url });

    const { stdout } = await run("sh", ["-c", printedExample(output)], { cwd: tmpdir() });
    // The create answer, then the list with it.
    const created = JSON.parse(stdout.slice(0, stdout.indexOf("}{") + 1));
    expect(created).toMatchObject({ workflowId: DEMO_WORKFLOW_ID, createdBy: DEMO_USER_ID, temporalWorkflowId: "demo-run-1", status: "running" });
    const listed = JSON.parse(stdout.slice(stdout.indexOf("}{") + 1));
    expect(listed.data.map((e: { id: string }) => e.id)).toContain(created.id);
  });

  it("serves tokens from `npm run token`: create 201, list contains it; a stranger sees nothing and is provisioned", async () => {
    const token = await npmToken(["--user", DEMO_USER_ID]);
    const created = await createExecution(server!.url, token, { workflowId: DEMO_WORKFLOW_ID, temporalWorkflowId: runId, input: { n: 1 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ temporalWorkflowId: runId, status: "running", workflow: { id: DEMO_WORKFLOW_ID, name: "demo-workflow" } });
    expect((await listExecutions(server!.url, token)).map((e) => e.temporalWorkflowId)).toContain(runId);

    const again = await createExecution(server!.url, token, { workflowId: DEMO_WORKFLOW_ID, temporalWorkflowId: runId });
    expect(again.status).toBe(200);

    const stranger = await npmToken(["--user", strangerId]);
    expect(await listExecutions(server!.url, stranger)).toEqual([]);
    expect((await createExecution(server!.url, stranger, { workflowId: DEMO_WORKFLOW_ID, temporalWorkflowId: `${runId}-x` })).status).toBe(404);

    const service = await npmToken(["--service"]);
    const all = await listExecutions(server!.url, service);
    expect(all.map((e) => e.temporalWorkflowId)).toEqual(expect.arrayContaining([runId, "demo-run-1"]));

    const unauthenticated = await fetch(`${server!.url}/functions/v1/executions-list`);
    expect(unauthenticated.status).toBe(401);
    const forged = await npmToken(["--user", DEMO_USER_ID], { SUPABASE_JWT_SECRET: "another-secret-another-secret-another-secret" });
    expect((await fetch(`${server!.url}/functions/v1/executions-list`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
  });

  it("stops on SIGTERM with exit code 0", async () => {
    expect(await server!.stop()).toBe(0);
    expect(server!.output()).toMatch(/SIGTERM: shutting down[\s\S]*stopped in \d+ ms/);
    server = undefined;
  });

  it("keeps its data on disk: migrations recorded as the CLI does, the stranger provisioned", async () => {
    const db = await PGlite.create(join(dataDir, "pglite"));
    try {
      const migrations = await db.query<{ version: string; name: string; statements: string[] }>(
        "select version, name, statements from supabase_migrations.schema_migrations order by version",
      );
      expect(migrations.rows.map((r) => `${r.version}_${r.name}.sql`)).toEqual(migrationFiles());
      for (const row of migrations.rows) {
        expect(row.statements).toEqual(splitStatements(readFileSync(join(REPO_ROOT, "supabase", "migrations", `${row.version}_${row.name}.sql`), "utf8")));
      }
      const users = await db.query<{ id: string }>("select id from auth.users where id = $1", [strangerId]);
      expect(users.rows).toHaveLength(1);

      // For the next start: where the webhooks go, and a request queued while nothing listens.
      await db.query("select vault.create_secret($1, 'execution_tracker_functions_url')", [`${target.url}/functions/v1`]);
      await db.query("select vault.create_secret('dev-server-test-secret', 'execution_tracker_webhook_secret')");
      await db.query(`select net.http_post($1, '{"queued":"while stopped"}'::jsonb)`, [`${target.url}/queued`]);
    } finally {
      await db.close();
    }
  });

  it("restarts on the same data: nothing lost, no migration applied again, the queued request sent", async () => {
    // PG_NET_POLL_MS=0: no sweeps, so what is sent below was sent at start or on a notification.
    const started = Date.now();
    server = await startDevServer({ DATA_DIR: dataDir, PG_NET_POLL_MS: "0" });
    const restartMs = Date.now() - started;
    if (process.env.ET_TEST_VERBOSE) console.log(`restart: ${restartMs} ms`);
    expect(server.output()).toContain(`migrations up to date, ${migrationFiles().length} in total`);
    expect(server.output()).not.toContain("[dev-server] applied");
    expect(server.output()).toContain(`opening the embedded database in ${join(dataDir, "pglite")} ...`);
    expect(server.output()).not.toContain("creating the embedded database");

    const token = await npmToken(["--user", DEMO_USER_ID]);
    const ids = (await listExecutions(server.url, token)).map((e) => e.temporalWorkflowId);
    expect(ids).toEqual(expect.arrayContaining([runId, "demo-run-1"]));

    const queued = await target.waitFor((r) => r.url === "/queued");
    expect(queued.method).toBe("POST");
    expect(queued.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(queued.body)).toEqual({ queued: "while stopped" });
  });

  it("sends what a direct SQL write queued with net.http_post (a webhook trigger) on the queue sweep", async () => {
    // Since migration 20261201000300 the webhook triggers fire only for writes the API does not
    // handle itself: a pending row inserted by SQL. It comes from another client of the embedded
    // database, whose notification the server cannot see (local/embedded-postgres.ts): the sweep sends it.
    await server!.stop();
    server = await startDevServer({ DATA_DIR: dataDir, PG_NET_POLL_MS: "200" });
    const databaseUrl = /Database {4}(postgres:\/\/\S+)/.exec(server.output())![1];
    await run("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-qc",
      `insert into public.workflow_executions (workflow_id, created_by, status, input)
       values ('${DEMO_WORKFLOW_ID}', '${DEMO_USER_ID}', 'pending', '{"probe":"${runId}"}')`]);
    const webhook = await target.waitFor((r) => r.url === "/functions/v1/executions-webhook", 5_000);
    expect(webhook.headers["x-webhook-secret"]).toBe("dev-server-test-secret");
    expect(JSON.parse(webhook.body)).toMatchObject({
      type: "INSERT",
      table: "workflow_executions",
      record: { input: { probe: runId }, status: "pending" },
    });
    // Delivered: the response recorded and the request off the queue (then stop).
    const deadline = Date.now() + 10_000;
    const queued = async () => (await run("psql", [databaseUrl, "-Atc", "select count(*) from net.http_request_queue"])).stdout.trim();
    while ((await queued()) !== "0" && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await server!.stop()).toBe(0);
    server = undefined;

    const db = await PGlite.create(join(dataDir, "pglite"));
    try {
      expect((await db.query("select * from net.http_request_queue")).rows).toEqual([]);
      const responses = await db.query<{ status_code: number; content: string }>("select status_code, content from net._http_response order by id");
      expect(responses.rows).toEqual([
        { status_code: 200, content: "got /queued" },
        { status_code: 200, content: "got /functions/v1/executions-webhook" },
      ]);
    } finally {
      await db.close();
    }
  });

  it("refuses a data folder another dev server uses", async () => {
    await server?.stop();
    server = await startDevServer({ DATA_DIR: dataDir });
    await expect(startDevServer({ DATA_DIR: dataDir }, 30_000)).rejects.toThrow(/in use by another dev server/);
    expect(await server.stop()).toBe(0);
    server = undefined;
  });
});

// ---------------------------------------------------------------------------------------------
// DATABASE_URL
// ---------------------------------------------------------------------------------------------

describe("npm start with DATABASE_URL", () => {
  const created: string[] = [];
  let target: Target;
  let server: DevServerProcess | undefined;

  beforeAll(async () => {
    target = await startTarget();
  });

  afterAll(async () => {
    await server?.stop();
    await target?.close();
    for (const name of created) await dropDatabase(databaseUrl(), name).catch(() => {});
  });

  it("takes a database the Supabase CLI migrated as up to date, serves it, and sends pg_net requests on LISTEN", async () => {
    const name = `et_dev_cli_${Date.now()}_${randomUUID().slice(0, 8)}`;
    const url = await createMigratedDatabase(databaseUrl(), name);
    created.push(name);

    // What the CLI recorded is what splitStatements produces.
    const sql = connect(url, { max: 1 });
    try {
      const rows = await sql<{ version: string; name: string; statements: string[] }[]>`
        select version, name, statements from supabase_migrations.schema_migrations order by version`;
      expect(rows.map((r) => `${r.version}_${r.name}.sql`)).toEqual(migrationFiles());
      for (const row of rows) {
        expect(splitStatements(readFileSync(join(REPO_ROOT, "supabase", "migrations", `${row.version}_${row.name}.sql`), "utf8")))
          .toEqual(row.statements);
      }

      server = await startDevServer({ DATABASE_URL: url, PG_NET_POLL_MS: "0" });
      expect(server.output()).toContain(`migrations up to date, ${migrationFiles().length} in total`);
      expect(server.output()).toContain(`Database    ${url.replace(":postgres@", ":****@")}`);

      const { stdout } = await run("sh", ["-c", printedExample(server.output())], { cwd: tmpdir() });
      expect(stdout).toContain('"temporalWorkflowId":"demo-run-1"');

      const [{ id: listened }] = await sql`select net.http_post(${`${target.url}/listened`}, '{"via":"listen"}'::jsonb) as id`;
      const received = await target.waitFor((r) => r.url === "/listened", 5_000);
      expect(JSON.parse(received.body)).toEqual({ via: "listen" });

      // Failures are recorded as pg_net records them (the last attempt). Unlike pg_net, the
      // stand-in keeps a timed-out or refused request queued and sends it again with backoff
      // (local/pg-net-worker.ts); a delivered one leaves the queue.
      const [{ id: slow }] = await sql`select net.http_post(url := ${`${target.url}/slow`}, timeout_milliseconds := 300) as id`;
      const [{ id: refused }] = await sql`select net.http_post(${`http://127.0.0.1:${await freePort()}/nobody`}) as id`;
      const deadline = Date.now() + 10_000;
      while ((await sql`select 1 from net._http_response where id in ${sql([slow, refused])}`).length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await server.stop()).toBe(0);
      server = undefined;

      const responses = await sql`select id, status_code, content, error_msg from net._http_response where id in ${sql([listened, slow, refused])}`;
      const byId = new Map(responses.map((r) => [String(r.id), r]));
      expect(byId.get(String(listened))).toMatchObject({ status_code: 200, content: "got /listened", error_msg: null });
      expect(byId.get(String(slow))).toMatchObject({ status_code: null, content: null });
      expect(byId.get(String(slow))!.error_msg).toMatch(/^Timeout of 300 ms reached \(attempt \d+ of 12; the pg_net stand-in sends it again\)$/);
      expect(byId.get(String(refused))).toMatchObject({ status_code: null, content: null });
      expect(byId.get(String(refused))!.error_msg).toMatch(/the pg_net stand-in sends it again/);
      const queued = (await sql`select id::text from net.http_request_queue`).map((r) => r.id);
      expect(queued.sort()).toEqual([String(slow), String(refused)].sort());
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it("migrates an empty database so that the Supabase CLI finds nothing to push", async () => {
    const name = `et_dev_empty_${Date.now()}_${randomUUID().slice(0, 8)}`;
    const admin = connect(databaseUrl(), { max: 1 });
    try {
      await admin.unsafe(`create database "${name}"`);
    } finally {
      await admin.end({ timeout: 1 });
    }
    created.push(name);
    const url = withDatabase(databaseUrl(), name);

    server = await startDevServer({ DATABASE_URL: url, SEED_DEMO: "false" });
    expect(server.output()).toContain(`${migrationFiles().length} migrations applied, ${migrationFiles().length} in total`);
    expect(server.output()).not.toContain("Try it:");
    expect(await server.stop()).toBe(0);
    server = undefined;

    // Would fail (objects exist) if the CLI did not see every migration as applied.
    await pushMigrations(url);
    const sql = connect(url, { max: 1 });
    try {
      const [{ count }] = await sql`select count(*)::int as count from supabase_migrations.schema_migrations`;
      expect(count).toBe(migrationFiles().length);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
