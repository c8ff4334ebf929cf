/**
 * The README's end-to-end flow on `npm start`: the embedded database, the local Temporal dev
 * server the dev server starts itself, and the demo worker (`npm run demo-worker`). A run is
 * dispatched, completes, and shows in list and stats; a run that hangs ends timed_out; a
 * pending row inserted straight into the database is dispatched through the webhook trigger.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import postgres from "postgres";
import { type DevServerProcess, startDevServer } from "../support/dev-server.ts";
import { REPO_ROOT } from "../support/postgres.ts";
import { ensureTemporalBinary } from "../support/temporal-server.ts";
import { userToken } from "../support/tokens.ts";
import { until as untilWithin } from "../support/wait.ts";

const until = <T>(probe: () => Promise<T>, done: (value: T) => boolean) => untilWithin(probe, done, 30_000, 250);

const DEMO_USER = "11111111-1111-4111-8111-111111111111";
const DISPATCHED_WORKFLOW = "33333333-3333-4333-8333-333333333333";
const dataDir = mkdtempSync(join(tmpdir(), "et-demo-"));
let server: DevServerProcess;
let worker: ChildProcess;
let token: string;

beforeAll(async () => {
  ensureTemporalBinary();
  server = await startDevServer({
    DATA_DIR: join(dataDir, "pglite"),
    SWEEP_INTERVAL_MS: "500",
    SWEEP_RECHECK_SECONDS: "1",
    ET_CACHE_DIR: process.env.ET_CACHE_DIR ?? "",
  });
  const address = /gRPC (127\.0\.0\.1:\d+)/.exec(server.output())?.[1];
  expect(address, server.output()).toBeTruthy();
  worker = spawn(process.execPath, [join(REPO_ROOT, "local", "demo-worker.mjs")], {
    cwd: REPO_ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: address, NODE_OPTIONS: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (output.includes("demo worker: polling")) resolve();
    };
    worker.stdout!.on("data", onData);
    worker.stderr!.on("data", onData);
    worker.once("exit", (code) => reject(new Error(`demo worker exited (${code}):\n${output}`)));
  });
  token = await userToken(DEMO_USER);
}, 900_000);

afterAll(async () => {
  worker?.kill("SIGTERM");
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const call = async (path: string, init: RequestInit = {}) => {
  const response = await fetch(`${server.url}/functions/v1/${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
};


describe("npm start with Temporal", () => {
  it("dispatches a run, which completes and shows in list and stats", async () => {
    const created = await call("executions-create", { method: "POST", body: JSON.stringify({ workflowId: DISPATCHED_WORKFLOW, input: { name: "Ada", ms: 100 } }) });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe("running");
    expect(created.body.temporalRunId).toBeTruthy();

    const done = await until(() => call(`executions-list/${created.body.id}`), (r) => r.body.status === "completed");
    expect(done.body.status).toBe("completed");
    expect(done.body.output.greeting).toBe("hello Ada");

    const list = await call(`executions-list?workflowId=${DISPATCHED_WORKFLOW}&status=completed`);
    expect(list.body.data.map((e: { id: string }) => e.id)).toContain(created.body.id);
    const stats = await call(`executions-stats?workflowId=${DISPATCHED_WORKFLOW}`);
    expect(stats.body.byStatus.completed).toBeGreaterThanOrEqual(1);
    expect(stats.body.successRate).toBeGreaterThan(0);
  });

  it("ends a run that hangs as timed_out", async () => {
    const created = await call("executions-create", { method: "POST", body: JSON.stringify({ workflowId: DISPATCHED_WORKFLOW, input: { hang: true }, timeoutSeconds: 2 }) });
    expect(created.status).toBe(201);
    const ended = await until(() => call(`executions-list/${created.body.id}`), (r) => r.body.status === "timed_out");
    expect(ended.body.status).toBe("timed_out");
    expect(ended.body.errorMessage).toMatch(/timed out/);
  });

  it("dispatches a pending row an app inserted directly (database webhook through the pg_net stand-in)", async () => {
    const url = /Database\s+(postgres:\/\/\S+)/.exec(server.output())?.[1];
    expect(url).toBeTruthy();
    const sql = postgres(url!, { max: 1, prepare: false, onnotice: () => {} });
    try {
      const [row] = await sql.begin(async (tx) => {
        await tx`select set_config('role', 'authenticated', true),
                        set_config('request.jwt.claims', ${JSON.stringify({ sub: DEMO_USER, role: "authenticated" })}, true)`;
        return await tx`insert into public.workflow_executions (workflow_id, status, input)
                        values (${DISPATCHED_WORKFLOW}, 'pending', ${sql.json({ name: "direct", ms: 50 })}) returning id`;
      });
      const done = await until(() => call(`executions-list/${row.id}`), (r) => r.body.status === "completed");
      expect(done.body.status).toBe("completed");
      expect(done.body.output.greeting).toBe("hello direct");
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
