/**
 * The database and Temporal agree: dispatch (also with Temporal down, then up), cancel,
 * delete, database webhooks, and the timeout sweeper (deadlines, runs that ended while
 * nobody reported them, a worker that died, two sweepers at once). Real PostgreSQL (a
 * database of its own, so the sweeper sees only this file's rows), a real Temporal dev
 * server and a real worker.
 */
import { randomUUID } from "node:crypto";
import { Client, Connection } from "@temporalio/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExecutionService } from "../../shared/service.ts";
import { sweep } from "../../shared/sweeper.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import { handleExecutionWebhook } from "../../shared/webhook.ts";
import { ValidationError } from "../../shared/errors.ts";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql, userCaller } from "../support/postgres.ts";
import { startTemporalDevServer, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";
import { until } from "../support/wait.ts";

const dbName = `et_temporal_sync_${randomUUID().slice(0, 8)}`;
const taskQueue = `sync-${randomUUID().slice(0, 8)}`;
let sql: Sql;
let temporalServer: TemporalDevServer;
let worker: TestWorker;
let temporal: TemporalGateway;
let client: Client;
let user: string;

/** A gateway whose Temporal is down: nothing listens on port 9 of loopback. */
const unreachable = createHttpTemporalGateway({ baseUrl: "http://127.0.0.1:9", namespace: "default", timeoutMs: 1_000 });
const quiet = () => {};

beforeAll(async () => {
  const url = await createMigratedDatabase(databaseUrl(), dbName);
  sql = connect(url);
  temporalServer = await startTemporalDevServer();
  worker = await startTestWorker({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue });
  temporal = createHttpTemporalGateway({ baseUrl: temporalServer.httpUrl, namespace: temporalServer.namespace });
  client = new Client({ connection: await Connection.connect({ address: temporalServer.address }), namespace: temporalServer.namespace });
  user = await createUser(sql);
}, 900_000);

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await temporalServer?.stop();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const serviceFor = (gateway: TemporalGateway | null, owner = user) =>
  createExecutionService({ sql, caller: userCaller(owner), temporal: gateway, log: quiet });

const workflowOfType = (type: string, owner = user) =>
  createWorkflow(sql, owner, { temporalWorkflowType: type, taskQueue });

/** How many runs Temporal has for a workflow id (visibility is eventually consistent: poll). */
async function runsOf(workflowId: string): Promise<number> {
  let count = 0;
  for await (const _ of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) count++;
  return count;
}


const rowOf = async (id: string) => (await sql`select * from public.workflow_executions where id = ${id}`)[0];
const sweepNow = (gateway: TemporalGateway | null = temporal) =>
  sweep({ sql, temporal: gateway, log: quiet }, { recheckAfterSeconds: 0, redispatchAfterSeconds: 0 });

describe("dispatch", () => {
  it("starts the workflow in Temporal, records the run, and the sweeper adopts its result", async () => {
    const workflowId = await workflowOfType("completesWorkflow");
    const created = await serviceFor(temporal).createExecution({ workflowId, input: { hello: "world", sleepMs: 10 } });

    expect(created.outcome).toBe("created");
    expect(created.execution.status).toBe("running");
    expect(created.execution.temporalWorkflowId).toBe(`execution-${created.execution.id}`);
    expect(created.execution.temporalRunId).toBeTruthy();

    const run = await until(() => temporal.describe(created.execution.temporalWorkflowId!), (d) => d?.status === "completed");
    expect(run?.runId).toBe(created.execution.temporalRunId);

    // Nobody reports the result: the sweeper adopts it from Temporal.
    const report = await sweepNow();
    expect(report.reconciled.completed).toBeGreaterThanOrEqual(1);
    const done = await serviceFor(null).getExecution(created.execution.id);
    expect(done.status).toBe("completed");
    expect(done.output).toEqual({ echoed: { hello: "world", sleepMs: 10 }, ok: true });
    expect(done.durationMs).not.toBeNull();

    const stats = await serviceFor(null).getStats({ workflowId });
    expect(stats.byStatus.completed).toBe(1);
    const page = await serviceFor(null).listExecutions({ workflowId });
    expect(page.data.map((e) => e.id)).toEqual([created.execution.id]);
  });

  it("keeps the execution pending while Temporal is down, then dispatches it exactly once", async () => {
    const workflowId = await workflowOfType("completesWorkflow");
    const queued = await serviceFor(unreachable).createExecution({ workflowId, input: { sleepMs: 10 } });
    expect(queued.outcome).toBe("queued");
    expect(queued.message).toMatch(/unreachable/);
    expect(queued.execution.status).toBe("pending");

    // Still down: the sweeper leaves it pending and says Temporal is unreachable.
    const downReport = await sweepNow(unreachable);
    expect(downReport.temporalReachable).toBe(false);
    expect((await rowOf(queued.execution.id)).status).toBe("pending");

    // Temporal is back: two sweepers race for the row, one dispatches it.
    const reports = await Promise.all([sweepNow(), sweepNow()]);
    expect(reports.reduce((n, r) => n + r.redispatched, 0)).toBe(1);
    const row = await rowOf(queued.execution.id);
    expect(row.status).toBe("running");
    expect(row.temporal_run_id).toBeTruthy();

    // And again: a retried dispatch never starts a second run.
    await temporal.start({ workflowId: row.temporal_workflow_id, workflowType: "completesWorkflow", taskQueue, args: [null] });
    expect(await until(() => runsOf(row.temporal_workflow_id), (n) => n >= 1)).toBe(1);
  });

  it("records a failure that Temporal reports for a run nobody reported", async () => {
    const workflowId = await workflowOfType("failsWorkflow");
    const { execution } = await serviceFor(temporal).createExecution({ workflowId, input: { message: "disk full" } });
    await until(() => temporal.describe(execution.temporalWorkflowId!), (d) => d?.status === "failed");
    await sweepNow();
    const row = await rowOf(execution.id);
    expect(row.status).toBe("failed");
    expect(row.error_message).toContain("boom: disk full");
  });

  it("cancels the Temporal run when the execution is cancelled", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const service = serviceFor(temporal);
    const { execution } = await service.createExecution({ workflowId });
    const cancelled = await service.updateExecutionByRef({ id: execution.id }, { status: "cancelled" });
    expect(cancelled.status).toBe("cancelled");
    const run = await until(() => temporal.describe(execution.temporalWorkflowId!), (d) => d?.status === "cancelled");
    expect(run?.status).toBe("cancelled");
  });

  it("terminates the Temporal run when a live execution is deleted", async () => {
    const workflowId = await workflowOfType("ignoresCancellationWorkflow");
    const service = serviceFor(temporal);
    const { execution } = await service.createExecution({ workflowId });
    await service.deleteExecution(execution.id);
    const run = await until(() => temporal.describe(execution.temporalWorkflowId!), (d) => d?.status === "terminated");
    expect(run?.status).toBe("terminated");
  });
});

describe("timeout sweeper", () => {
  it("times out a run whose worker died, and terminates it in Temporal", async () => {
    const deadQueue = `dead-${randomUUID().slice(0, 8)}`;
    const doomedWorker = await startTestWorker({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue: deadQueue });
    const workflowId = await createWorkflow(sql, user, { temporalWorkflowType: "longRunningWorkflow", taskQueue: deadQueue });
    const { execution } = await serviceFor(temporal).createExecution({ workflowId, timeoutSeconds: 1 });
    expect(execution.status).toBe("running");
    await doomedWorker.stop(); // the worker dies mid-run; the run stays open in Temporal

    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const report = await sweepNow();
    expect(report.timedOut).toBeGreaterThanOrEqual(1);
    const row = await rowOf(execution.id);
    expect(row.status).toBe("timed_out");
    expect(row.completed_at).not.toBeNull();
    expect(row.error_message).toMatch(/timed out/);
    const run = await until(() => temporal.describe(execution.temporalWorkflowId!), (d) => d?.status === "terminated");
    expect(run?.status).toBe("terminated");
  });

  it("adopts a run that Temporal ended (terminated -> cancelled) after its worker died", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const { execution } = await serviceFor(temporal).createExecution({ workflowId });
    await temporal.terminate(execution.temporalWorkflowId!, undefined, "operator stopped it");
    await sweepNow();
    const row = await rowOf(execution.id);
    expect(row.status).toBe("cancelled");
    expect(row.error_message).toContain("terminated in Temporal");
  });

  it("handles every overdue row exactly once when two sweepers run at once", async () => {
    const workflowId = await createWorkflow(sql, user);
    const total = 300;
    await sql`
      insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, timeout_at)
      select ${workflowId}, ${user}, 'overdue-' || g || '-' || ${randomUUID()}, 'running', now() - interval '1 hour', now() - interval '1 minute'
        from generate_series(1, ${total}) g`;
    const options = { batchSize: 50, recheckAfterSeconds: 3600, redispatchAfterSeconds: 3600 };
    const [a, b] = await Promise.all([
      sweep({ sql, temporal, log: quiet }, options),
      sweep({ sql, temporal, log: quiet }, options),
    ]);
    expect(a.timedOut + b.timedOut).toBe(total);
    const [{ left }] = await sql`select count(*)::int as left from public.workflow_executions where workflow_id = ${workflowId} and status <> 'timed_out'`;
    expect(left).toBe(0);
    const stats = await serviceFor(null).getStats({ workflowId });
    expect(stats.byStatus.timed_out).toBe(total);
    expect(stats.byStatus.running).toBe(0);
  });

  it("deletes terminal executions past the retention period, and nothing else", async () => {
    const workflowId = await createWorkflow(sql, user);
    await sql`
      insert into public.workflow_executions (workflow_id, created_by, status, started_at, completed_at)
      values (${workflowId}, ${user}, 'completed', now() - interval '40 days', now() - interval '40 days'),
             (${workflowId}, ${user}, 'failed', now() - interval '2 days', now() - interval '2 days'),
             (${workflowId}, ${user}, 'running', now() - interval '40 days', null)`;
    const report = await sweep({ sql, temporal: null, log: quiet }, { retentionDays: 30 });
    expect(report.deleted).toBeGreaterThanOrEqual(1);
    const left = await sql`select status from public.workflow_executions where workflow_id = ${workflowId} order by status`;
    expect(left.map((r) => r.status)).toEqual(["failed", "running"]);
  });
});

describe("database webhooks", () => {
  const deps = () => ({ sql, temporal, log: quiet });
  const payload = (type: string, record: unknown, oldRecord: unknown = null) =>
    ({ type, table: "workflow_executions", schema: "public", record, old_record: oldRecord });

  it("dispatches a pending row an app inserted directly, and a replay does nothing more", async () => {
    const workflowId = await workflowOfType("completesWorkflow");
    const [row] = await sql.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${JSON.stringify(userCaller(user).claims)}, true)`;
      return await tx`insert into public.workflow_executions (workflow_id, status) values (${workflowId}, 'pending') returning *`;
    });
    // The lifecycle trigger names the Temporal workflow after the row.
    expect(row.temporal_workflow_id).toBe(`execution-${row.id}`);

    const dispatched = await handleExecutionWebhook(deps(), payload("INSERT", row));
    expect(dispatched.action).toBe("dispatched");
    const replay = await handleExecutionWebhook(deps(), payload("INSERT", row));
    expect(replay.action).toBe("ignored");
    expect((await rowOf(row.id)).status).toBe("running");
    expect(await until(() => runsOf(row.temporal_workflow_id), (n) => n >= 1)).toBe(1);
  });

  it("fails a pending row whose workflow Temporal cannot start, instead of leaving it pending", async () => {
    const workflowId = await createWorkflow(sql, user); // no temporal_workflow_type
    const [row] = await sql`insert into public.workflow_executions (workflow_id, created_by, status)
                            values (${workflowId}, ${user}, 'pending') returning *`;
    const result = await handleExecutionWebhook(deps(), payload("INSERT", row));
    expect(result.action).toBe("rejected");
    const after = await rowOf(row.id);
    expect(after.status).toBe("failed");
    expect(after.error_message).toMatch(/no temporal_workflow_type/);
  });

  it("cancels on an UPDATE to cancelled and terminates on a DELETE, replays included", async () => {
    const workflowId = await workflowOfType("ignoresCancellationWorkflow");
    const { execution } = await serviceFor(temporal).createExecution({ workflowId });
    const [cancelled] = await sql`update public.workflow_executions set status = 'cancelled' where id = ${execution.id} returning *`;
    const update = payload("UPDATE", cancelled, { ...cancelled, status: "running" });
    expect((await handleExecutionWebhook(deps(), update)).action).toBe("cancel_requested");
    expect((await handleExecutionWebhook(deps(), update)).action).toBe("cancel_requested");

    const other = await serviceFor(temporal).createExecution({ workflowId });
    const [gone] = await sql`delete from public.workflow_executions where id = ${other.execution.id} returning *`;
    const deletion = payload("DELETE", null, gone);
    expect((await handleExecutionWebhook(deps(), deletion)).action).toBe("terminate_requested");
    expect((await handleExecutionWebhook(deps(), deletion)).action).toBe("terminate_requested");
    const run = await until(() => temporal.describe(gone.temporal_workflow_id), (d) => d?.status === "terminated");
    expect(run?.status).toBe("terminated");
  });

  it("rejects unknown tables, unknown types and malformed payloads with a clear message", async () => {
    await expect(handleExecutionWebhook(deps(), { ...payload("INSERT", { id: randomUUID(), status: "pending" }), table: "workflows" }))
      .rejects.toThrow(/only public.workflow_executions/);
    await expect(handleExecutionWebhook(deps(), payload("TRUNCATE", null))).rejects.toBeInstanceOf(ValidationError);
    await expect(handleExecutionWebhook(deps(), payload("INSERT", null))).rejects.toThrow(/needs record/);
    await expect(handleExecutionWebhook(deps(), "not an object")).rejects.toBeInstanceOf(ValidationError);
  });

  it("the triggers queue a webhook through pg_net with the URL and secret from Vault", async () => {
    await sql`select vault.create_secret('http://127.0.0.1:1/functions/v1', 'execution_tracker_functions_url')`;
    await sql`select vault.create_secret('s3cret', 'execution_tracker_webhook_secret')`;
    try {
      const workflowId = await workflowOfType("completesWorkflow");
      const before = (await sql`select coalesce(max(id), 0)::int as id from net.http_request_queue`)[0].id;
      const [row] = await sql`insert into public.workflow_executions (workflow_id, created_by, status, temporal_workflow_id)
                              values (${workflowId}, ${user}, 'pending', ${`direct-${randomUUID()}`}) returning id`;
      await sql`update public.workflow_executions set status = 'cancelled' where id = ${row.id}`;
      const queued = await sql`select url, headers, body from net.http_request_queue where id > ${before} order by id`;
      expect(queued.map((q) => [q.url, q.body.type, q.body.record?.status])).toEqual([
        ["http://127.0.0.1:1/functions/v1/executions-webhook", "INSERT", "pending"],
        ["http://127.0.0.1:1/functions/v1/executions-webhook", "UPDATE", "cancelled"],
      ]);
      expect(queued[0].headers["x-webhook-secret"]).toBe("s3cret");

      // Deleting the workflow cascades to its live executions: each one's run is terminated.
      const [live] = await sql`insert into public.workflow_executions (workflow_id, created_by, status, temporal_workflow_id)
                               values (${workflowId}, ${user}, 'running', ${`cascade-${randomUUID()}`}) returning id, temporal_workflow_id`;
      const beforeCascade = (await sql`select max(id)::int as id from net.http_request_queue`)[0].id;
      await sql`delete from public.workflows where id = ${workflowId}`;
      const cascaded = await sql`select body from net.http_request_queue where id > ${beforeCascade} order by id`;
      expect(cascaded.map((q) => [q.body.type, q.body.old_record.id, q.body.old_record.temporal_workflow_id])).toEqual([
        ["DELETE", live.id, live.temporal_workflow_id],
      ]);
    } finally {
      await sql`delete from vault.secrets where name in ('execution_tracker_functions_url', 'execution_tracker_webhook_secret')`;
    }
  });
});
