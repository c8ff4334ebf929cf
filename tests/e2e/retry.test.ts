/**
 * POST /executions-retry/:id over HTTP (the functions on Deno, through PgBouncer, with a real
 * Temporal dev server and worker behind the HTTP gateway): 201 with a running retry linked to
 * its original, the same or an edited input, a bare POST without a body, idempotent by the
 * body's requestId or the Idempotency-Key header (200 the same retry), 409 not_retryable, 404
 * for another tenant's or a missing id, 400 for bad input with nothing written, the service
 * role retrying for the owner, and the original's retries listed with ?retryOf=.
 */
import { randomUUID } from "node:crypto";
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { startTemporalDevServer, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { until } from "../support/wait.ts";
import { clientFor, type E2E, invoke, raw, startE2E } from "./support.ts";

const taskQueue = `retry-e2e-${randomUUID().slice(0, 8)}`;
let temporalServer: TemporalDevServer;
let worker: TestWorker;
let temporal: TemporalGateway;
let e2e: E2E;
let alice: string;
let aliceToken: string;
let aliceClient: SupabaseClient;
let bobClient: SupabaseClient;
let serviceClient: SupabaseClient;
let startable: string;
let recordOnly: string;

beforeAll(async () => {
  temporalServer = await startTemporalDevServer();
  worker = await startTestWorker({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue });
  temporal = createHttpTemporalGateway({ baseUrl: temporalServer.httpUrl, namespace: temporalServer.namespace });
  e2e = await startE2E({ env: { TEMPORAL_HTTP_URL: temporalServer.httpUrl, TEMPORAL_NAMESPACE: temporalServer.namespace } });
  alice = await createUser(e2e.sql);
  const bob = await createUser(e2e.sql);
  aliceToken = await userToken(alice);
  aliceClient = clientFor(e2e, aliceToken);
  bobClient = clientFor(e2e, await userToken(bob));
  serviceClient = clientFor(e2e, await serviceToken());
  startable = await createWorkflow(e2e.sql, alice, { temporalWorkflowType: "completesWorkflow", taskQueue });
  recordOnly = await createWorkflow(e2e.sql, alice);
}, 900_000);

afterAll(async () => {
  await e2e?.stop();
  await worker?.stop();
  await temporalServer?.stop();
});

const retry = (client: SupabaseClient, id: string, body?: Record<string, unknown>, headers: Record<string, string> = {}) =>
  invoke(client, `executions-retry/${id}`, { method: "POST", ...(body === undefined ? {} : { body }), headers });
const retriesOf = async (id: string) => (await e2e.sql`select count(*)::int as n from public.workflow_executions where retry_of = ${id}`)[0].n;

/** A run of alice's, started in Temporal through the API. */
async function original(input: unknown = { sleepMs: 10 }) {
  const created = await invoke(aliceClient, "executions-create", { body: { workflowId: startable, input, tags: ["e2e"], metadata: { orderId: "7" } } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: string; workflowId: string; input: unknown };
}

describe("POST /executions-retry/:id", () => {
  it("201: a running retry of the same workflow and owner, with the original's input, tags and metadata, that completes in Temporal", async () => {
    const first = await original({ sleepMs: 10, n: 1 });
    const answer = await retry(aliceClient, first.id);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({
      retryOf: first.id, workflowId: startable, createdBy: alice, status: "running", temporalLink: "dispatched",
      input: { sleepMs: 10, n: 1 }, tags: ["e2e"], metadata: { orderId: "7" },
    });
    expect(answer.body.temporalWorkflowId).toBe(`execution-${answer.body.id}`);
    const run = await until(() => temporal.describe(answer.body.temporalWorkflowId), (d) => d?.status === "completed");
    expect(run?.runId).toBe(answer.body.temporalRunId);
    expect(run?.result).toEqual({ echoed: { sleepMs: 10, n: 1 }, ok: true });
  });

  it("an edited input; a bare POST without a body retries with the original's", async () => {
    const first = await original({ sleepMs: 10, n: 2 });
    const edited = await retry(aliceClient, first.id, { input: { sleepMs: 10, n: 3 } });
    expect(edited.status).toBe(201);
    expect(edited.body.input).toEqual({ sleepMs: 10, n: 3 });
    const bare = await raw(e2e, `executions-retry/${first.id}`, { method: "POST", headers: { authorization: `Bearer ${aliceToken}` } });
    expect(bare.status, JSON.stringify(bare.body)).toBe(201);
    expect(bare.body.input).toEqual({ sleepMs: 10, n: 2 });
  });

  it("idempotent: the same requestId (body or Idempotency-Key header) answers 200 with the same retry", async () => {
    const first = await original();
    const created = await retry(aliceClient, first.id, { requestId: "order-7-retry" });
    expect(created.status).toBe(201);
    const again = await retry(aliceClient, first.id, { requestId: "order-7-retry" });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(created.body.id);
    const byHeader = await retry(aliceClient, first.id, {}, { "Idempotency-Key": "order-7-retry" });
    expect(byHeader.status).toBe(200);
    expect(byHeader.body.id).toBe(created.body.id);
    const headerFirst = await retry(aliceClient, first.id, undefined, { "Idempotency-Key": "by-header" });
    expect(headerFirst.status).toBe(201);
    expect((await retry(aliceClient, first.id, undefined, { "Idempotency-Key": "by-header" })).body.id).toBe(headerFirst.body.id);
    expect(await retriesOf(first.id)).toBe(2);
  });

  it("409 not_retryable for a workflow the tracker cannot start; nothing is written", async () => {
    const reported = await invoke(aliceClient, "executions-create", { body: { workflowId: recordOnly, temporalWorkflowId: `app-${randomUUID()}` } });
    const answer = await retry(aliceClient, reported.body.id);
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe("not_retryable");
    expect(answer.body.error.message).toMatch(/cannot start/);
    expect(await retriesOf(reported.body.id)).toBe(0);
  });

  it("404 for another tenant's execution, exactly as for a missing one; the service role retries for the owner", async () => {
    const first = await original();
    const foreign = await retry(bobClient, first.id);
    const missing = await retry(bobClient, randomUUID());
    expect([foreign.status, missing.status]).toEqual([404, 404]);
    expect(foreign.body.error.message).toBe(missing.body.error.message);
    expect(await retriesOf(first.id)).toBe(0);
    const byService = await retry(serviceClient, first.id);
    expect(byService.status).toBe(201);
    expect(byService.body.createdBy).toBe(alice);
  });

  it("400 for bad input, naming the field; nothing is written", async () => {
    const first = await original();
    const cases: Array<[string, Record<string, unknown> | undefined, Record<string, string>, string]> = [
      ["an unknown field", { inputs: {} }, {}, "(body)"],
      ["an empty requestId", { requestId: "" }, {}, "requestId"],
      ["a requestId with a control character", { requestId: "a\nb" }, {}, "requestId"],
      ["a too long requestId", { requestId: "x".repeat(256) }, {}, "requestId"],
      ["a body and header that disagree", { requestId: "a" }, { "Idempotency-Key": "b" }, "requestId"],
      ["a too long Idempotency-Key header", undefined, { "Idempotency-Key": "x".repeat(256) }, "Idempotency-Key"],
      ["an input nested too deep", { input: JSON.parse("[".repeat(70) + "]".repeat(70)) }, {}, "input"],
    ];
    for (const [what, body, headers, field] of cases) {
      const answer = await retry(aliceClient, first.id, body, headers);
      expect(answer.status, what).toBe(400);
      expect(answer.body.error.code, what).toBe("validation_failed");
      if (field !== "(body)") expect(answer.body.error.details.fields.map((f: { path: string }) => f.path), what).toContain(field);
    }
    const badId = await retry(aliceClient, "not-a-uuid");
    expect(badId.status).toBe(400);
    const notJson = await raw(e2e, `executions-retry/${first.id}`, {
      method: "POST", headers: { authorization: `Bearer ${aliceToken}`, "content-type": "text/plain" }, body: "x",
    });
    expect(notJson.status).toBe(415);
    expect(await retriesOf(first.id)).toBe(0);
  });

  it("the original lists its retries: GET /executions-list?retryOf=<id>", async () => {
    const first = await original();
    const ids = [(await retry(aliceClient, first.id)).body.id, (await retry(aliceClient, first.id)).body.id];
    const listed = await invoke(aliceClient, `executions-list?retryOf=${first.id}`, { method: "GET" });
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.data.map((e: { id: string }) => e.id).sort()).toEqual(ids.sort());
    expect((await invoke(bobClient, `executions-list?retryOf=${first.id}`, { method: "GET" })).body.data).toEqual([]);
  });
});
