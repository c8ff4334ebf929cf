/**
 * Fault tier: processes that die around Temporal effects. A worker killed (SIGKILL) mid-run;
 * the functions server killed (SIGKILL) mid-dispatch; several sweepers at once over every kind
 * of due effect. A Temporal dev server of this file's own, worker processes, a functions server
 * process on Deno; counts from Temporal's history.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExecutionService } from "../../shared/service.ts";
import { sweep, type SweepReport } from "../../shared/sweeper.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import { asRole, connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql, userCaller } from "../support/postgres.ts";
import { userToken } from "../support/tokens.ts";
import { until } from "../support/wait.ts";
import {
  type KillableTemporal,
  runsOf,
  startFunctionsProcess,
  startKillableTemporal,
  startWorkerProcess,
  temporalEvents,
  type WorkerProcess,
} from "./support.ts";

const dbName = `et_faults_processes_${randomUUID().slice(0, 8)}`;
let url: string;
let sql: Sql;
let temporalServer: KillableTemporal;
let temporal: TemporalGateway;
let user: string;
const workers: WorkerProcess[] = [];
const quiet = () => {};

beforeAll(async () => {
  const [migrated, server] = await Promise.all([createMigratedDatabase(databaseUrl(), dbName), startKillableTemporal()]);
  url = migrated;
  sql = connect(url);
  temporalServer = server;
  temporal = createHttpTemporalGateway({ baseUrl: server.httpUrl, namespace: server.namespace, timeoutMs: 3_000 });
  user = await createUser(sql);
}, 300_000);

afterAll(async () => {
  for (const worker of workers) await worker.kill();
  await temporalServer?.stop();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const service = () => createExecutionService({ sql, caller: userCaller(user), temporal, log: quiet });
const sweepOnce = (options: Parameters<typeof sweep>[1] = {}) =>
  sweep({ sql, temporal, log: quiet }, { recheckAfterSeconds: 0, redispatchAfterSeconds: 0, budgetMs: 20_000, ...options });
const times = <T>(n: number, make: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => make(i)));
const events = (workflowId: string) => temporalEvents(temporalServer, workflowId);
const worker = async (taskQueue: string) => {
  const started = await startWorkerProcess({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue });
  workers.push(started);
  return started;
};

describe("a worker killed mid-run", () => {
  it("its runs resume on a new worker and complete once; a cancel it can no longer honour is terminated after the grace", async () => {
    const taskQueue = `dying-${randomUUID().slice(0, 8)}`;
    const [completes, longRunning] = await Promise.all([
      createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue }),
      createWorkflow(sql, user, { temporalWorkflowType: "longRunningWorkflow", taskQueue }),
    ]);
    const first = await worker(taskQueue);
    const resuming = await times(4, (i) => service().createExecution({ workflowId: completes, input: { sleepMs: 3_000, i } }));
    const stranded = await times(4, () => service().createExecution({ workflowId: longRunning }));
    // Every run has had its first workflow task on the first worker (its timer is set).
    for (const c of [...resuming, ...stranded]) {
      const history = await until(() => events(c.execution.temporalWorkflowId!), (h) => (h.TIMER_STARTED ?? 0) >= 1, 20_000);
      expect(history.TIMER_STARTED).toBe(1);
    }
    await first.kill();

    // Cancel the stranded ones while no worker runs: Temporal records the request, nobody honours it.
    const answers = await times(4, (i) => service().updateExecutionByRef({ id: stranded[i].execution.id }, { status: "cancelled" }));
    for (const answer of answers) expect(answer).toMatchObject({ status: "running", stopReason: "cancel" });
    // A second cancel of a run whose cancel Temporal accepted adds nothing (and is not an error).
    await temporal.cancel(stranded[0].execution.temporalWorkflowId!);
    const escalated = await until(async () => {
      await sweepOnce({ stopEscalateAfterSeconds: 2 });
      return (await sql`select count(*)::int as n from public.workflow_executions
                        where id = any(${stranded.map((c) => c.execution.id)}::uuid[]) and status = 'cancelled'`)[0].n as number;
    }, (n) => n === 4, 60_000, 500);
    expect(escalated).toBe(4);

    // A new worker picks the other runs up where they were; the sweeper adopts their results.
    await worker(taskQueue);
    const completed = await until(async () => {
      await sweepOnce();
      return (await sql`select count(*)::int as n from public.workflow_executions
                        where id = any(${resuming.map((c) => c.execution.id)}::uuid[]) and status = 'completed'`)[0].n as number;
    }, (n) => n === 4, 60_000, 500);

    const strandedHistories = await Promise.all(stranded.map((c) => events(c.execution.temporalWorkflowId!)));
    const resumedHistories = await Promise.all(resuming.map((c) => events(c.execution.temporalWorkflowId!)));
    const cancelOnce = strandedHistories.filter((h) => h.WORKFLOW_EXECUTION_CANCEL_REQUESTED === 1 && h.WORKFLOW_EXECUTION_TERMINATED === 1).length;
    const completedOnce = resumedHistories.filter((h) => h.WORKFLOW_EXECUTION_STARTED === 1 && h.WORKFLOW_EXECUTION_COMPLETED === 1).length;
    console.log(`faults: worker-killed-mid-run resumed-completed-once=${completedOnce}/4 stranded-cancel-once-then-terminated-once=${cancelOnce}/4 completed-rows=${completed}/4`);
    expect(completed).toBe(4);
    expect(completedOnce).toBe(4);
    expect(cancelOnce).toBe(4);
  }, 240_000);
});

describe("the functions server killed mid-dispatch", () => {
  it("every create it acknowledged is present, and every row it wrote is started in Temporal exactly once", async () => {
    const taskQueue = `dispatch-${randomUUID().slice(0, 8)}`;
    const workflowId = await createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue });
    await worker(taskQueue);
    const functions = await startFunctionsProcess({ databaseUrl: url, env: { TEMPORAL_HTTP_URL: temporalServer.httpUrl } });
    const token = await userToken(user);
    const create = (i: number) =>
      fetch(`${functions.functionsUrl}/executions-create`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ workflowId, input: { sleepMs: 50, i } }),
      }).then(async (r) => ({ status: r.status, body: await r.json() as { id: string } }));

    // Acknowledged before the fault.
    const before = await times(6, (i) => create(i));
    for (const r of before) expect(r.status).toBe(201);
    // Mid-dispatch: Temporal stops answering, so each create has inserted its row (with its
    // dispatch lease) and is waiting on the start when the server is killed.
    temporalServer.freeze();
    const inFlight = times(8, (i) => create(100 + i).catch((error: Error) => ({ status: 0, error: error.message })));
    const rowsOfWorkflow = () => sql`select id, status, dispatch_claimed_until from public.workflow_executions where workflow_id = ${workflowId}`;
    await until(rowsOfWorkflow, (rows) => rows.length === 14, 20_000, 50);
    await functions.kill();
    const lost = await inFlight;
    temporalServer.thaw();
    const answered = [...before, ...lost].filter((r): r is { status: number; body: { id: string } } => r.status === 201 || r.status === 202);

    // The leases of the killed server expire; the sweeper dispatches what it left.
    const settled = await until(async () => {
      await sweepOnce();
      return (await rowsOfWorkflow()).filter((r) => r.status === "pending").length;
    }, (pending) => pending === 0, 90_000, 1_000);
    expect(settled).toBe(0);

    const rows = await rowsOfWorkflow();
    const ids = new Set(rows.map((r) => r.id as string));
    const present = answered.filter((r) => ids.has(r.body.id)).length;
    const startedOnce = (await Promise.all(rows.map(async (r) => {
      const wf = `execution-${r.id}`;
      const [history, runs] = await Promise.all([events(wf), until(() => runsOf(temporalServer, wf), (n) => n >= 1, 10_000)]);
      return history.WORKFLOW_EXECUTION_STARTED === 1 && runs === 1;
    }))).filter(Boolean).length;
    console.log(`faults: functions-killed-mid-dispatch acknowledged=${answered.length} present=${present} ` +
      `rows=${rows.length} started-once=${startedOnce}/${rows.length} duplicates=${rows.length - startedOnce}`);
    expect(present).toBe(answered.length);
    expect(rows).toHaveLength(14);
    expect(startedOnce).toBe(14);
  }, 240_000);
});

describe("concurrent sweepers", () => {
  it("four sweepers at once over dispatches, cancels, deletes and deadlines: each effect once", async () => {
    const taskQueue = `sweepers-${randomUUID().slice(0, 8)}`;
    const [completes, longRunning] = await Promise.all([
      createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue }),
      createWorkflow(sql, user, { temporalWorkflowType: "longRunningWorkflow", taskQueue }),
    ]);
    await worker(taskQueue);
    const n = 10;
    const live = await times(3 * n, () => service().createExecution({ workflowId: longRunning }));
    const [toCancel, toDelete, toTimeOut] = [live.slice(0, n), live.slice(n, 2 * n), live.slice(2 * n)];
    const idsOf = (list: typeof live) => list.map((c) => c.execution.id);
    // Direct writes, and no webhook is configured: everything is the sweepers'.
    const pending = await asRole(sql, user, async (tx) => {
      const inserted = await tx`insert into public.workflow_executions (workflow_id, status, input)
                                select ${completes}, 'pending', jsonb_build_object('sleepMs', 10, 'i', g) from generate_series(1, ${n}) g returning id`;
      await tx`update public.workflow_executions set status = 'cancelled' where id = any(${idsOf(toCancel)}::uuid[])`;
      await tx`delete from public.workflow_executions where id = any(${idsOf(toDelete)}::uuid[])`;
      return inserted.map((r) => r.id as string);
    });
    await sql`update public.workflow_executions set timeout_at = now() - interval '1 second' where id = any(${idsOf(toTimeOut)}::uuid[])`;

    const reports: SweepReport[] = await Promise.all(Array.from({ length: 4 }, () => sweepOnce()));
    const sum = (pick: (r: SweepReport) => number) => reports.reduce((total, r) => total + pick(r), 0);
    // Each row is claimed by one sweeper: no dispatch or stop is counted twice. (Some may be
    // left to the next sweep when Temporal is slow to answer on a loaded machine.)
    const firstPass = { started: sum((r) => r.redispatch.started), sent: sum((r) => r.stops.sent) };
    expect(firstPass.started).toBeLessThanOrEqual(n);
    expect(firstPass.sent).toBeLessThanOrEqual(3 * n);
    expect(sum((r) => r.deadlines.stopRequested)).toBe(n);
    await until(async () => {
      await Promise.all([sweepOnce(), sweepOnce()]);
      const [row] = await sql`
        select (select count(*)::int from public.execution_stop_requests where confirmed_at is null)
             + (select count(*)::int from public.workflow_executions where id = any(${pending}::uuid[]) and status = 'pending') as n`;
      return row.n as number;
    }, (left) => left === 0, 60_000, 500);

    const histories = await Promise.all([...pending.map((id) => `execution-${id}`), ...live.map((c) => c.execution.temporalWorkflowId!)].map(events));
    const started = histories.slice(0, n).filter((h) => h.WORKFLOW_EXECUTION_STARTED === 1).length;
    const cancelled = histories.slice(n, 2 * n).filter((h) => h.WORKFLOW_EXECUTION_CANCEL_REQUESTED === 1).length;
    const deleted = histories.slice(2 * n, 3 * n).filter((h) => h.WORKFLOW_EXECUTION_TERMINATED === 1).length;
    const timedOut = histories.slice(3 * n).filter((h) => h.WORKFLOW_EXECUTION_TERMINATED === 1).length;
    const duplicates = histories.filter((h) =>
      (h.WORKFLOW_EXECUTION_STARTED ?? 0) > 1 || (h.WORKFLOW_EXECUTION_CANCEL_REQUESTED ?? 0) > 1 || (h.WORKFLOW_EXECUTION_TERMINATED ?? 0) > 1).length;
    console.log(`faults: concurrent-sweepers sweepers=4 dispatched-once=${started}/${n} cancelled-once=${cancelled}/${n} ` +
      `delete-terminated-once=${deleted}/${n} deadline-terminated-once=${timedOut}/${n} ` +
      `first-pass-started=${firstPass.started} first-pass-stops-sent=${firstPass.sent} duplicates=${duplicates}`);
    expect([started, cancelled, deleted, timedOut]).toEqual([n, n, n, n]);
    expect(duplicates).toBe(0);
    const statuses = await sql`select status, count(*)::int as n from public.workflow_executions
                                where id = any(${[...idsOf(toCancel), ...idsOf(toTimeOut)]}::uuid[]) group by status order by status`;
    expect(statuses).toEqual([{ status: "cancelled", n }, { status: "timed_out", n }]);
  }, 240_000);
});
