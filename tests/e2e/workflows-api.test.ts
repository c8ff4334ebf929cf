/**
 * The workflows API end to end (supabase/functions/workflows on Deno, over PostgreSQL migrated
 * by the Supabase CLI): create, list (newest first, cursor), get, rename/describe, delete, and
 * the registry of startable workflow types (users read it, the service role writes it), with
 * the error contract of the executions API: 400 naming the field, 403 for what only the service
 * role may do, 404 for another user's workflow (never 403), 409 where a value clashes.
 */
import { randomUUID } from "node:crypto";
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "../support/postgres.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { type Answer, clientFor, type E2E, invoke, raw, startE2E } from "./support.ts";

let e2e: E2E;
let alice: string;
let bob: string;
let aliceToken: string;
let serviceKey: string;
let aliceClient: SupabaseClient;
let bobClient: SupabaseClient;
let serviceClient: SupabaseClient;
const registered = { workflowType: `Reports-${randomUUID().slice(0, 8)}`, taskQueue: "reports" };

beforeAll(async () => {
  e2e = await startE2E();
  [alice, bob] = await Promise.all([createUser(e2e.sql), createUser(e2e.sql)]);
  aliceToken = await userToken(alice);
  serviceKey = await serviceToken();
  aliceClient = clientFor(e2e, aliceToken);
  bobClient = clientFor(e2e, await userToken(bob));
  serviceClient = clientFor(e2e, serviceKey);
  const answer = await invoke(serviceClient, "workflows/types", { body: { ...registered, description: "the reports worker" } });
  expect(answer.status).toBe(201);
});
afterAll(async () => {
  await e2e?.stop();
});

const create = (client: SupabaseClient, body: Record<string, unknown>) => invoke(client, "workflows", { body });
const get = (client: SupabaseClient, id: string) => invoke(client, `workflows/${id}`, { method: "GET" });
const patch = (client: SupabaseClient, id: string, body: Record<string, unknown>) => invoke(client, `workflows/${id}`, { method: "PATCH", body });
const remove = (client: SupabaseClient, id: string) => invoke(client, `workflows/${id}`, { method: "DELETE" });
const list = (client: SupabaseClient, query = "") => invoke(client, `workflows${query}`, { method: "GET" });

function expectError(answer: Answer, status: number, code: string) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.body).toEqual({ error: { code, message: expect.any(String), requestId: expect.any(String), ...(answer.body?.error?.details === undefined ? {} : { details: expect.anything() }) } });
  return answer.body.error;
}

describe("a user's workflows", () => {
  it("create (201), get, rename and describe (PATCH), delete (204, then 404)", async () => {
    const created = await create(aliceClient, { name: "nightly-report", description: "every night", ...{ temporalWorkflowType: registered.workflowType, taskQueue: registered.taskQueue } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String), name: "nightly-report", description: "every night",
      temporalWorkflowType: registered.workflowType, taskQueue: registered.taskQueue, createdBy: alice,
      createdAt: expect.any(String), updatedAt: expect.any(String),
    });
    const id = created.body.id;
    expect((await get(aliceClient, id)).body).toEqual(created.body);

    const renamed = await patch(aliceClient, id, { name: "weekly-report", description: null });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ id, name: "weekly-report", description: null, temporalWorkflowType: registered.workflowType });
    const cleared = await patch(aliceClient, id, { temporalWorkflowType: null, taskQueue: null });
    expect(cleared.body).toMatchObject({ temporalWorkflowType: null, taskQueue: null });

    // Executions can be recorded against it, and go with it.
    const run = await invoke(aliceClient, "executions-create", { body: { workflowId: id, temporalWorkflowId: `wf-${randomUUID()}` } });
    expect(run.status).toBe(201);

    const deleted = await remove(aliceClient, id);
    expect(deleted.status).toBe(204);
    expectError(await get(aliceClient, id), 404, "not_found");
    expectError(await remove(aliceClient, id), 404, "not_found");
    const [{ n }] = await e2e.sql`select count(*)::int as n from public.workflow_executions where id = ${run.body.id}`;
    expect(n).toBe(0);
  });

  it("a workflow without a Temporal type (runs only reported) is fine", async () => {
    const created = await create(aliceClient, { name: "reported-only" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ description: null, temporalWorkflowType: null, taskQueue: null });
  });

  it("list: the caller's own, newest first, paged with a cursor", async () => {
    const carol = await createUser(e2e.sql);
    const carolClient = clientFor(e2e, await userToken(carol));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create(carolClient, { name: `wf-${i}` })).body.id);
    await create(bobClient, { name: "bob's" });

    const first = await list(carolClient, "?limit=2");
    expect(first.status).toBe(200);
    expect(first.body.data.map((w: { id: string }) => w.id)).toEqual([ids[4], ids[3]]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await list(carolClient, `?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.data.map((w: { id: string }) => w.id)).toEqual([ids[2], ids[1]]);
    const third = await list(carolClient, `?limit=2&cursor=${second.body.nextCursor}`);
    expect(third.body).toEqual({ data: [expect.objectContaining({ id: ids[0] })], nextCursor: null });

    // The service role lists everyone's, or one owner's.
    const carols = await list(serviceClient, `?userId=${carol}&limit=100`);
    expect(carols.body.data.map((w: { id: string }) => w.id)).toEqual([...ids].reverse());
    expect((await list(serviceClient, "?limit=100")).body.data.length).toBeGreaterThanOrEqual(6);
  });

  it("another user's workflow is a 404 for get, rename and delete, and nothing changes", async () => {
    const alices = (await create(aliceClient, { name: "private" })).body;
    expectError(await get(bobClient, alices.id), 404, "not_found");
    expectError(await patch(bobClient, alices.id, { name: "hijacked" }), 404, "not_found");
    expectError(await remove(bobClient, alices.id), 404, "not_found");
    expect((await list(bobClient, "?limit=100")).body.data.map((w: { id: string }) => w.id)).not.toContain(alices.id);
    expect((await get(aliceClient, alices.id)).body).toEqual(alices);
  });

  it("the service role creates a workflow for a named user (required), a user only for themselves", async () => {
    const forAlice = await create(serviceClient, { name: "provisioned", userId: alice });
    expect(forAlice.status).toBe(201);
    expect(forAlice.body.createdBy).toBe(alice);
    expect(expectError(await create(serviceClient, { name: "nobody's" }), 400, "validation_failed").details.fields[0].path).toBe("userId");
    expectError(await create(aliceClient, { name: "for bob", userId: bob }), 403, "forbidden");
    expectError(await create(serviceClient, { name: "ghost", userId: randomUUID() }), 404, "not_found");
    expectError(await list(aliceClient, `?userId=${bob}`), 403, "forbidden");
  });
});

describe("which workflow types can be started is the service role's decision", () => {
  it("an unregistered type or queue is a 400 naming the field, on create and on PATCH; only one of the two, too", async () => {
    let error = expectError(await create(aliceClient, { name: "payments", temporalWorkflowType: "InternalPayments", taskQueue: "payments-internal" }), 400, "validation_failed");
    expect(error.details.fields[0]).toEqual({ path: "temporalWorkflowType", message: expect.stringMatching(/registered/) });
    error = expectError(await create(aliceClient, { name: "payments", temporalWorkflowType: registered.workflowType, taskQueue: "payments-internal" }), 400, "validation_failed");
    expect(error.details.fields[0].path).toBe("temporalWorkflowType");
    error = expectError(await create(aliceClient, { name: "half", temporalWorkflowType: registered.workflowType }), 400, "validation_failed");
    expect(error.details.fields[0].path).toBe("taskQueue");

    const mine = (await create(aliceClient, { name: "mine", ...{ temporalWorkflowType: registered.workflowType, taskQueue: registered.taskQueue } })).body;
    expectError(await patch(aliceClient, mine.id, { temporalWorkflowType: "InternalPayments", taskQueue: "payments-internal" }), 400, "validation_failed");
    expectError(await patch(aliceClient, mine.id, { taskQueue: "payments-internal" }), 400, "validation_failed");
    expect((await get(aliceClient, mine.id)).body).toEqual(mine);
  });

  it("users list the registry; only the service role registers (201, then 200) and unregisters", async () => {
    const types = await invoke(aliceClient, "workflows/types", { method: "GET" });
    expect(types.status).toBe(200);
    expect(types.body.data).toContainEqual({ ...registered, description: "the reports worker", createdAt: expect.any(String) });

    const pair = { workflowType: `Payments-${randomUUID().slice(0, 8)}`, taskQueue: "payments" };
    expectError(await invoke(aliceClient, "workflows/types", { body: pair }), 403, "forbidden");
    expect((await invoke(serviceClient, "workflows/types", { body: pair })).status).toBe(201);
    expect((await invoke(serviceClient, "workflows/types", { body: pair })).status).toBe(200);
    expect(expectError(await invoke(serviceClient, "workflows/types", { body: { workflowType: "" } }), 400, "validation_failed").details.fields.map((f: { path: string }) => f.path).sort())
      .toEqual(["taskQueue", "workflowType"]);

    const using = (await create(aliceClient, { name: "payments", temporalWorkflowType: pair.workflowType, taskQueue: pair.taskQueue })).body;
    const query = `workflows/types?workflowType=${encodeURIComponent(pair.workflowType)}&taskQueue=${pair.taskQueue}`;
    const asUser = await raw(e2e, query, { method: "DELETE", headers: { authorization: `Bearer ${aliceToken}` } });
    expectError(asUser, 403, "forbidden");
    const unregistered = await raw(e2e, query, { method: "DELETE", headers: { authorization: `Bearer ${serviceKey}` } });
    expect(unregistered.status).toBe(200);
    expect(unregistered.body).toEqual({ workflowsCleared: 1 });
    expect((await get(aliceClient, using.id)).body).toMatchObject({ temporalWorkflowType: null, taskQueue: null });
    expectError(await raw(e2e, query, { method: "DELETE", headers: { authorization: `Bearer ${serviceKey}` } }), 404, "not_found");
  });
});

describe("the error contract", () => {
  it("400 names each bad field; unknown fields are refused; a bad id or cursor is a 400", async () => {
    const error = expectError(await create(aliceClient, { name: "", description: 5, extra: true }), 400, "validation_failed");
    expect(error.details.fields.map((f: { path: string }) => f.path).sort()).toEqual(["(body)", "description", "name"]);
    expectError(await get(aliceClient, "not-a-uuid"), 400, "validation_failed");
    expectError(await patch(aliceClient, randomUUID(), {}), 400, "validation_failed");
    expectError(await list(aliceClient, "?cursor=garbage"), 400, "validation_failed");
    expectError(await list(aliceClient, "?limit=1000"), 400, "validation_failed");
    expectError(await patch(aliceClient, randomUUID(), { name: "x".repeat(201) }), 400, "validation_failed");
  });

  it("401 without a token; 404 for an unknown route; CORS allows PATCH", async () => {
    expectError(await raw(e2e, "workflows"), 401, "unauthorized");
    expectError(await raw(e2e, "workflows/types/extra", { headers: { authorization: `Bearer ${aliceToken}` } }), 404, "not_found");
    const preflight = await fetch(`${e2e.server.functionsUrl}/workflows/${randomUUID()}`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "PATCH" },
    });
    expect(preflight.headers.get("access-control-allow-methods")).toMatch(/PATCH/);
  });
});
