/**
 * Fault tier: Temporal goes away at create, at cancel, at delete and at a deadline, killed
 * (SIGKILL) and frozen (SIGSTOP, so requests hang and may still be carried out after SIGCONT),
 * and every effect happens exactly once after it is back. A Temporal dev server of this file's
 * own (persisted, restarted on the same ports), a worker process, the service in process as the
 * API runs it, and `sweep()` as the backstop. What is counted is Temporal's own history: one
 * WorkflowExecutionStarted per created execution, one cancel request per cancel, one
 * termination per delete and per deadline.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExecutionService } from "../../shared/service.ts";
import { sweep } from "../../shared/sweeper.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql, userCaller } from "../support/postgres.ts";
import { until } from "../support/wait.ts";
import { type KillableTemporal, runsOf, startKillableTemporal, startWorkerProcess, temporalEvents, type WorkerProcess } from "./support.ts";

const dbName = `et_faults_outage_${randomUUID().slice(0, 8)}`;
const taskQueue = `outage-${randomUUID().slice(0, 8)}`;
/** Executions per kind of effect and per fault. */
const N = 6;
let sql: Sql;
let temporalServer: KillableTemporal;
let worker: WorkerProcess;
let temporal: TemporalGateway;
let user: string;
const quiet = () => {};

beforeAll(async () => {
  const [url, server] = await Promise.all([createMigratedDatabase(databaseUrl(), dbName), startKillableTemporal()]);
  sql = connect(url);
  temporalServer = server;
  worker = await startWorkerProcess({ address: server.address, namespace: server.namespace, taskQueue });
  // Short timeouts: a frozen Temporal answers nothing, and every call waits this long.
  temporal = createHttpTemporalGateway({ baseUrl: server.httpUrl, namespace: server.namespace, timeoutMs: 2_000 });
  user = await createUser(sql);
}, 300_000);

afterAll(async () => {
  await worker?.kill();
  await temporalServer?.stop();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const service = () => createExecutionService({ sql, caller: userCaller(user), temporal, log: quiet });
const sweepOnce = () =>
  sweep({ sql, temporal, log: quiet }, { recheckAfterSeconds: 0, redispatchAfterSeconds: 0, budgetMs: 20_000 });
const workflowOf = (type: string) => createWorkflow(sql, user, { temporalWorkflowType: type, taskQueue });
const times = <T>(n: number, make: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => make(i)));
const events = (workflowId: string) => temporalEvents(temporalServer, workflowId);

describe.each([
  { fault: "killed", down: () => temporalServer.kill(), up: () => temporalServer.restart() },
  { fault: "frozen", down: async () => temporalServer.freeze(), up: async () => temporalServer.thaw() },
])("Temporal $fault", ({ fault, down, up }) => {
  it("at create, at cancel, at delete and at a deadline: every effect happens exactly once after it is back", async () => {
    const [completes, longRunning, ignoresCancel] = await Promise.all([
      workflowOf("completesWorkflow"), workflowOf("longRunningWorkflow"), workflowOf("ignoresCancellationWorkflow"),
    ]);
    // Runs to stop while Temporal is away, started while it is up.
    const toCancel = await times(N, () => service().createExecution({ workflowId: longRunning }));
    const toDelete = await times(N, () => service().createExecution({ workflowId: ignoresCancel }));
    const toTimeOut = await times(N, () => service().createExecution({ workflowId: longRunning, timeoutSeconds: 3 }));
    for (const c of [...toCancel, ...toDelete, ...toTimeOut]) expect(c.execution.status).toBe("running");
    const deadline = Date.now() + 3_000;

    await down();
    let acknowledged = 0;
    // At create: the API answers 202 queued (the row is pending), or 201 when a frozen start went through.
    const created = await times(N, async (i) => {
      const result = await service().createExecution({ workflowId: completes, input: { sleepMs: 100, i } });
      acknowledged++;
      return result;
    });
    for (const c of created) expect(["queued", "created"]).toContain(c.outcome);
    // At cancel: 200 with the row still live and stopRequestedAt set.
    const cancelled = await times(N, async (i) => {
      const answer = await service().updateExecutionByRef({ id: toCancel[i].execution.id }, { status: "cancelled" });
      acknowledged++;
      return answer;
    });
    for (const answer of cancelled) {
      expect(answer.status).toBe("running");
      expect(answer.stopRequestedAt).not.toBeNull();
    }
    // At delete: 204; the tombstone keeps the terminate.
    await times(N, async (i) => {
      await service().deleteExecution(toDelete[i].execution.id);
      acknowledged++;
    });
    // At a deadline: the sweeper ends them (stop requests), and cannot reach Temporal.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now()) + 200));
    const during = await sweepOnce();
    expect(during.deadlines.stopRequested).toBe(N);
    expect(during.temporalReachable).toBe(false);
    const open = await sql`select count(*)::int as n from public.execution_stop_requests where confirmed_at is null`;
    expect(open[0].n).toBe(3 * N);

    await up();
    // The backstop: sweeps until everything is confirmed (bounded).
    const ids = {
      created: created.map((c) => c.execution.id),
      stopped: [...toCancel, ...toDelete, ...toTimeOut].map((c) => c.execution.id),
    };
    const settled = await until(async () => {
      await sweepOnce();
      const [row] = await sql`
        select (select count(*)::int from public.workflow_executions where id = any(${ids.created}::uuid[]) and status = 'pending') as pending,
               (select count(*)::int from public.execution_stop_requests where execution_id = any(${ids.stopped}::uuid[]) and confirmed_at is null) as open`;
      return row;
    }, (row) => row.pending === 0 && row.open === 0, 120_000, 500);
    expect(settled).toEqual({ pending: 0, open: 0 });

    // Exactly once, by Temporal's history.
    const startedOnce = (await Promise.all(created.map(async (c) => {
      const wf = `execution-${c.execution.id}`;
      const [history, runs] = await Promise.all([events(wf), until(() => runsOf(temporalServer, wf), (n) => n >= 1, 10_000)]);
      return history.WORKFLOW_EXECUTION_STARTED === 1 && runs === 1;
    }))).filter(Boolean).length;
    const cancelRequests = await Promise.all(toCancel.map((c) => events(c.execution.temporalWorkflowId!)));
    const cancelledOnce = cancelRequests.filter((h) => h.WORKFLOW_EXECUTION_CANCEL_REQUESTED === 1 && h.WORKFLOW_EXECUTION_CANCELED === 1).length;
    const deleteHistories = await Promise.all(toDelete.map((c) => events(c.execution.temporalWorkflowId!)));
    const terminatedOnce = deleteHistories.filter((h) => h.WORKFLOW_EXECUTION_TERMINATED === 1).length;
    const deadlineHistories = await Promise.all(toTimeOut.map((c) => events(c.execution.temporalWorkflowId!)));
    const timedOutOnce = deadlineHistories.filter((h) => h.WORKFLOW_EXECUTION_TERMINATED === 1).length;
    const duplicates = [...cancelRequests, ...deleteHistories, ...deadlineHistories]
      .filter((h) => (h.WORKFLOW_EXECUTION_CANCEL_REQUESTED ?? 0) > 1 || (h.WORKFLOW_EXECUTION_TERMINATED ?? 0) > 1).length;

    const rows = await sql`select id, status from public.workflow_executions where id = any(${[...ids.created, ...ids.stopped]}::uuid[])`;
    const statusOf = new Map(rows.map((r) => [r.id as string, r.status as string]));
    console.log(`faults: temporal-${fault} acknowledged=${acknowledged} created-started-once=${startedOnce}/${N} ` +
      `cancel-requested-once=${cancelledOnce}/${N} delete-terminated-once=${terminatedOnce}/${N} ` +
      `deadline-terminated-once=${timedOutOnce}/${N} duplicates=${duplicates}`);

    expect(acknowledged).toBe(3 * N);
    expect(startedOnce).toBe(N);
    expect(cancelledOnce).toBe(N);
    expect(terminatedOnce).toBe(N);
    expect(timedOutOnce).toBe(N);
    expect(duplicates).toBe(0);
    for (const c of toCancel) expect(statusOf.get(c.execution.id)).toBe("cancelled");
    for (const c of toDelete) expect(statusOf.has(c.execution.id)).toBe(false);
    for (const c of toTimeOut) expect(statusOf.get(c.execution.id)).toBe("timed_out");
    for (const c of created) expect(["running", "completed"]).toContain(statusOf.get(c.execution.id));
  }, 300_000);
});
