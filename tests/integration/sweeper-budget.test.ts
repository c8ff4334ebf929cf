/**
 * Inside the Edge Runtime's limits (issue 9): one sweeper invocation stops itself inside its
 * time budget, reports what it left per phase, and the next invocation resumes where it
 * stopped. A backlog in every phase (deadlines of reported rows and of runs the tracker stops,
 * closed runs nobody reported, pending rows never dispatched, expired rows) that no single
 * budget covers is finished over several invocations, alternately through `sweep()` and the
 * timeout-sweeper function (its `budgetMs` body field), with nothing handled twice: the
 * per-invocation counts add up to exactly the backlog, and Temporal saw exactly one describe
 * of each closed run, one start of each pending row and one terminate of each overdue run.
 *
 * Real PostgreSQL (a database of its own), a real Temporal dev server and worker.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../shared/config.ts";
import { createRuntime } from "../../shared/http/runtime.ts";
import { sweep, type SweepOptions, type SweepReport } from "../../shared/sweeper.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import { createApp } from "../../supabase/functions/timeout-sweeper/app.ts";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql } from "../support/postgres.ts";
import { startTemporalDevServer, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";
import { until } from "../support/wait.ts";

const dbName = `et_sweeper_budget_${randomUUID().slice(0, 8)}`;
const taskQueue = `budget-${randomUUID().slice(0, 8)}`;
const webhookSecret = `whsec-${randomUUID()}`;
let url: string;
let sql: Sql;
let temporalServer: TemporalDevServer;
let worker: TestWorker;
let direct: TemporalGateway;
/** The sweeper's gateway: Temporal's, counting every call per workflow id. */
let temporal: TemporalGateway;
const calls = { describe: new Map<string, number>(), start: new Map<string, number>(), terminate: new Map<string, number>() };
const count = (kind: keyof typeof calls, workflowId: string) => calls[kind].set(workflowId, (calls[kind].get(workflowId) ?? 0) + 1);
const logged: string[] = [];
const log = (message: string, error?: unknown) => logged.push(`${message} ${error ?? ""}`);

const backlog = { overdueReported: 1200, overdueRuns: 15, closedRuns: 40, pending: 30, expired: 600 };
const ids = { overdueReported: [] as string[], overdueRuns: [] as string[], closedRuns: [] as string[], pending: [] as string[] };
const budgetMs = 250;
const functionBody = { batchSize: 25, budgetMs, recheckAfterSeconds: 3600, redispatchAfterSeconds: 0, retentionDays: 30 };
const options: SweepOptions = { ...functionBody, concurrency: 4 };

beforeAll(async () => {
  url = await createMigratedDatabase(databaseUrl(), dbName);
  sql = connect(url);
  temporalServer = await startTemporalDevServer();
  worker = await startTestWorker({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue });
  direct = createHttpTemporalGateway({ baseUrl: temporalServer.httpUrl, namespace: temporalServer.namespace });
  temporal = {
    start: (request) => (count("start", request.workflowId), direct.start(request)),
    describe: (workflowId, runId) => (count("describe", workflowId), direct.describe(workflowId, runId)),
    cancel: (workflowId, runId, reason) => direct.cancel(workflowId, runId, reason),
    terminate: (workflowId, runId, reason) => (count("terminate", workflowId), direct.terminate(workflowId, runId, reason)),
    close: () => direct.close(),
  };

  const users = [await createUser(sql), await createUser(sql), await createUser(sql)];
  const recorded = await Promise.all(users.map((user) => createWorkflow(sql, user)));
  const completes = await Promise.all(users.map((user) => createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue })));
  const workflowOf = (list: string[], i: number) => ({ workflow_id: list[i % users.length], created_by: users[i % users.length] });
  const insert = async (rows: Record<string, unknown>[]) =>
    (await sql`insert into public.workflow_executions ${sql(rows as Record<string, string>[])} returning id`).map((row) => row.id as string);

  // Deadlines of rows users reported (timed out in the database only), staggered so the order is known.
  const now = Date.now();
  ids.overdueReported = await insert(Array.from({ length: backlog.overdueReported }, (_, i) => ({
    ...workflowOf(recorded, i), status: "running", timeout_at: new Date(now - 3_600_000 + i * 1000).toISOString(),
  })));
  // Deadlines of runs an app's backend registered: stop requests, terminated in Temporal.
  const runIds = await Promise.all(Array.from({ length: backlog.overdueRuns }, async () => {
    const workflowId = `overdue-${randomUUID()}`;
    await direct.start({ workflowId, workflowType: "longRunningWorkflow", taskQueue, args: [null] });
    return workflowId;
  }));
  ids.overdueRuns = await insert(runIds.map((workflowId, i) => ({
    ...workflowOf(completes, i), status: "running", temporal_workflow_id: workflowId, timeout_at: new Date(now - 60_000).toISOString(),
  })));
  // Closed runs nobody reported.
  const closed = await Promise.all(Array.from({ length: backlog.closedRuns }, async (_, i) => {
    const workflowId = `closed-${randomUUID()}`;
    await direct.start({ workflowId, workflowType: "completesWorkflow", taskQueue, args: [{ sleepMs: 0, i }] });
    return workflowId;
  }));
  // Started two hours ago: due for a comparison with Temporal (recheckAfterSeconds is an hour).
  ids.closedRuns = await insert(closed.map((workflowId, i) => ({
    ...workflowOf(completes, i), status: "running", temporal_workflow_id: workflowId, started_at: new Date(now - 7_200_000).toISOString(),
  })));
  // Pending rows never dispatched (no dispatch lease, no webhook in this database).
  ids.pending = await insert(Array.from({ length: backlog.pending }, (_, i) => ({ ...workflowOf(completes, i), status: "pending" })));
  // Expired.
  await insert(Array.from({ length: backlog.expired }, (_, i) => ({
    ...workflowOf(recorded, i), status: "completed",
    started_at: new Date(now - 41 * 86_400_000).toISOString(), completed_at: new Date(now - 40 * 86_400_000).toISOString(),
  })));
  for (const workflowId of closed) await until(() => direct.describe(workflowId), (d) => d?.status === "completed", 30_000);
  await sql`analyze public.workflow_executions`;
}, 900_000);

afterAll(async () => {
  await worker?.stop();
  await temporalServer?.stop();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

/** Every other invocation through the timeout-sweeper function, as pg_cron calls it. */
function functionInvoker() {
  const config = loadConfig((name) => ({ DATABASE_URL: url, SUPABASE_JWT_SECRET: "unused-secret", WEBHOOK_SECRET: webhookSecret })[name]);
  const runtime = createRuntime(config, { sql, temporal, log });
  const app = createApp(runtime);
  return async (body: Record<string, unknown>): Promise<SweepReport> => {
    const response = await app.request("/timeout-sweeper", {
      method: "POST",
      headers: { "content-type": "application/json", "x-webhook-secret": webhookSecret },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return await response.json() as SweepReport;
  };
}

describe("a backlog larger than one time budget", () => {
  const reports: SweepReport[] = [];

  it("is finished over several invocations, each inside its budget, each saying what it left", async () => {
    const viaFunction = functionInvoker();
    const cpuBefore = process.cpuUsage();
    for (let invocation = 0; invocation < 200; invocation++) {
      const report = invocation % 2 === 0 ? await sweep({ sql, temporal, log }, options) : await viaFunction(functionBody);
      reports.push(report);
      expect(report.budgetMs).toBe(budgetMs);
      // A batch or row started before the budget ran out finishes: a little slack, never a whole backlog.
      expect(report.elapsedMs).toBeLessThan(budgetMs + 3_000);
      if (invocation === 0) {
        // Resumes where it stopped: the deadlines handled first are exactly the oldest ones.
        const [order] = await sql`
          select max(timeout_at) filter (where status = 'timed_out') as last_done,
                 min(timeout_at) filter (where status = 'running') as first_left
            from public.workflow_executions where id = any(${sql.array(ids.overdueReported)}::uuid[])`;
        expect(order.last_done.getTime()).toBeLessThan(order.first_left.getTime());
      }
      if (report.complete) break;
      const left = report.deadlines.left + report.reconcile.left + report.redispatch.left + report.stops.left + report.retention.left;
      // (Stop requests sent and waiting for Temporal's confirmation are not due yet: not counted as left.)
      if (report.stops.stoppedBy !== "budget") expect(left, JSON.stringify(report)).toBeGreaterThan(0);
    }
    const last = reports[reports.length - 1];
    // Stops sent in the last invocations may still wait for Temporal's confirmation: a few more runs confirm them.
    await until(async () => {
      reports.push(await sweep({ sql, temporal, log }, options));
      const [{ n }] = await sql`select count(*)::int as n from public.workflow_executions where id = any(${sql.array(ids.overdueRuns)}::uuid[]) and status = 'timed_out'`;
      return n;
    }, (n) => n === backlog.overdueRuns, 20_000, 500);
    const cpu = process.cpuUsage(cpuBefore);
    expect(last.complete, JSON.stringify(last)).toBe(true);
    expect(reports.length).toBeGreaterThan(2);
    const incomplete = reports.filter((report) => !report.complete);
    console.log(`${reports.length} invocations of a ${budgetMs} ms budget (${incomplete.length} stopped by it); elapsed ms: ${reports.map((r) => r.elapsedMs).join(", ")}`);
    console.log(`left after each: ${reports.map((r) => `${r.deadlines.left}/${r.reconcile.left}/${r.redispatch.left}/${r.stops.left}/${r.retention.left}`).join(" ")} (deadlines/reconcile/redispatch/stops/retention)`);
    console.log(`test process CPU over all invocations: ${Math.round((cpu.user + cpu.system) / 1000)} ms (user+system, includes the Temporal worker of this process)`);
  });

  it("handled each row exactly once", async () => {
    const total = (pick: (report: SweepReport) => number) => reports.reduce((n, report) => n + pick(report), 0);
    const failures = total((r) => r.deadlines.failures + r.reconcile.failures + r.redispatch.failures + r.stops.failures + r.retention.failures);
    expect(failures, logged.join("\n")).toBe(0);

    expect(total((r) => r.deadlines.timedOut)).toBe(backlog.overdueReported);
    expect(total((r) => r.deadlines.stopRequested)).toBe(backlog.overdueRuns);
    expect(total((r) => r.reconcile.completed)).toBe(backlog.closedRuns);
    expect(total((r) => r.redispatch.started)).toBe(backlog.pending);
    expect(total((r) => r.stops.requests?.sent.terminate ?? 0)).toBe(backlog.overdueRuns);
    expect(total((r) => r.retention.deleted)).toBe(backlog.expired);

    const [rows] = await sql`
      select count(*) filter (where id = any(${sql.array(ids.overdueReported)}::uuid[]) and status = 'timed_out')::int as reported_timed_out,
             count(*) filter (where id = any(${sql.array(ids.overdueRuns)}::uuid[]) and status = 'timed_out')::int as runs_timed_out,
             count(*) filter (where id = any(${sql.array(ids.closedRuns)}::uuid[]) and status = 'completed')::int as adopted,
             count(*) filter (where id = any(${sql.array(ids.pending)}::uuid[]) and status = 'running' and temporal_run_id is not null)::int as dispatched,
             count(*) filter (where status = 'completed' and started_at < now() - interval '30 days')::int as expired_left
        from public.workflow_executions`;
    expect(rows).toEqual({
      reported_timed_out: backlog.overdueReported, runs_timed_out: backlog.overdueRuns, adopted: backlog.closedRuns, dispatched: backlog.pending, expired_left: 0,
    });

    // What Temporal saw: one describe per closed run, one start per pending row, one terminate per overdue run.
    const closedIds = (await sql`select temporal_workflow_id from public.workflow_executions where id = any(${sql.array(ids.closedRuns)}::uuid[])`).map((r) => r.temporal_workflow_id);
    expect(new Set(closedIds.map((id) => calls.describe.get(id)))).toEqual(new Set([1]));
    const pendingIds = (await sql`select temporal_workflow_id from public.workflow_executions where id = any(${sql.array(ids.pending)}::uuid[])`).map((r) => r.temporal_workflow_id);
    expect(new Set(pendingIds.map((id) => calls.start.get(id)))).toEqual(new Set([1]));
    const overdueIds = (await sql`select temporal_workflow_id from public.workflow_executions where id = any(${sql.array(ids.overdueRuns)}::uuid[])`).map((r) => r.temporal_workflow_id);
    expect(new Set(overdueIds.map((id) => calls.terminate.get(id)))).toEqual(new Set([1]));
    for (const workflowId of overdueIds) expect((await direct.describe(workflowId))?.status).toBe("terminated");
    console.log(`handled once each: ${backlog.overdueReported} reported deadlines, ${backlog.overdueRuns} stopped runs, ${backlog.closedRuns} adopted runs (1 describe each), ${backlog.pending} dispatched (1 start each), ${backlog.expired} deleted`);
  });

  it("refuses a budget the Edge Runtime would not allow", async () => {
    const config = loadConfig((name) => ({ DATABASE_URL: url, SUPABASE_JWT_SECRET: "unused-secret", WEBHOOK_SECRET: webhookSecret })[name]);
    const app = createApp(createRuntime(config, { sql, temporal, log }));
    for (const bad of [0, 99, 390_001, 1.5, "25000"]) {
      const response = await app.request("/timeout-sweeper", {
        method: "POST",
        headers: { "content-type": "application/json", "x-webhook-secret": webhookSecret },
        body: JSON.stringify({ budgetMs: bad }),
      });
      expect(response.status, String(bad)).toBe(400);
      expect(JSON.stringify(await response.json())).toContain("budgetMs");
    }
  });
});
