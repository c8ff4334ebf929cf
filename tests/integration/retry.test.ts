/**
 * Retry of an execution (shared/retry.ts, docs/architecture.md §5.3) on real PostgreSQL (a
 * database of its own, so the sweeper that adopts the runs' outcomes sees only this file's
 * rows), a real Temporal dev server and a real worker: a retry is a new dispatched run of the
 * same workflow and owner that completes in Temporal and is tracked to its end, with the
 * original's input or an edited one; only workflows the tracker can start are retryable; RLS
 * decides which originals a caller can retry; a requestId makes a retry happen once, also
 * when repeated concurrently; the original lists its retries.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, NotRetryableError } from "../../shared/errors.ts";
import { retryExecution, retryIdFor } from "../../shared/retry.ts";
import { createExecutionService } from "../../shared/service.ts";
import { sweep } from "../../shared/sweeper.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import type { Caller, CreateExecutionInput, Json } from "../../shared/types.ts";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql, userCaller } from "../support/postgres.ts";
import { startTemporalDevServer, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";
import { until } from "../support/wait.ts";
import { temporalEvents } from "../faults/support.ts";

const dbName = `et_retry_${randomUUID().slice(0, 8)}`;
const taskQueue = `retry-${randomUUID().slice(0, 8)}`;
let sql: Sql;
let temporalServer: TemporalDevServer;
let worker: TestWorker;
let temporal: TemporalGateway;
let alice: string;
let bob: string;

/** A gateway whose Temporal is down: nothing listens on port 9 of loopback. */
const unreachable = createHttpTemporalGateway({ baseUrl: "http://127.0.0.1:9", namespace: "default", timeoutMs: 1_000 });
const quiet = () => {};
const serviceRole: Caller = { role: "service_role", userId: null, claims: { role: "service_role" } };

beforeAll(async () => {
  const url = await createMigratedDatabase(databaseUrl(), dbName);
  sql = connect(url);
  temporalServer = await startTemporalDevServer();
  worker = await startTestWorker({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue });
  temporal = createHttpTemporalGateway({ baseUrl: temporalServer.httpUrl, namespace: temporalServer.namespace });
  alice = await createUser(sql);
  bob = await createUser(sql);
}, 900_000);

afterAll(async () => {
  await worker?.stop();
  await temporalServer?.stop();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const as = (caller: Caller, gateway: TemporalGateway | null = temporal) => ({ sql, caller, temporal: gateway, log: quiet });
const retry = (id: string, options: { input?: Json; requestId?: string } = {}, caller: Caller = userCaller(alice), gateway: TemporalGateway | null = temporal) =>
  retryExecution(as(caller, gateway), id, options);
const serviceOf = (caller: Caller) => createExecutionService(as(caller));
const startable = (owner = alice) => createWorkflow(sql, owner, { temporalWorkflowType: "completesWorkflow", taskQueue });
const rowOf = async (id: string) => (await sql`select * from public.workflow_executions where id = ${id}`)[0];
const retriesOf = async (id: string) =>
  (await sql`select id from public.workflow_executions where retry_of = ${id} order by started_at, id`).map((r) => r.id as string);
const sweepNow = () => sweep({ sql, temporal, log: quiet }, { recheckAfterSeconds: 0, redispatchAfterSeconds: 0 });

/**
 * Sweeps until the row is terminal: a pending row is dispatched by the sweeper, a running
 * one's outcome is adopted from Temporal once Temporal says it closed (sweeping earlier would
 * only lease the row for the sweeper's claim period).
 */
async function trackedToTheEnd(id: string) {
  const live = (row: Awaited<ReturnType<typeof rowOf>>) => row.status === "pending" || row.status === "running";
  return await until(async () => {
    const row = await rowOf(id);
    if (row.status === "running" && (await temporal.describe(row.temporal_workflow_id))?.status === "running") return row;
    if (live(row)) await sweepNow();
    return await rowOf(id);
  }, (row) => !live(row), 30_000, 100);
}

/** A dispatched run of alice's that completed in Temporal and is tracked as completed. */
async function completedOriginal(input: Json, extra: Omit<CreateExecutionInput, "workflowId" | "input"> = {}) {
  const workflowId = await startable();
  const created = await serviceOf(userCaller(alice)).createExecution({ workflowId, input, ...extra });
  expect(created.outcome).toBe("created");
  expect((await trackedToTheEnd(created.execution.id)).status).toBe("completed");
  return created.execution;
}

describe("a retry is a new dispatched run, tracked to its end", () => {
  it("starts the original's workflow with the original's input, tags, metadata and timeout length, linked by retryOf", async () => {
    const original = await completedOriginal({ order: 42, sleepMs: 10 }, { tags: ["billing", "eu"], metadata: { orderId: "1234" }, timeoutSeconds: 3600 });
    const retried = await retry(original.id);
    expect(retried.outcome).toBe("created");
    const execution = retried.execution;
    expect(execution.id).not.toBe(original.id);
    expect(execution.retryOf).toBe(original.id);
    expect(execution.status).toBe("running");
    expect(execution.temporalLink).toBe("dispatched");
    expect(execution.temporalWorkflowId).toBe(`execution-${execution.id}`);
    expect(execution.temporalRunId).toBeTruthy();
    expect(execution.workflowId).toBe(original.workflowId);
    expect(execution.createdBy).toBe(alice);
    expect(execution.input).toEqual({ order: 42, sleepMs: 10 });
    expect(execution.tags).toEqual(["billing", "eu"]);
    expect(execution.metadata).toEqual({ orderId: "1234" });
    // The same deadline length, counted from the retry's own start.
    expect(Date.parse(execution.timeoutAt!) - Date.parse(execution.startedAt)).toBe(3600_000);

    const ended = await trackedToTheEnd(execution.id);
    expect(ended.status).toBe("completed");
    expect(ended.output).toEqual({ echoed: { order: 42, sleepMs: 10 }, ok: true });
    expect((await temporalEvents(temporalServer, execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_STARTED).toBe(1);
    // The original is untouched.
    expect((await rowOf(original.id)).status).toBe("completed");
  });

  it("runs an edited input instead when one is given (null included)", async () => {
    const original = await completedOriginal({ attempt: 1, sleepMs: 10 });
    const edited = await retry(original.id, { input: { attempt: 2, sleepMs: 10 } });
    expect(edited.execution.input).toEqual({ attempt: 2, sleepMs: 10 });
    expect((await trackedToTheEnd(edited.execution.id)).output).toEqual({ echoed: { attempt: 2, sleepMs: 10 }, ok: true });

    const nulled = await retry(original.id, { input: null });
    expect(nulled.execution.input).toBeNull();
    expect((await trackedToTheEnd(nulled.execution.id)).output).toEqual({ echoed: null, ok: true });
    expect((await rowOf(original.id)).input).toEqual({ attempt: 1, sleepMs: 10 });
  });

  it("retries any status: a failed run, a running one, and a run the original had no deadline for", async () => {
    const workflowId = await startable();
    const alices = serviceOf(userCaller(alice));
    const running = (await alices.createExecution({ workflowId, input: { sleepMs: 60_000 } })).execution;
    const failed = (await alices.createExecution({ workflowId, input: { sleepMs: 60_000 } })).execution;
    await alices.markFailed(failed.temporalWorkflowId!, "boom");
    for (const original of [running, failed]) {
      const retried = await retry(original.id, { input: { sleepMs: 10 } });
      expect(retried.outcome).toBe("created");
      expect(retried.execution.timeoutAt).toBeNull();
      expect((await trackedToTheEnd(retried.execution.id)).status).toBe("completed");
    }
  });

  it("stays pending when Temporal is unreachable (the sweeper dispatches it later), and when none is configured", async () => {
    const original = await completedOriginal({ sleepMs: 10 });
    const queued = await retry(original.id, {}, userCaller(alice), unreachable);
    expect(queued.outcome).toBe("queued");
    expect(queued.message).toMatch(/unreachable/);
    expect(queued.execution.status).toBe("pending");
    expect((await rowOf(queued.execution.id)).dispatch_claimed_until).toBeNull();
    await sweepNow();
    const dispatched = await rowOf(queued.execution.id);
    expect(dispatched.status).not.toBe("pending");
    expect(dispatched.temporal_run_id).toBeTruthy();

    const unconfigured = await retry(original.id, {}, userCaller(alice), null);
    expect(unconfigured.outcome).toBe("queued");
    expect(unconfigured.message).toMatch(/not configured/);
    expect(unconfigured.execution.status).toBe("pending");
  });
});

describe("what may be retried, by whom", () => {
  it("a workflow the tracker cannot start is not retryable (409 not_retryable), and nothing is written", async () => {
    const workflowId = await createWorkflow(sql, alice); // no temporal type and task queue
    const reported = (await serviceOf(userCaller(alice)).createExecution({ workflowId, temporalWorkflowId: `app-${randomUUID()}` })).execution;
    const error = await retry(reported.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotRetryableError);
    expect((error as NotRetryableError).status).toBe(409);
    expect((error as NotRetryableError).message).toMatch(/cannot start/);
    expect(await retriesOf(reported.id)).toEqual([]);
  });

  it("a run started elsewhere (reported by the user, registered by the backend) is retryable when its workflow can be started", async () => {
    const workflowId = await startable();
    const reported = (await serviceOf(userCaller(alice)).createExecution({ workflowId, temporalWorkflowId: `app-${randomUUID()}`, input: { sleepMs: 10 } })).execution;
    const registered = (await serviceOf(serviceRole).createExecution({ workflowId, userId: alice, temporalWorkflowId: `backend-${randomUUID()}`, input: { sleepMs: 10 } })).execution;
    expect([reported.temporalLink, registered.temporalLink]).toEqual(["reported", "registered"]);
    for (const original of [reported, registered]) {
      const retried = await retry(original.id);
      expect(retried.execution.temporalLink).toBe("dispatched");
      expect(retried.execution.input).toEqual({ sleepMs: 10 });
      expect((await trackedToTheEnd(retried.execution.id)).status).toBe("completed");
    }
  });

  it("another tenant's execution is not found (404), exactly like a missing one, and nothing is written", async () => {
    const original = await completedOriginal({ sleepMs: 10 });
    for (const id of [original.id, randomUUID()]) {
      const error = await retry(id, { requestId: "bob" }, userCaller(bob)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as NotFoundError).message).toBe("execution not found");
    }
    expect(await retriesOf(original.id)).toEqual([]);
  });

  it("the service role retries for the original's owner", async () => {
    const original = await completedOriginal({ sleepMs: 10 });
    const retried = await retry(original.id, {}, serviceRole);
    expect(retried.execution.createdBy).toBe(alice);
    expect((await trackedToTheEnd(retried.execution.id)).status).toBe("completed");
    // alice sees it as hers.
    expect((await serviceOf(userCaller(alice)).getExecution(retried.execution.id)).id).toBe(retried.execution.id);
  });
});

describe("idempotency by requestId", () => {
  it("the same requestId again answers the retry it made (existing), never a second run", async () => {
    const original = await completedOriginal({ sleepMs: 10 });
    const first = await retry(original.id, { requestId: "retry-1" });
    const again = await retry(original.id, { requestId: "retry-1", input: { different: true } });
    expect(first.outcome).toBe("created");
    expect(again.outcome).toBe("existing");
    expect(again.execution.id).toBe(first.execution.id);
    expect(again.execution.input).toEqual({ sleepMs: 10 });
    expect(first.execution.id).toBe(await retryIdFor(original, "retry-1"));
    // The service role's repeat is the same retry too (the id lives in the owner's space).
    expect((await retry(original.id, { requestId: "retry-1" }, serviceRole)).execution.id).toBe(first.execution.id);
    // Another requestId, or none, is another retry.
    const other = await retry(original.id, { requestId: "retry-2" });
    expect(other.outcome).toBe("created");
    expect(other.execution.id).not.toBe(first.execution.id);
    expect(await retriesOf(original.id)).toHaveLength(2);
    expect((await temporalEvents(temporalServer, first.execution.temporalWorkflowId!)).WORKFLOW_EXECUTION_STARTED).toBe(1);
  });

  it("concurrent repeats of one requestId create one retry and start one run", async () => {
    const original = await completedOriginal({ sleepMs: 10 });
    const answers = await Promise.all(Array.from({ length: 4 }, () => retry(original.id, { requestId: "burst" })));
    expect(answers.map((a) => a.outcome).sort()).toEqual(["created", "existing", "existing", "existing"]);
    expect(new Set(answers.map((a) => a.execution.id)).size).toBe(1);
    expect(await retriesOf(original.id)).toEqual([answers[0].execution.id]);
    const workflowId = answers[0].execution.temporalWorkflowId!;
    expect((await trackedToTheEnd(answers[0].execution.id)).status).toBe("completed");
    expect((await temporalEvents(temporalServer, workflowId)).WORKFLOW_EXECUTION_STARTED).toBe(1);
  });

  it("one requestId names a different retry for each original", async () => {
    const one = await completedOriginal({ sleepMs: 10 });
    const two = await completedOriginal({ sleepMs: 10 });
    const [a, b] = [await retry(one.id, { requestId: "same" }), await retry(two.id, { requestId: "same" })];
    expect(a.execution.id).not.toBe(b.execution.id);
    expect([a.execution.retryOf, b.execution.retryOf]).toEqual([one.id, two.id]);
  });

  it("a requestId whose id is taken by a row that is not this original's retry is a 409 conflict, revealing nothing", async () => {
    const original = await completedOriginal({ sleepMs: 10 });
    const squatted = await retryIdFor(original, "squatted");
    const bobsWorkflow = await createWorkflow(sql, bob);
    await sql`insert into public.workflow_executions (id, workflow_id, created_by, status) values (${squatted}, ${bobsWorkflow}, ${bob}, 'running')`;
    const error = await retry(original.id, { requestId: "squatted" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).not.toContain(bob);
    expect(await retriesOf(original.id)).toEqual([]);
  });
});

describe("the original lists its retries", () => {
  it("GET /executions-list?retryOf=<id>: every retry of it, nothing else, only for who may see them", async () => {
    const original = await completedOriginal({ sleepMs: 10 });
    const other = await completedOriginal({ sleepMs: 10 });
    const retries = [(await retry(original.id)).execution.id, (await retry(original.id, {}, serviceRole)).execution.id];
    await retry(other.id);
    const listed = await serviceOf(userCaller(alice)).listExecutions({ retryOf: original.id });
    expect(listed.data.map((e) => e.id).sort()).toEqual([...retries].sort());
    expect(listed.data.every((e) => e.retryOf === original.id)).toBe(true);
    expect((await serviceOf(userCaller(bob)).listExecutions({ retryOf: original.id })).data).toEqual([]);
    expect((await serviceOf(serviceRole).listExecutions({ retryOf: original.id })).data).toHaveLength(2);
  });
});
