/**
 * The database and Temporal agree, each effect happening once (docs/architecture.md §2):
 * dispatch (the API's and the webhook's, never both), stops (cancel, deadline, delete) as
 * durable requests sent by exactly one owner and confirmed from Temporal, a cancel racing the
 * run's own completion, escalation of an ignored cancel to terminate, the webhook triggers
 * (only for direct writes), what users may write, and the sweeper over all of it. Real
 * PostgreSQL (a database of its own, so the sweeper sees only this file's rows), a real
 * Temporal dev server and a real worker; Temporal's own history is what is counted.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExecutionService } from "../../shared/service.ts";
import { processStopFor, processStopRequests } from "../../shared/stops.ts";
import { sweep } from "../../shared/sweeper.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import { handleExecutionWebhook } from "../../shared/webhook.ts";
import { ValidationError } from "../../shared/errors.ts";
import { asRole, connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql, sqlState, userCaller } from "../support/postgres.ts";
import { startTemporalDevServer, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";
import { until } from "../support/wait.ts";
import { runsOf, temporalEvents } from "../faults/support.ts";

const dbName = `et_temporal_sync_${randomUUID().slice(0, 8)}`;
const taskQueue = `sync-${randomUUID().slice(0, 8)}`;
let sql: Sql;
let temporalServer: TemporalDevServer;
let worker: TestWorker;
let temporal: TemporalGateway;
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
  user = await createUser(sql);
}, 900_000);

afterAll(async () => {
  await worker?.stop();
  await temporalServer?.stop();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const serviceFor = (gateway: TemporalGateway | null, owner = user) =>
  createExecutionService({ sql, caller: userCaller(owner), temporal: gateway, log: quiet });
const backend = (gateway: TemporalGateway | null) =>
  createExecutionService({ sql, caller: { role: "service_role", userId: null, claims: { role: "service_role" } }, temporal: gateway, log: quiet });

const workflowOfType = (type: string, owner = user) => createWorkflow(sql, owner, { temporalWorkflowType: type, taskQueue });

const rowOf = async (id: string) => (await sql`select * from public.workflow_executions where id = ${id}`)[0];
const requestsOf = (id: string) => sql`select * from public.execution_stop_requests where execution_id = ${id} order by requested_at`;
const events = (workflowId: string) => temporalEvents(temporalServer, workflowId);
const stops = (gateway: TemporalGateway | null = temporal, options = {}) =>
  processStopRequests({ sql, temporal: gateway, log: quiet }, options);
const sweepNow = (gateway: TemporalGateway | null = temporal) =>
  sweep({ sql, temporal: gateway, log: quiet }, { recheckAfterSeconds: 0, redispatchAfterSeconds: 0 });
const payload = (type: string, record: unknown, oldRecord: unknown = null) =>
  ({ type, table: "workflow_executions", schema: "public", record, old_record: oldRecord });
const webhook = (body: unknown, gateway: TemporalGateway | null = temporal) => handleExecutionWebhook({ sql, temporal: gateway, log: quiet }, body);

/** A direct write as the user (RLS, column grants), as supabase-js through PostgREST would. */
const asUser = <T>(work: (tx: Parameters<Parameters<typeof asRole>[2]>[0]) => Promise<T>, owner = user) => asRole(sql, owner, work);

describe("dispatch", () => {
  it("the API dispatches its own create once: its insert carries a lease, so the INSERT webhook skips it", async () => {
    const workflowId = await workflowOfType("completesWorkflow");
    const created = await serviceFor(temporal).createExecution({ workflowId, input: { hello: "world", sleepMs: 10 } });
    expect(created.outcome).toBe("created");
    expect(created.execution.status).toBe("running");
    expect(created.execution.temporalWorkflowId).toBe(`execution-${created.execution.id}`);
    expect(created.execution.stopRequestedAt).toBeNull();

    // A webhook for it (the trigger queues none for the API's insert: see "webhook triggers") does nothing.
    const replay = await webhook(payload("INSERT", { id: created.execution.id, status: "pending" }));
    expect(replay.action).toBe("ignored");
    const run = await until(() => temporal.describe(created.execution.temporalWorkflowId!), (d) => d?.status === "completed");
    expect(run?.runId).toBe(created.execution.temporalRunId);
    expect((await events(created.execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_STARTED).toBe(1);
    expect(await until(() => runsOf(temporalServer, created.execution.temporalWorkflowId!), (n) => n >= 1)).toBe(1);
  });

  it("keeps the execution pending while Temporal is down, then exactly one of two racing sweepers dispatches it", async () => {
    const workflowId = await workflowOfType("completesWorkflow");
    const queued = await serviceFor(unreachable).createExecution({ workflowId, input: { sleepMs: 10 } });
    expect(queued.outcome).toBe("queued");
    expect(queued.message).toMatch(/unreachable/);
    expect(queued.execution.status).toBe("pending");
    // The lease was given back: the sweeper may take it.
    expect((await rowOf(queued.execution.id)).dispatch_claimed_until).toBeNull();

    const downReport = await sweepNow(unreachable);
    expect(downReport.temporalReachable).toBe(false);
    expect((await rowOf(queued.execution.id)).status).toBe("pending");

    const reports = await Promise.all([sweepNow(), sweepNow()]);
    expect(reports.reduce((n, r) => n + r.redispatch.started, 0)).toBe(1);
    const row = await rowOf(queued.execution.id);
    expect(row.status).not.toBe("pending");
    expect(row.temporal_run_id).toBeTruthy();
    // A start repeated by hand is Temporal's "already started": still one run.
    const again = await temporal.start({ workflowId: row.temporal_workflow_id, workflowType: "completesWorkflow", taskQueue, args: [null] });
    expect(again.alreadyStarted).toBe(true);
    expect(again.runId).toBe(row.temporal_run_id);
    expect((await events(row.temporal_workflow_id)).WORKFLOW_EXECUTION_STARTED).toBe(1);
  });

  it("a direct insert is dispatched by its webhook once; a replay and a concurrent second delivery do nothing more", async () => {
    const workflowId = await workflowOfType("completesWorkflow");
    const [row] = await asUser((tx) => tx`insert into public.workflow_executions (workflow_id, status) values (${workflowId}, 'pending') returning *`);
    expect(row.temporal_workflow_id).toBe(`execution-${row.id}`);
    expect(row.dispatch_claimed_until).toBeNull();
    const results = await Promise.all([webhook(payload("INSERT", row)), webhook(payload("INSERT", row))]);
    expect(results.map((r) => r.action).sort()).toEqual(["dispatched", "ignored"]);
    expect((await webhook(payload("INSERT", row))).action).toBe("ignored");
    expect((await rowOf(row.id)).status).not.toBe("pending");
    expect((await events(row.temporal_workflow_id)).WORKFLOW_EXECUTION_STARTED).toBe(1);
  });

  it("fails a pending row whose workflow cannot be started, instead of leaving it pending", async () => {
    const workflowId = await createWorkflow(sql, user); // no temporal_workflow_type
    const [row] = await sql`insert into public.workflow_executions (workflow_id, created_by, status) values (${workflowId}, ${user}, 'pending') returning *`;
    const result = await webhook(payload("INSERT", row));
    expect(result.action).toBe("rejected");
    const after = await rowOf(row.id);
    expect(after.status).toBe("failed");
    expect(after.error_message).toMatch(/no temporal_workflow_type/);
  });

  it("never starts a row whose stop was requested first; a stop during the start stops what it started", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    // Cancelled before any dispatch: no run is ever started.
    const [early] = await asUser((tx) => tx`insert into public.workflow_executions (workflow_id, status) values (${workflowId}, 'pending') returning *`);
    await asUser((tx) => tx`update public.workflow_executions set status = 'cancelled' where id = ${early.id}`);
    expect((await webhook(payload("INSERT", early))).action).toBe("ignored");
    expect((await webhook(payload("UPDATE", { ...early, status: "pending" }))).action).toBe("stop_confirmed");
    expect((await rowOf(early.id)).status).toBe("cancelled");
    expect(await temporal.describe(early.temporal_workflow_id)).toBeNull();

    // Cancelled while its dispatch holds the lease (the start in flight): the stop waits for
    // the dispatch, which records the run and then sends the stop.
    const [late] = await asUser((tx) => tx`insert into public.workflow_executions (workflow_id, status) values (${workflowId}, 'pending') returning *`);
    await sql`update public.workflow_executions set dispatch_claimed_until = now() + interval '30 seconds' where id = ${late.id}`;
    await asUser((tx) => tx`update public.workflow_executions set status = 'cancelled' where id = ${late.id}`);
    expect((await processStopFor({ sql, temporal, log: quiet }, late.id)).state).toBe("waiting");
    const { dispatchExecution } = await import("../../shared/dispatch.ts");
    const current = await backend(null).getExecution(late.id);
    const dispatched = await dispatchExecution({ sql, temporal, log: quiet }, current, { leaseHeld: true });
    expect(dispatched.outcome).toBe("started");
    const row = await until(() => rowOf(late.id), (r) => r.status === "cancelled", 10_000);
    expect(row.status).toBe("cancelled");
    expect(row.temporal_closed_at).not.toBeNull();
    expect((await temporal.describe(late.temporal_workflow_id))?.status).toBe("cancelled");
    expect((await events(late.temporal_workflow_id)).WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
  });
});

describe("stops", () => {
  it("an API cancel stays live until Temporal confirms, and reaches Temporal once", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const service = serviceFor(temporal);
    const { execution } = await service.createExecution({ workflowId });
    const answer = await service.updateExecutionByRef({ id: execution.id }, { status: "cancelled" });
    expect(answer.stopRequestedAt).not.toBeNull();
    expect(answer.stopReason).toBe("cancel");
    // Usually confirmed inline (the workflow honours the cancel within the 1 s window); on a
    // loaded machine the answer may still be live, and the next pass confirms it.
    expect(["cancelled", "running"]).toContain(answer.status);
    const row = await until(async () => {
      if ((await rowOf(execution.id)).status === "running") await stops();
      return rowOf(execution.id);
    }, (r) => r.status === "cancelled", 15_000, 1_000);
    expect(row.status).toBe("cancelled");
    expect(row.temporal_closed_at).not.toBeNull();
    const [request] = await requestsOf(execution.id);
    expect(request).toMatchObject({ reason: "cancel", action: "cancel", outcome: "cancelled", attempts: 0 });
    expect(request.confirmed_at).not.toBeNull();

    // Nobody sends it again: not the webhook, not the sweeper.
    expect((await webhook(payload("UPDATE", { id: execution.id, status: "running" }))).action).toBe("ignored");
    expect((await stops()).claimed).toBe(0);
    // Repeating the cancel is idempotent (409 would be wrong: it is what the row now says).
    await expect(service.updateExecutionByRef({ id: execution.id }, { status: "cancelled" })).resolves.toMatchObject({ status: "cancelled" });
    expect(await events(execution.temporalWorkflowId!)).toMatchObject({ WORKFLOW_EXECUTION_CANCEL_REQUESTED: 1, WORKFLOW_EXECUTION_CANCELED: 1 });
  });

  it("a direct SQL cancel is sent by its webhook once; a replay does nothing", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const { execution } = await serviceFor(temporal).createExecution({ workflowId });
    const [live] = await asUser((tx) => tx`update public.workflow_executions set status = 'cancelled' where id = ${execution.id} returning *`);
    expect(live.status).toBe("running");
    expect(live.stop_reason).toBe("cancel");
    const update = payload("UPDATE", live, { ...live, stop_requested_at: null });
    const [first, second] = await Promise.all([webhook(update), webhook(update)]);
    // One delivery sends it (confirmed within its window, or left for the next pass); the other skips it.
    expect([first.action, second.action].filter((a) => a === "ignored")).toHaveLength(1);
    expect([first.action, second.action].filter((a) => a === "stop_confirmed" || a === "stop_sent")).toHaveLength(1);
    expect((await webhook(update)).action).toBe("ignored");
    expect((await until(async () => { await stops(); return rowOf(execution.id); }, (r) => r.status === "cancelled", 15_000, 1_000)).status).toBe("cancelled");
    expect((await events(execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
  });

  it("a cancel racing the run's own completion leaves it completed, with its output", async () => {
    const workflowId = await workflowOfType("completesWorkflow");
    const service = serviceFor(temporal);
    const { execution } = await service.createExecution({ workflowId, input: { sleepMs: 0, n: 7 } });
    await until(() => temporal.describe(execution.temporalWorkflowId!), (d) => d?.status === "completed");
    // Nobody reported the completion; the cancel arrives after it.
    const answer = await service.updateExecutionByRef({ id: execution.id }, { status: "cancelled" });
    expect(answer.status).toBe("completed");
    expect(answer.output).toEqual({ echoed: { sleepMs: 0, n: 7 }, ok: true });
    expect(answer.temporalClosedAt).not.toBeNull();
    expect((await requestsOf(execution.id))[0].outcome).toBe("completed");
    expect((await events(execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBeUndefined();
  });

  it("a cancel the workflow ignores is escalated to terminate after the grace period", async () => {
    const workflowId = await workflowOfType("ignoresCancellationWorkflow");
    const service = serviceFor(temporal);
    const { execution } = await service.createExecution({ workflowId });
    const answer = await service.updateExecutionByRef({ id: execution.id }, { status: "cancelled" });
    expect(answer.status).toBe("running"); // not honoured within the inline window
    expect(answer.stopRequestedAt).not.toBeNull();

    // Within the grace period the sweeper only checks; after it, it terminates.
    const early = await stops(temporal, { escalateAfterSeconds: 3600 });
    expect(early.escalated).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const report = await until(() => stops(temporal, { escalateAfterSeconds: 1 }), (r) => r.escalated === 1, 10_000);
    expect(report.escalated).toBe(1);
    expect(report.confirmed.cancelled).toBe(1);
    const row = await rowOf(execution.id);
    expect(row.status).toBe("cancelled");
    expect((await temporal.describe(execution.temporalWorkflowId!))?.status).toBe("terminated");
    expect(await events(execution.temporalWorkflowId!)).toMatchObject({ WORKFLOW_EXECUTION_CANCEL_REQUESTED: 1, WORKFLOW_EXECUTION_TERMINATED: 1 });
    expect((await requestsOf(execution.id))[0]).toMatchObject({ action: "terminate", outcome: "terminated" });
  });

  it("an API delete of a live run leaves a tombstone that terminates it once", async () => {
    const workflowId = await workflowOfType("ignoresCancellationWorkflow");
    const service = serviceFor(temporal);
    const { execution } = await service.createExecution({ workflowId });
    await service.deleteExecution(execution.id);
    expect(await rowOf(execution.id)).toBeUndefined();
    const [tombstone] = await requestsOf(execution.id);
    expect(tombstone).toMatchObject({ reason: "delete", action: "terminate", outcome: "terminated" });
    expect((await temporal.describe(execution.temporalWorkflowId!))?.status).toBe("terminated");
    expect((await events(execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_TERMINATED).toBe(1);
    expect((await stops()).claimed).toBe(0);
  });

  it("a deadline written as timed_out terminates the run and ends the row timed_out", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const { execution } = await serviceFor(temporal).createExecution({ workflowId });
    // As the deadline phase writes it: the tracker's own write (no webhook), left to the stop phase.
    const [live] = await asRole(sql, null, async (tx) => {
      await tx`select set_config('execution_tracker.stop_claim', 'tracker', true)`;
      return await tx`update public.workflow_executions set status = 'timed_out' where id = ${execution.id} returning status, stop_reason`;
    });
    expect(live).toEqual({ status: "running", stop_reason: "timeout" });
    const report = await stops();
    expect(report.confirmed.timed_out).toBe(1);
    expect((await rowOf(execution.id)).status).toBe("timed_out");
    expect((await events(execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_TERMINATED).toBe(1);
  });

  it("while Temporal is down: the stop is kept, backed off, and sent once when it is back", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const { execution } = await serviceFor(temporal).createExecution({ workflowId });
    const answer = await serviceFor(unreachable).updateExecutionByRef({ id: execution.id }, { status: "cancelled" });
    expect(answer.status).toBe("running");
    expect(answer.stopRequestedAt).not.toBeNull();
    const [request] = await requestsOf(execution.id);
    expect(request.attempts).toBe(1);
    expect(request.last_error).toMatch(/127\.0\.0\.1:9|failed|timed out/);
    expect(request.next_attempt_at.getTime()).toBeGreaterThan(Date.now());
    expect((await stops(unreachable)).confirmed.cancelled).toBe(0); // still down: kept, backed off again

    const report = await until(() => stops(), (r) => r.confirmed.cancelled === 1, 10_000);
    expect(report.confirmed.cancelled).toBe(1);
    expect((await rowOf(execution.id)).status).toBe("cancelled");
    expect((await events(execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
  });

  it("rows the tracker does not act on end at once: a user's reported row, and any row without Temporal configured", async () => {
    const workflowId = await createWorkflow(sql, user);
    const reported = await serviceFor(temporal).createExecution({ workflowId, temporalWorkflowId: `reported-${randomUUID()}` });
    expect(reported.execution.temporalLink).toBe("reported");
    const cancelled = await serviceFor(temporal).updateExecutionByRef({ id: reported.execution.id }, { status: "cancelled" });
    expect(cancelled).toMatchObject({ status: "cancelled", stopRequestedAt: null });
    expect(await requestsOf(reported.execution.id)).toHaveLength(0);

    const registered = await backend(null).createExecution({ workflowId, userId: user, temporalWorkflowId: `registered-${randomUUID()}` });
    expect(registered.execution.temporalLink).toBe("registered");
    const ended = await backend(null).updateExecutionByRef({ id: registered.execution.id }, { status: "timed_out" });
    expect(ended.status).toBe("timed_out");
    expect((await requestsOf(registered.execution.id))[0].outcome).toBe("no_temporal");
  });
});

describe("the sweeper", () => {
  it("sends what a dropped webhook would have: a direct cancel and a direct delete, each once", async () => {
    const workflowId = await workflowOfType("ignoresCancellationWorkflow");
    const a = await serviceFor(temporal).createExecution({ workflowId });
    const b = await serviceFor(temporal).createExecution({ workflowId });
    await asUser((tx) => tx`update public.workflow_executions set status = 'cancelled' where id = ${a.execution.id}`);
    await asUser((tx) => tx`delete from public.workflow_executions where id = ${b.execution.id}`);
    await sweepNow();
    expect((await events(a.execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
    expect((await events(b.execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_TERMINATED).toBe(1);
    expect((await requestsOf(b.execution.id))[0].confirmed_at).not.toBeNull();
  });

  it("times out a run past its deadline and terminates it in Temporal", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const { execution } = await serviceFor(temporal).createExecution({ workflowId, timeoutSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const report = await sweepNow();
    expect(report.deadlines.stopRequested).toBeGreaterThanOrEqual(1); // acted on in Temporal: a stop request, ended once confirmed
    const row = await until(() => rowOf(execution.id), (r) => r.status === "timed_out", 10_000);
    expect(row.status).toBe("timed_out");
    expect(row.error_message).toMatch(/timed out/);
    expect((await events(execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_TERMINATED).toBe(1);
  });

  it("handles every due stop exactly once when two sweepers run at once", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const created = await Promise.all(Array.from({ length: 12 }, () => serviceFor(temporal).createExecution({ workflowId })));
    const ids = created.map((c) => c.execution.id);
    await asUser((tx) => tx`update public.workflow_executions set status = 'cancelled' where id = any(${ids}::uuid[])`);
    const [x, y] = await Promise.all([stops(), stops()]);
    expect(x.sent.cancel + y.sent.cancel).toBe(12);
    const cancelledRows = async () => (await sql`select count(*)::int as n from public.workflow_executions where id = any(${ids}::uuid[]) and status = 'cancelled'`)[0].n as number;
    expect(await until(async () => { await stops(); return cancelledRows(); }, (n) => n === 12, 20_000, 1_000)).toBe(12);
    for (const c of created) expect((await events(c.execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
  });
});

describe("webhook triggers and privileges", () => {
  it("queue a webhook only for direct writes, with the URL and secret from Vault", async () => {
    await sql`select vault.create_secret('http://127.0.0.1:1/functions/v1', 'execution_tracker_functions_url')`;
    await sql`select vault.create_secret('s3cret', 'execution_tracker_webhook_secret')`;
    try {
      const workflowId = await workflowOfType("longRunningWorkflow");
      const queuedSince = async (before: number) =>
        (await sql`select body from net.http_request_queue where id > ${before} order by id`).map((q) => [q.body.type, q.body.record?.id ?? q.body.old_record?.id]);
      const mark = async () => (await sql`select coalesce(max(id), 0)::int as id from net.http_request_queue`)[0].id as number;

      // The API's own create, cancel and delete: nothing queued.
      let before = await mark();
      const service = serviceFor(unreachable);
      const one = await service.createExecution({ workflowId });
      const two = await service.createExecution({ workflowId });
      await sql`update public.workflow_executions set status = 'running', dispatch_claimed_until = null where id in (${one.execution.id}, ${two.execution.id})`;
      await service.updateExecutionByRef({ id: one.execution.id }, { status: "cancelled" });
      await service.deleteExecution(two.execution.id);
      expect(await queuedSince(before)).toEqual([]);

      // Direct writes: an insert, a cancel, a delete, and a cascade from the workflow.
      before = await mark();
      const [row] = await asUser((tx) => tx`insert into public.workflow_executions (workflow_id, status) values (${workflowId}, 'pending') returning id`);
      await sql`update public.workflow_executions set status = 'running' where id = ${row.id}`;
      await asUser((tx) => tx`update public.workflow_executions set status = 'cancelled' where id = ${row.id}`);
      await asUser((tx) => tx`update public.workflow_executions set status = 'cancelled' where id = ${row.id}`); // already requested: no second
      const [other] = await sql`insert into public.workflow_executions (workflow_id, created_by, status, temporal_workflow_id)
                                values (${workflowId}, ${user}, 'running', ${`cascade-${randomUUID()}`}) returning id`;
      await sql`delete from public.workflows where id = ${workflowId}`;
      const queued = await queuedSince(before);
      expect(queued.slice(0, 2)).toEqual([["INSERT", row.id], ["UPDATE", row.id]]);
      // The cascade also takes the API's cancelled-but-unconfirmed row: a direct write, so a webhook too.
      expect(queued.slice(2).sort()).toEqual([["DELETE", row.id], ["DELETE", other.id], ["DELETE", one.execution.id]].sort());
      const [sample] = await sql`select url, headers from net.http_request_queue where id > ${before} order by id limit 1`;
      expect(sample.url).toBe("http://127.0.0.1:1/functions/v1/executions-webhook");
      expect(sample.headers["x-webhook-secret"]).toBe("s3cret");
      // The cascade left the tombstones.
      expect((await requestsOf(other.id))[0]).toMatchObject({ reason: "delete", action: "terminate" });
    } finally {
      await sql`delete from vault.secrets where name in ('execution_tracker_functions_url', 'execution_tracker_webhook_secret')`;
      await sql`delete from net.http_request_queue`;
    }
  });

  it("users cannot write the tracker's columns or stop requests, and read only their own requests", async () => {
    const workflowId = await workflowOfType("longRunningWorkflow");
    const { execution } = await serviceFor(unreachable).createExecution({ workflowId });
    await serviceFor(unreachable).updateExecutionByRef({ id: execution.id }, { status: "cancelled" });
    const other = await createUser(sql);
    await asUser(async (tx) => {
      for (const column of ["stop_requested_at", "temporal_closed_at", "dispatch_claimed_until", "temporal_checked_at"]) {
        expect(await sqlState(tx.savepoint((sp) => sp`update public.workflow_executions set ${sp(column)} = now() where id = ${execution.id}`)), column).toBe("42501");
      }
      expect(await sqlState(tx.savepoint((sp) => sp`update public.workflow_executions set stop_reason = null where id = ${execution.id}`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`update public.workflow_executions set temporal_link = 'dispatched' where id = ${execution.id}`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`
        insert into public.workflow_executions (workflow_id, status, temporal_closed_at) values (${workflowId}, 'running', now())`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`update public.execution_stop_requests set confirmed_at = now()`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`delete from public.execution_stop_requests`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`
        insert into public.execution_stop_requests (execution_id, created_by, temporal_workflow_id, reason, action)
        values (${execution.id}, ${user}, 'x', 'cancel', 'cancel')`))).toBe("42501");
      const mine = await tx`select execution_id, reason from public.execution_stop_requests where execution_id = ${execution.id}`;
      expect(mine).toEqual([{ execution_id: execution.id, reason: "cancel" }]);
      // What users may write still works.
      await tx`update public.workflow_executions set activities_executed = 3, output = '{"partial":true}' where id = ${execution.id}`;
    });
    await asUser(async (tx) => {
      expect(await tx`select * from public.execution_stop_requests where execution_id = ${execution.id}`).toEqual([]);
    }, other);
  });

  it("rejects unknown tables, unknown types and malformed payloads with a clear message", async () => {
    await expect(webhook({ ...payload("INSERT", { id: randomUUID(), status: "pending" }), table: "workflows" })).rejects.toThrow(/only public.workflow_executions/);
    await expect(webhook(payload("TRUNCATE", null))).rejects.toBeInstanceOf(ValidationError);
    await expect(webhook(payload("INSERT", null))).rejects.toThrow(/needs record/);
    await expect(webhook("not an object")).rejects.toBeInstanceOf(ValidationError);
  });
});
