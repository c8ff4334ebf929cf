/**
 * One bad row never stops the sweeper, for anyone (issue 7 §2). Poisoned rows of one tenant
 * (non-finite times, also under a constraint added NOT VALID that refuses every update of a
 * legacy row; Temporal results Postgres cannot store; a row whose Temporal workflow vanished;
 * a Temporal that answers garbage) are mixed into a sweep over many healthy rows of four other
 * tenants in every phase. The healthy rows are all handled in the first sweep; each poisoned
 * row is counted, logged with its id and backed off, then parked with an errorMessage after the
 * bounded attempts, and never tried again.
 *
 * Real PostgreSQL (a database of its own: the sweeper sees only these rows), a real Temporal
 * dev server and worker. "Garbage" comes from a small HTTP server on 127.0.0.1 in front of the
 * real Temporal HTTP API: it forwards every request, except those naming a poisoned workflow
 * id, which it answers with nonsense (a bad upstream, not a model of Temporal's behaviour).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweep, type SweepOptions, type SweepReport } from "../../shared/sweeper.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql } from "../support/postgres.ts";
import { startTemporalDevServer, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";
import { until } from "../support/wait.ts";

const dbName = `et_sweeper_poison_${randomUUID().slice(0, 8)}`;
const taskQueue = `poison-${randomUUID().slice(0, 8)}`;
let sql: Sql;
let temporalServer: TemporalDevServer;
let worker: TestWorker;
/** Straight to Temporal (the test's own calls). */
let direct: TemporalGateway;
/** Through the garbage proxy (the sweeper's). */
let temporal: TemporalGateway;
let proxy: Server;
const logged: string[] = [];
const log = (message: string, error?: unknown) => logged.push(`${message} ${error instanceof Error ? error.message : error ?? ""}`);

// ---------------------------------------------------------------------------------------------
// The garbage proxy
// ---------------------------------------------------------------------------------------------

type Garbage = "not-json" | "bad-base64-result" | "server-error" | "unknown-status" | "start-not-json";
/** Workflow id -> what the proxy answers for it instead of Temporal. */
const garbage = new Map<string, Garbage>();
const garbageHits = new Map<string, number>();

function answerGarbage(kind: Garbage, request: IncomingMessage, response: ServerResponse, workflowId: string): void {
  const json = (status: number, body: unknown) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify(body));
  };
  switch (kind) {
    case "not-json":
    case "start-not-json":
      response.writeHead(200, { "content-type": "text/html" });
      return void response.end("<html><body>\u0000 upstream says hello</body></html>");
    case "server-error":
      response.writeHead(502, { "content-type": "text/plain" });
      return void response.end("bad gateway \u0000\u0001");
    case "unknown-status":
      return json(200, { workflowExecutionInfo: { status: 424242, execution: { workflowId, runId: 42 }, closeTime: "never" } });
    case "bad-base64-result":
      if (request.url?.includes("/history")) {
        return json(200, {
          history: {
            events: [{
              workflowExecutionCompletedEventAttributes: {
                result: { payloads: [{ metadata: { encoding: btoa("json/plain") }, data: "!!! not base64 \u0000 !!!" }] },
              },
            }],
          },
        });
      }
      return json(200, {
        workflowExecutionInfo: { status: "WORKFLOW_EXECUTION_STATUS_COMPLETED", execution: { workflowId, runId: "r-1" }, closeTime: "yesterday" },
      });
  }
}

async function startGarbageProxy(upstream: string): Promise<string> {
  proxy = createServer(async (request, response) => {
    const match = /\/workflows\/([^/?]+)/.exec(request.url ?? "");
    const workflowId = match ? decodeURIComponent(match[1]) : "";
    const kind = garbage.get(workflowId);
    if (kind) {
      garbageHits.set(workflowId, (garbageHits.get(workflowId) ?? 0) + 1);
      return answerGarbage(kind, request, response, workflowId);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    try {
      const forwarded = await fetch(`${upstream}${request.url}`, {
        method: request.method,
        headers: Object.fromEntries(Object.entries(request.headers).filter(([name]) => !["host", "content-length", "connection"].includes(name)) as [string, string][]),
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      response.writeHead(forwarded.status, { "content-type": forwarded.headers.get("content-type") ?? "application/json" });
      response.end(Buffer.from(await forwarded.arrayBuffer()));
    } catch (error) {
      response.writeHead(599);
      response.end(String(error));
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

const tenants: string[] = [];
let mallory: string;
const healthy = { overdue: [] as string[], closedRuns: [] as string[], pending: [] as string[], expired: [] as string[] };
const poison = {} as Record<
  | "infiniteStartOverdue" | "infiniteDeadline" | "infiniteStartRunning" | "infiniteStartPending" | "infiniteEnd"
  | "nulResult" | "nulFailure" | "vanished" | "garbageNotJson" | "garbageBase64" | "garbageServerError" | "garbageStatus" | "garbageStart",
  string
>;

const options: SweepOptions = { batchSize: 20, recheckAfterSeconds: 0, redispatchAfterSeconds: 0, retentionDays: 30, retryAfterSeconds: 0, maxAttempts: 3 };
const sweepNow = () => sweep({ sql, temporal, log }, options);
const rowOf = async (id: string) => (await sql`select * from public.workflow_executions where id = ${id}`)[0];

/** A row inserted as the superuser with the given columns; returns its id. */
async function insertRow(owner: string, workflowId: string, columns: Record<string, unknown>): Promise<string> {
  const [row] = await sql`insert into public.workflow_executions ${sql({ workflow_id: workflowId, created_by: owner, ...columns } as Record<string, string>)} returning id`;
  return row.id;
}

/** A run in Temporal (straight, not through the proxy) that has closed; returns its workflow id. */
async function closedRun(workflowType: "completesWorkflow" | "failsWorkflow", input: unknown, prefix = "run"): Promise<string> {
  const workflowId = `${prefix}-${randomUUID()}`;
  await direct.start({ workflowId, workflowType, taskQueue, args: [input] });
  return workflowId;
}

/**
 * Sets values the current schema refuses, as rows from before its constraints would hold them:
 * the table's triggers are off for this statement, and every CHECK that names the column is
 * dropped first and (unless `notValid` is false: a database without the constraint) added back
 * NOT VALID, so that, as for a legacy row, every later UPDATE of the row is refused. A test-only
 * constraint stands in when no migration has one yet.
 */
async function injectLegacyValues(id: string, values: Record<string, string>, { notValid = true } = {}): Promise<void> {
  for (const column of Object.keys(values)) {
    const checks = await sql<{ name: string; definition: string }[]>`
      select conname as name, pg_get_constraintdef(oid) as definition from pg_constraint
       where conrelid = 'public.workflow_executions'::regclass and contype = 'c'
         and pg_get_constraintdef(oid) ~ ${`\\m${column}\\M`}`;
    for (const check of checks) await sql.unsafe(`alter table public.workflow_executions drop constraint "${check.name}"`);
    await sql.unsafe(`alter table public.workflow_executions disable trigger user`);
    // The value as SQL text: postgres.js would turn a timestamptz parameter into a JS Date first.
    await sql.unsafe(`update public.workflow_executions set ${column} = '${values[column]}'::timestamptz where id = $1`, [id]);
    await sql.unsafe(`alter table public.workflow_executions enable trigger user`);
    if (!notValid) continue;
    const restored = checks.length ? checks : [{ name: `test_legacy_finite_${column}`, definition: `CHECK (${column} IS NULL OR isfinite(${column}))` }];
    for (const check of restored) {
      await sql.unsafe(`alter table public.workflow_executions add constraint "${check.name}" ${check.definition.replace(/ NOT VALID$/, "")} not valid`);
    }
  }
}

beforeAll(async () => {
  const url = await createMigratedDatabase(databaseUrl(), dbName);
  sql = connect(url);
  temporalServer = await startTemporalDevServer();
  worker = await startTestWorker({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue });
  direct = createHttpTemporalGateway({ baseUrl: temporalServer.httpUrl, namespace: temporalServer.namespace });
  temporal = createHttpTemporalGateway({ baseUrl: await startGarbageProxy(temporalServer.httpUrl), namespace: temporalServer.namespace, timeoutMs: 5_000 });

  // Four healthy tenants, a few rows in every phase each.
  for (let t = 0; t < 4; t++) {
    const user = await createUser(sql);
    tenants.push(user);
    const recorded = await createWorkflow(sql, user);
    const started = await createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue });
    for (let i = 0; i < 12; i++) {
      // Deadline passed, no Temporal run: timed out in the database only.
      healthy.overdue.push(await insertRow(user, recorded, { status: "running", timeout_at: new Date(Date.now() - 60_000).toISOString() }));
    }
    for (let i = 0; i < 6; i++) {
      // A run an app's backend registered (service role) that closed with nobody reporting it.
      const workflowId = await closedRun("completesWorkflow", { sleepMs: 0, tenant: t, i });
      healthy.closedRuns.push(await insertRow(user, started, { status: "running", temporal_workflow_id: workflowId }));
    }
    for (let i = 0; i < 4; i++) healthy.pending.push(await insertRow(user, started, { status: "pending" }));
    for (let i = 0; i < 6; i++) {
      healthy.expired.push(await insertRow(user, recorded, {
        status: "completed", started_at: new Date(Date.now() - 41 * 86_400_000).toISOString(), completed_at: new Date(Date.now() - 40 * 86_400_000).toISOString(),
      }));
    }
  }

  // Mallory's poison.
  mallory = await createUser(sql);
  const recorded = await createWorkflow(sql, mallory);
  const completes = await createWorkflow(sql, mallory, { temporalWorkflowType: "completesWorkflow", taskQueue });
  const fails = await createWorkflow(sql, mallory, { temporalWorkflowType: "failsWorkflow", taskQueue });
  const overdue = { status: "running", timeout_at: new Date(Date.now() - 120_000).toISOString() };

  poison.infiniteStartOverdue = await insertRow(mallory, recorded, overdue);
  await injectLegacyValues(poison.infiniteStartOverdue, { started_at: "-infinity" });
  poison.infiniteDeadline = await insertRow(mallory, recorded, { status: "running" });
  await injectLegacyValues(poison.infiniteDeadline, { timeout_at: "-infinity" }, { notValid: false });
  poison.infiniteStartRunning = await insertRow(mallory, completes, { status: "running", temporal_workflow_id: await closedRun("completesWorkflow", { sleepMs: 0 }) });
  await injectLegacyValues(poison.infiniteStartRunning, { started_at: "-infinity" });
  poison.infiniteStartPending = await insertRow(mallory, completes, { status: "pending" });
  await injectLegacyValues(poison.infiniteStartPending, { started_at: "-infinity" });
  poison.infiniteEnd = await insertRow(mallory, recorded, { status: "completed" });
  await injectLegacyValues(poison.infiniteEnd, { started_at: "-infinity" });

  poison.nulResult = await insertRow(mallory, completes, { status: "running", temporal_workflow_id: await closedRun("completesWorkflow", { sleepMs: 0, text: "a\u0000b" }) });
  poison.nulFailure = await insertRow(mallory, fails, { status: "running", temporal_workflow_id: await closedRun("failsWorkflow", { message: "disk\u0000full" }) });
  poison.vanished = await insertRow(mallory, completes, { status: "running", temporal_workflow_id: `vanished-${randomUUID()}` });
  for (const [key, kind] of [["garbageNotJson", "not-json"], ["garbageBase64", "bad-base64-result"], ["garbageServerError", "server-error"], ["garbageStatus", "unknown-status"]] as const) {
    const workflowId = `garbage-${kind}-${randomUUID()}`;
    garbage.set(workflowId, kind);
    poison[key] = await insertRow(mallory, completes, { status: "running", temporal_workflow_id: workflowId });
  }
  poison.garbageStart = await insertRow(mallory, completes, { status: "pending" });
  garbage.set(`execution-${poison.garbageStart}`, "start-not-json");

  // Every run the test started has closed before the first sweep.
  for (const row of await sql`select temporal_workflow_id from public.workflow_executions where status = 'running' and temporal_workflow_id like 'run-%'`) {
    await until(() => direct.describe(row.temporal_workflow_id), (d) => d !== null && d.status !== "running", 30_000);
  }
}, 900_000);

afterAll(async () => {
  await worker?.stop();
  await temporalServer?.stop();
  await new Promise((resolve) => proxy?.close(resolve));
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const failuresOf = (report: SweepReport) =>
  ({ deadlines: report.deadlines.failures, reconcile: report.reconcile.failures, redispatch: report.redispatch.failures, retention: report.retention.failures });

describe("a sweep over poisoned and healthy rows", () => {
  let first: SweepReport;

  it("handles every healthy row of the other tenants in its first run", async () => {
    first = await sweepNow();
    console.log(`first sweep: ${JSON.stringify(first)}`);

    const statuses = async (ids: string[]) =>
      (await sql`select status, count(*)::int as n from public.workflow_executions where id = any(${sql.array(ids)}::uuid[]) group by status`)
        .reduce((acc, row) => ({ ...acc, [row.status]: row.n }), {} as Record<string, number>);
    expect(await statuses(healthy.overdue)).toEqual({ timed_out: healthy.overdue.length });
    expect(await statuses(healthy.closedRuns)).toEqual({ completed: healthy.closedRuns.length });
    expect(await statuses(healthy.pending)).toEqual({ running: healthy.pending.length });
    expect(await statuses(healthy.expired)).toEqual({});
    const adopted = await rowOf(healthy.closedRuns[0]);
    expect(adopted.output).toMatchObject({ ok: true });
    // Each dispatched pending row has exactly its one run in Temporal.
    for (const id of healthy.pending) {
      const row = await rowOf(id);
      expect((await direct.describe(row.temporal_workflow_id))?.runId).toBe(row.temporal_run_id);
    }
    console.log(`healthy rows handled: ${healthy.overdue.length} timed out, ${healthy.closedRuns.length} adopted, ${healthy.pending.length} dispatched, ${healthy.expired.length} deleted, over ${tenants.length} tenants`);

    expect(first.deadlines.timedOut).toBeGreaterThanOrEqual(healthy.overdue.length);
    expect(first.reconcile.completed).toBeGreaterThanOrEqual(healthy.closedRuns.length);
    expect(first.redispatch.started).toBeGreaterThanOrEqual(healthy.pending.length);
    expect(first.retention.deleted).toBeGreaterThanOrEqual(healthy.expired.length);
    expect(first.complete).toBe(true);
    expect(first.temporalReachable).toBe(true);
  });

  it("counts, lists and logs every poisoned row that failed, per phase", () => {
    const failedIds = [first.deadlines, first.reconcile, first.redispatch, first.retention].flatMap((phase) => phase.failedIds);
    const mustFail = [
      poison.infiniteStartOverdue, poison.infiniteStartRunning, poison.infiniteStartPending, poison.nulResult, poison.nulFailure, poison.vanished,
      poison.garbageNotJson, poison.garbageBase64, poison.garbageServerError, poison.garbageStart,
    ];
    for (const id of mustFail) {
      expect(failedIds).toContain(id);
      expect(logged.some((line) => line.includes(id))).toBe(true);
    }
    expect(first.deadlines.failedIds).toContain(poison.infiniteStartOverdue);
    expect(first.reconcile.failedIds).toEqual(expect.arrayContaining([poison.nulResult, poison.nulFailure, poison.vanished, poison.garbageBase64]));
    expect(first.reconcile.unknownToTemporal).toBe(1);
    expect(first.redispatch.failedIds).toContain(poison.garbageStart);
    expect(garbageHits.size).toBeGreaterThan(0);
    console.log(`first sweep failures per phase: ${JSON.stringify(failuresOf(first))}; ${logged.length} log lines`);
  });

  it("tolerates garbage that still means something, and poison it can handle", async () => {
    // A status Temporal does not have reads as still open: the row is left running, untouched.
    expect((await rowOf(poison.garbageStatus)).status).toBe("running");
    // A deadline of -infinity is simply overdue.
    expect((await rowOf(poison.infiniteDeadline)).status).toBe("timed_out");
    // A terminal row that started at -infinity is expired (retention goes by started_at), and deleted.
    expect(await rowOf(poison.infiniteEnd)).toBeUndefined();
  });

  it("backs off and retries a failed row, parks it after the bounded attempts with an errorMessage, then leaves it alone", async () => {
    const second = await sweepNow();
    const third = await sweepNow();
    console.log(`second sweep failures: ${JSON.stringify(failuresOf(second))}, parked ${second.reconcile.parked}; third: ${JSON.stringify(failuresOf(third))}`);
    const parked = await sql`select execution_id, phase, attempts, parked_at, last_error from public.execution_sweep_failures where parked_at is not null`;
    const parkedIds = parked.map((row) => row.execution_id);
    for (const id of [poison.infiniteStartOverdue, poison.infiniteStartRunning, poison.infiniteStartPending, poison.nulResult, poison.nulFailure, poison.vanished, poison.garbageNotJson, poison.garbageBase64, poison.garbageServerError, poison.garbageStart]) {
      expect(parkedIds).toContain(id);
    }
    for (const row of parked) expect(row.attempts).toBe(3);
    const totalParked = [first, second, third].reduce((n, r) => n + r.deadlines.parked + r.reconcile.parked + r.redispatch.parked + r.retention.parked, 0);
    expect(totalParked).toBe(parked.length);

    // The owner sees why: a clear errorMessage on each parked live row that can still be written.
    const nul = await rowOf(poison.nulResult);
    expect(nul.status).toBe("running");
    expect(nul.error_message).toMatch(/gave up trying to record the outcome of this execution's Temporal run after 3 failed attempts/);
    expect(nul.error_message).toMatch(/22P05|Unicode/);
    expect((await rowOf(poison.vanished)).error_message).toMatch(/Temporal has no workflow/);
    expect((await rowOf(poison.garbageStart)).error_message).toMatch(/gave up trying to start this execution in Temporal/);
    // A legacy row no UPDATE may touch (a NOT VALID check) is parked in the bookkeeping alone.
    expect(parked.find((row) => row.execution_id === poison.infiniteStartOverdue)?.phase).toBe("deadlines");

    // Parked rows are not tried again; new healthy rows still are.
    const parkedGarbage = [poison.garbageNotJson, poison.garbageBase64, poison.garbageServerError].map((id) => id);
    const garbageIdOf = async (id: string) => (await rowOf(id)).temporal_workflow_id as string;
    const hitsOf = async () => Promise.all([...parkedGarbage.map(garbageIdOf), Promise.resolve(`execution-${poison.garbageStart}`)].map(async (w) => garbageHits.get(await w) ?? 0));
    const hitsBefore = await hitsOf();
    const later = await insertRow(tenants[0], await createWorkflow(sql, tenants[0]), { status: "running", timeout_at: new Date(Date.now() - 1000).toISOString() });
    const fourth = await sweepNow();
    expect(failuresOf(fourth)).toEqual({ deadlines: 0, reconcile: 0, redispatch: 0, retention: 0 });
    expect(await hitsOf()).toEqual(hitsBefore); // no parked row reaches Temporal again
    expect((await rowOf(later)).status).toBe("timed_out");
    console.log(`parked: ${parked.length} rows (${parked.map((row) => row.phase).join(", ")}); fourth sweep: no failures, the new overdue row timed out`);
  });
});
