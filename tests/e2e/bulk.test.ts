/**
 * Bulk actions over HTTP through the real handlers on Deno (POST/GET /executions-bulk,
 * GET /executions-bulk/:id, the internal POST /executions-bulk/process): a dry run's count,
 * a cancel and a delete by filter (processed inline within the POST's budget), the same
 * requestId again (200, the same action) or with another filter (409), bad input as 400s
 * that create nothing, another user's action as 404, the service role acting for a named
 * owner, and the internal processor finishing an action whose rows a writer held. Every
 * answer is checked against the OpenAPI document.
 */
import { randomUUID } from "node:crypto";
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { clientFor, type E2E, invoke, raw, startE2E } from "./support.ts";

const webhookSecret = `bulk-e2e-${randomUUID()}`;
let e2e: E2E;
let alice: string;
let bob: string;
let aliceClient: SupabaseClient;
let bobClient: SupabaseClient;

beforeAll(async () => {
  e2e = await startE2E({ env: { WEBHOOK_SECRET: webhookSecret } });
  [alice, bob] = await Promise.all([createUser(e2e.sql), createUser(e2e.sql)]);
  aliceClient = clientFor(e2e, await userToken(alice));
  bobClient = clientFor(e2e, await userToken(bob));
}, 180_000);

afterAll(async () => {
  await e2e?.stop();
});

/** `count` running rows of a new workflow of `owner` (reported: a cancel ends them at once). */
async function seed(owner: string, count: number, status = "running") {
  const workflowId = await createWorkflow(e2e.sql, owner);
  const rows = await e2e.sql`
    insert into public.workflow_executions (workflow_id, created_by, status, started_at, completed_at)
    select ${workflowId}, ${owner}, ${status}, timestamptz '2011-11-11 00:00:00+00' + make_interval(secs => i),
           case when ${status} not in ('pending', 'running') then now() end
      from generate_series(1, ${count}) i
    returning id`;
  return { workflowId, ids: rows.map((row) => row.id as string) };
}

const statuses = async (ids: string[]) =>
  (await e2e.sql`select status::text from public.workflow_executions where id = any(${ids}::uuid[])`).map((row) => row.status as string).sort();
const post = (client: SupabaseClient, body: unknown) => invoke(client, "executions-bulk", { method: "POST", body: body as Record<string, unknown> });

describe("POST /executions-bulk", () => {
  it("a dry run answers the count and changes nothing", async () => {
    const { workflowId, ids } = await seed(alice, 4);
    await seed(alice, 2);
    const answer = await post(aliceClient, { action: "cancel", filter: { workflowId }, dryRun: true, requestId: randomUUID() });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ dryRun: true, matched: 4, limit: 100_000, withinLimit: true });
    expect(await statuses(ids)).toEqual(Array(4).fill("running"));
  });

  it("cancels by filter (202, done within the POST's inline budget); GET /:id and the list show it; the same requestId again is 200 and the same action", async () => {
    const { workflowId, ids } = await seed(alice, 5);
    const done = await seed(alice, 2, "completed");
    const body = { action: "cancel", filter: { workflowId, status: ["running", "pending"] }, requestId: randomUUID() };
    const answer = await post(aliceClient, body);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ action: "cancel", status: "done", matched: 5, done: 5, failed: 0, skipped: 0, createdBy: alice, requestId: body.requestId });
    expect(await statuses(ids)).toEqual(Array(5).fill("cancelled"));
    expect(await statuses(done.ids)).toEqual(["completed", "completed"]);

    const polled = await invoke(aliceClient, `executions-bulk/${answer.body.id}`, { method: "GET" });
    expect(polled.status).toBe(200);
    expect(polled.body).toEqual(answer.body);
    const again = await post(aliceClient, body);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(answer.body.id);
    const conflict = await post(aliceClient, { ...body, filter: { workflowId } });
    expect(conflict.status).toBe(409);
    const list = await invoke(aliceClient, "executions-bulk?limit=5", { method: "GET" });
    expect(list.status).toBe(200);
    expect(list.body.data.map((a: { id: string }) => a.id)).toContain(answer.body.id);
  });

  it("deletes by filter; another user can neither see the action nor have their rows touched", async () => {
    const mine = await seed(alice, 3);
    const theirs = await seed(bob, 3);
    const answer = await post(aliceClient, { action: "delete", filter: { startedAfter: "2011-11-11T00:00:00Z", startedBefore: "2011-11-11T00:00:04Z", workflowId: mine.workflowId }, requestId: randomUUID() });
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ status: "done", matched: 3, done: 3 });
    expect(await statuses(mine.ids)).toEqual([]);
    expect(await statuses(theirs.ids)).toEqual(Array(3).fill("running"));
    const peek = await invoke(bobClient, `executions-bulk/${answer.body.id}`, { method: "GET" });
    expect(peek.status).toBe(404);
    const bobs = await invoke(bobClient, "executions-bulk", { method: "GET" });
    expect(bobs.body.data.map((a: { id: string }) => a.id)).not.toContain(answer.body.id);
  });

  it("bad input is a 400 naming the field, and creates nothing", async () => {
    const { workflowId } = await seed(alice, 1);
    const requestId = randomUUID();
    for (const body of [
      { action: "archive", filter: {}, requestId },
      { action: "cancel", filter: { status: ["bogus"] }, requestId },
      { action: "cancel", filter: { workflowId: "not-a-uuid" }, requestId },
      { action: "cancel", filter: { tags: ["bad tag!"] }, requestId },
      { action: "cancel", filter: { color: "red" }, requestId },
      { action: "cancel", filter: { workflowId } },
      { action: "cancel", filter: { workflowId }, requestId: "" },
    ]) {
      const answer = await post(aliceClient, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error.code).toBe("validation_failed");
      expect(answer.body.error.details.fields.length).toBeGreaterThan(0);
    }
    const [records] = await e2e.sql`select count(*)::int as n from public.execution_bulk_actions where request_id = ${requestId}`;
    expect(records.n).toBe(0);
    const unknown = await invoke(aliceClient, `executions-bulk/${randomUUID()}`, { method: "GET" });
    expect(unknown.status).toBe(404);
    const badId = await invoke(aliceClient, "executions-bulk/nope", { method: "GET" });
    expect(badId.status).toBe(400);
    const anonymous = await raw(e2e, "executions-bulk", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ action: "cancel", filter: {}, requestId }) });
    expect(anonymous.status).toBe(401);
  });

  it("the service role acts for the owner it names (and must name one)", async () => {
    const service = clientFor(e2e, await serviceToken());
    const { workflowId, ids } = await seed(bob, 2);
    const unnamed = await post(service, { action: "cancel", filter: { workflowId }, requestId: randomUUID() });
    expect(unnamed.status).toBe(400);
    const named = await post(service, { action: "cancel", filter: { workflowId }, requestId: randomUUID(), userId: bob });
    expect(named.status).toBe(202);
    expect(named.body).toMatchObject({ createdBy: bob, matched: 2, done: 2 });
    expect(await statuses(ids)).toEqual(["cancelled", "cancelled"]);
    const asAlice = await post(aliceClient, { action: "cancel", filter: { workflowId }, requestId: randomUUID(), userId: bob });
    expect(asAlice.status).toBe(403);
  });
});

describe("POST /executions-bulk/process (internal)", () => {
  it("needs the webhook secret (or the service role), and finishes an action whose rows a writer held during the POST", async () => {
    const refused = await raw(e2e, "executions-bulk/process", { method: "POST" });
    expect(refused.status).toBe(401);
    const { workflowId, ids } = await seed(alice, 3);
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const writer = e2e.sql.begin(async (tx) => {
      await tx`select id from public.workflow_executions where id = any(${ids}::uuid[]) for update`;
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await isLocked;
    let id: string;
    try {
      const answer = await post(aliceClient, { action: "cancel", filter: { workflowId }, requestId: randomUUID() });
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ status: "running", matched: 3, done: 0 });
      id = answer.body.id;
    } finally {
      release();
      await writer;
    }
    const processed = await raw(e2e, "executions-bulk/process", {
      method: "POST",
      headers: { "x-webhook-secret": webhookSecret, "content-type": "application/json" },
      body: JSON.stringify({ budgetMs: 5_000 }),
    });
    expect(processed.status).toBe(200);
    expect(processed.body.done).toBeGreaterThanOrEqual(3);
    const polled = await invoke(aliceClient, `executions-bulk/${id!}`, { method: "GET" });
    expect(polled.body).toMatchObject({ status: "done", matched: 3, done: 3 });
    expect(await statuses(ids)).toEqual(Array(3).fill("cancelled"));
  });
});
