/**
 * What a user of `npm start` notices on day one (issue 10), on the real command of
 * package.json (Deno), mostly with DATABASE_URL (fast starts; the embedded database's own
 * start, progress and lock are in tests/integration/dev-server.test.ts):
 *
 *  - every setting validated before anything starts, one message naming every problem;
 *  - the banner says what runs; GET /health says whether the database, Temporal and the
 *    sweeper are up and what the sweeper last did; JSON request lines with request ids;
 *  - DATA_DIR locked before anything starts (a second instance refused, a dead one's lock
 *    taken over), a Temporal dev server left by a crashed instance found and reused, never
 *    two on one SQLite file; `npm run reset`;
 *  - the README's first example, pasted as is (only the port changed).
 *
 * The Temporal CLI is a stand-in here (a Node script answering the HTTP API's namespace call,
 * installed where scripts/install-temporal.sh puts the real one, under ET_CACHE_DIR): what is
 * tested is how the dev server finds, starts, reuses and stops it.
 *
 *   npx vitest run --project database tests/integration/dev-server-day-one.test.ts
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type DevServerProcess, startDevServer } from "../support/dev-server.ts";
import { createMigratedDatabase, databaseUrl, dropDatabase, REPO_ROOT } from "../support/postgres.ts";

// Each test starts one to three `npm start`s, on 2 cores shared with other work.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const run = promisify(execFile);
const DEMO_USER_ID = "11111111-1111-4111-8111-111111111111";
const DEMO_WORKFLOW_ID = "22222222-2222-4222-8222-222222222222";

const tmp = mkdtempSync(join(tmpdir(), "et-day-one-"));
const created: string[] = [];
const servers: DevServerProcess[] = [];
let pgUrl: string;
let fakeCache: string;

/** A stand-in `temporal` CLI: `server start-dev ... --http-port H --db-filename F` answers GET /api/v1/namespaces/<ns> on H. */
function installFakeTemporalCli(): string {
  const cache = join(tmp, "cache");
  mkdirSync(join(cache, "bin"), { recursive: true });
  const cli = join(cache, "bin", "temporal");
  writeFileSync(cli, `#!/usr/bin/env node
const http = require("node:http");
const fs = require("node:fs");
const args = process.argv.slice(2);
const flag = (name) => args[args.indexOf(name) + 1];
fs.appendFileSync(flag("--db-filename"), "started by pid " + process.pid + "\\n");
http.createServer((request, response) => {
  response.writeHead(request.url.startsWith("/api/v1/namespaces/") ? 200 : 404, { "content-type": "application/json" });
  response.end("{}");
}).listen(Number(flag("--http-port")), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
`);
  chmodSync(cli, 0o755);
  return cache;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function start(settings: Record<string, string>, timeoutMs?: number): Promise<DevServerProcess> {
  const server = await startDevServer({ SWEEP_INTERVAL_MS: "0", LOCAL_WEBHOOKS: "false", START_TEMPORAL: "false", ...settings }, timeoutMs);
  servers.push(server);
  return server;
}

/** `npm run reset` with DATA_DIR; its exit code and output. */
async function npmReset(dataDir: string, args: string[] = []): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run("npm", ["run", "-s", "reset", "--", ...args], { cwd: REPO_ROOT, env: { ...process.env, DATA_DIR: dataDir, NO_COLOR: "1" } });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

const getJson = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, body: await response.json() };
};

beforeAll(async () => {
  const name = `et_day_one_${Date.now()}_${randomUUID().slice(0, 8)}`;
  pgUrl = await createMigratedDatabase(databaseUrl(), name);
  created.push(name);
  fakeCache = installFakeTemporalCli();
}, 120_000);

afterAll(async () => {
  for (const server of servers) await server.stop().catch(() => {});
  for (const name of created) await dropDatabase(databaseUrl(), name).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

describe("settings", () => {
  it("are all validated before anything starts: one message names every problem, nothing is created", async () => {
    const dataDir = join(tmp, "never-created");
    const failed = start({
      DATA_DIR: dataDir,
      PORT: "99999",
      SWEEP_INTERVAL_MS: "10s",
      SEED_DEMO: "maybe",
      LOG_LEVEL: "loud",
      EXECUTION_RETENTION_DAYS: "0",
      PG_NET_POLL_MS: "-1",
    }, 30_000);
    const message = await failed.then(() => "started", (error: Error) => error.message);
    expect(message).toContain("could not start: 6 settings are wrong:");
    for (const line of [
      '  - PORT must be a port number from 0 (any free port) to 65535, got "99999"',
      '  - SWEEP_INTERVAL_MS must be whole milliseconds: 0 (off) or 100 to 86400000, got "10s"',
      '  - SEED_DEMO must be true or false (also 1/0, yes/no, on/off), got "maybe"',
      '  - PG_NET_POLL_MS must be whole milliseconds from 0 (notifications only) to 3600000, got "-1"',
      '  - EXECUTION_RETENTION_DAYS must be a whole number of days, got "0"',
      '  - LOG_LEVEL must be one of error, warn, info, debug, got "loud"',
    ]) expect(message).toContain(line);
    expect(message).not.toContain("starting on");
    expect(existsSync(dataDir)).toBe(false);

    // A bad interval used to turn the sweeper off without a word; so did a typo in a boolean.
    for (const [name, value] of [["SWEEP_INTERVAL_MS", "50"], ["SWEEP_INTERVAL_MS", "1e4"], ["LOCAL_WEBHOOKS", "flase"], ["START_TEMPORAL", "nope"], ["SWEEP_RECHECK_SECONDS", "soon"]]) {
      await expect(start({ DATABASE_URL: pgUrl, [name]: value }, 30_000)).rejects.toThrow(new RegExp(`1 setting is wrong:\\s+- ${name} must`));
    }
  });
});

describe("a running server: banner, /health, request logs", () => {
  let server: DevServerProcess;

  beforeAll(async () => {
    server = await start({ DATABASE_URL: pgUrl, SWEEP_INTERVAL_MS: "200", PG_NET_POLL_MS: "0" });
  }, 120_000);

  it("says in the banner what runs", () => {
    const output = server.output();
    expect(output).toContain("  Sweeper     every 200 ms (SWEEP_INTERVAL_MS), Temporal rechecked after 5 s");
    expect(output).toContain("  Webhooks    not pointed at this server (LOCAL_WEBHOOKS=false)");
    expect(output).toContain("  Temporal    not started (START_TEMPORAL=false) and not configured (TEMPORAL_HTTP_URL)");
    expect(output).toContain(`  Dashboard   ${server.url}/`);
    expect(output).toContain("  pg_net      stand-in worker sends what net.http_post queues");
    expect(output).toContain("  Logs        one JSON line per request on stdout, LOG_LEVEL=info");
    // Nothing kept in DATA_DIR with DATABASE_URL and no Temporal dev server: no Data line, no lock.
    expect(output).not.toContain("  Data ");
    expect(server.healthBeforeReady.every((status) => status === 503)).toBe(true);
  });

  it("GET /health: the database, Temporal and the sweeper, when it last ran and what it did", async () => {
    await until(async () => (await getJson(`${server.url}/health`)).body.sweeper?.runs >= 1);
    const { status, headers, body } = await getJson(`${server.url}/health`);
    expect(status).toBe(200);
    expect(headers.get("x-request-id")).toBeTruthy();
    expect(body).toMatchObject({
      status: "ok",
      startedAt: expect.any(String),
      database: { status: "up", kind: "external", latencyMs: expect.any(Number) },
      temporal: { status: "off", reason: expect.stringContaining("TEMPORAL_HTTP_URL") },
      sweeper: { status: "up", intervalMs: 200, failures: 0 },
      webhooks: { status: "off", reason: "LOCAL_WEBHOOKS=false" },
      pgNet: { status: "up" },
    });
    const { lastRun } = body.sweeper;
    expect(Date.parse(lastRun.finishedAt)).toBeGreaterThan(Date.parse(body.startedAt));
    expect(lastRun).toMatchObject({ ok: true, durationMs: expect.any(Number), report: { complete: true, deadlines: { timedOut: 0 }, reconcile: {}, redispatch: {} } });
  });

  it("logs one JSON line per request with its request id, also in the x-request-id header and in error bodies", async () => {
    const token = (await run("npm", ["run", "-s", "token", "--", "--user", DEMO_USER_ID], { cwd: REPO_ROOT, env: { ...process.env, SUPABASE_JWT_SECRET: "", JWT_SECRET: "" } })).stdout.trim();
    const listed = await getJson(`${server.url}/functions/v1/executions-list`, { headers: { authorization: `Bearer ${token}`, "x-request-id": "day-one-list" } });
    expect(listed.status).toBe(200);
    expect(listed.headers.get("x-request-id")).toBe("day-one-list");
    const refused = await getJson(`${server.url}/functions/v1/executions-create`, { method: "POST", headers: { "x-request-id": "day-one-401" } });
    expect(refused.body).toEqual({ error: { code: "unauthorized", message: expect.any(String), requestId: "day-one-401" } });
    const unknown = await getJson(`${server.url}/functions/v1/no-such-function`);
    expect(unknown.body.error).toMatchObject({ code: "not_found", requestId: unknown.headers.get("x-request-id") });

    await until(() => server.output().includes(unknown.headers.get("x-request-id")!));
    const lines = server.output().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
    expect(lines.find((line) => line.requestId === "day-one-list")).toMatchObject({
      level: "info", msg: "request", function: "executions-list", method: "GET", path: "/executions-list", status: 200,
      durationMs: expect.any(Number), role: "authenticated", userId: DEMO_USER_ID,
    });
    expect(lines.find((line) => line.requestId === "day-one-401")).toMatchObject({ level: "warn", status: 401, role: null });
    expect(lines.find((line) => line.requestId === unknown.headers.get("x-request-id"))).toMatchObject({ path: "/functions/v1/no-such-function", status: 404 });
    // /health polls are debug lines: not at info.
    expect(lines.some((line) => line.path === "/health")).toBe(false);
  });

  it("reports a configured Temporal that does not answer as down: 200 'degraded', still serving", async () => {
    const degraded = await start({ DATABASE_URL: pgUrl, TEMPORAL_HTTP_URL: "http://127.0.0.1:9", PG_NET_POLL_MS: "0" });
    const { status, body } = await getJson(`${degraded.url}/health`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "degraded", temporal: { status: "down", url: "http://127.0.0.1:9", error: expect.any(String) }, sweeper: { status: "off" } });
    expect(degraded.output()).toContain("  Temporal    http://127.0.0.1:9 (namespace default, from TEMPORAL_HTTP_URL)");
    await degraded.stop();
  });
});

describe("DATA_DIR: one instance at a time, a crashed one's Temporal found and reused, npm run reset", () => {
  const dataDir = join(tmp, "data");
  const withTemporal = () => ({ DATABASE_URL: pgUrl, DATA_DIR: dataDir, START_TEMPORAL: "true", ET_CACHE_DIR: fakeCache, PG_NET_POLL_MS: "0" });
  const temporalPid = (output: string) => Number(/Temporal {4}dev server: gRPC 127\.0\.0\.1:\d+, HTTP API (\S+), UI \S+ \(pid (\d+)\)/.exec(output)?.[2]);

  it("keeps Temporal's file in DATA_DIR; a second instance is refused before it starts anything", async () => {
    const first = await start(withTemporal());
    const pid = temporalPid(first.output());
    expect(alive(pid)).toBe(true);
    expect(readFileSync(join(dataDir, "temporal.db"), "utf8")).toContain(`started by pid ${pid}`);
    expect(JSON.parse(readFileSync(join(dataDir, "dev-server.lock"), "utf8"))).toMatchObject({ pid: first.pid, url: first.url, temporal: { pid } });
    expect(first.output()).toContain(`  Data        ${dataDir} (everything npm start keeps; npm run reset deletes it)`);
    expect((await getJson(`${first.url}/health`)).body.temporal).toMatchObject({ status: "up", localDevServer: true });

    const second = await start(withTemporal(), 30_000).then(() => "started", (error: Error) => error.message);
    expect(second).toContain(`${dataDir} is in use by another dev server (pid ${first.pid}`);
    expect(second).not.toContain("starting on");
    expect(second).not.toContain("Temporal dev server");
    expect(readFileSync(join(dataDir, "temporal.db"), "utf8").trim().split("\n")).toHaveLength(1); // no second Temporal on the file

    expect(await npmReset(dataDir)).toEqual({ code: 1, output: expect.stringContaining(`is in use by a dev server (pid ${first.pid}`) });
    expect(existsSync(join(dataDir, "temporal.db"))).toBe(true);

    // A crash: the dev server dies, its Temporal dev server outlives it, the lock stays behind.
    await first.kill("SIGKILL");
    expect(alive(pid)).toBe(true);
    expect(JSON.parse(readFileSync(join(dataDir, "dev-server.lock"), "utf8")).pid).toBe(first.pid);

    const third = await start(withTemporal());
    const output = third.output();
    expect(output).toContain(`took over the lock of dev server pid ${first.pid}`);
    expect(output).toContain(`found a Temporal dev server (pid ${pid}) left running on ${join(dataDir, "temporal.db")} by an instance that is gone: reusing it`);
    expect(output).toContain(`Temporal    reusing the dev server (pid ${pid}) a previous instance left running; it stops with this one`);
    expect(temporalPid(output)).toBe(pid);
    expect((await getJson(`${third.url}/health`)).body.temporal).toMatchObject({ status: "up" });
    expect(readFileSync(join(dataDir, "temporal.db"), "utf8").trim().split("\n")).toHaveLength(1);

    expect(await third.stop()).toBe(0);
    await until(() => !alive(pid));
    expect(existsSync(join(dataDir, "dev-server.lock"))).toBe(false);
  });

  it("npm run reset deletes DATA_DIR once nothing uses it, and refuses a folder that holds other files", async () => {
    writeFileSync(join(dataDir, "dev-server.lock"), JSON.stringify({ pid: 999_999_999, startedAt: "long ago" })); // a dead instance's lock
    expect(await npmReset(dataDir)).toEqual({ code: 0, output: expect.stringContaining(`deleted ${dataDir}`) });
    expect(existsSync(dataDir)).toBe(false);

    const elsewhere = join(tmp, "not-a-data-dir");
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, "thesis.tex"), "");
    expect(await npmReset(elsewhere)).toEqual({ code: 1, output: expect.stringContaining("holds files npm start does not keep (thesis.tex)") });
    expect(existsSync(join(elsewhere, "thesis.tex"))).toBe(true);
  });
});

describe("the README", () => {
  it("its first example works when pasted as is (the port aside)", async () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Local use"));
    const example = /```\n([\s\S]*?)```/.exec(section)![1];
    expect(example).toContain("--user 11111111-1111-4111-8111-111111111111");
    expect(example).toContain(DEMO_WORKFLOW_ID);
    expect(example).not.toMatch(/<[a-z ]+>/); // no placeholder

    const server = await start({ DATABASE_URL: pgUrl });
    const port = new URL(server.url).port;
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !/JWT_SECRET/.test(key)) env[key] = value;
    const { stdout } = await run("sh", ["-c", example.replaceAll("127.0.0.1:54321", `127.0.0.1:${port}`)], { cwd: REPO_ROOT, env });
    const answers = stdout.replace(/}\s*{/g, "}\n{").trim().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
    expect(answers[0]).toMatchObject({ workflowId: DEMO_WORKFLOW_ID, createdBy: DEMO_USER_ID, status: "running" });
    expect(answers[1].data.map((execution: { id: string }) => execution.id)).toContain(answers[0].id);
    await server.stop();
  });
});
