/**
 * The execution API end to end: supabase-js `functions.invoke` against the real Hono handlers
 * on Deno, over PostgreSQL migrated by the Supabase CLI. Create, update, delete, get, list
 * (filters and cursor) and stats, as a user, another user and the service role.
 * (Creating without temporalWorkflowId dispatches to Temporal: covered by the Temporal tests.)
 */
import { randomUUID } from "node:crypto";
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { clientFor, type E2E, invoke, startE2E, storedRow } from "./support.ts";

let e2e: E2E;
let alice: string;
let bob: string;
let aliceClient: SupabaseClient;
let bobClient: SupabaseClient;
let serviceClient: SupabaseClient;
let workflow: string;

beforeAll(async () => {
  e2e = await startE2E();
  [alice, bob] = await Promise.all([createUser(e2e.sql), createUser(e2e.sql)]);
  workflow = await createWorkflow(e2e.sql, alice, { name: "nightly-report" });
  aliceClient = clientFor(e2e, await userToken(alice));
  bobClient = clientFor(e2e, await userToken(bob));
  serviceClient = clientFor(e2e, await serviceToken());
});
afterAll(async () => {
  await e2e?.stop();
});

const create = (client: SupabaseClient, body: Record<string, unknown>) => invoke(client, "executions-create", { body });
const update = (client: SupabaseClient, body: Record<string, unknown>) => invoke(client, "executions-update", { body });

describe("create", () => {
  it("201 for a new run, 200 with the same row for the same temporalWorkflowId", async () => {
    const temporalWorkflowId = `e2e-${randomUUID()}`;
    const first = await create(aliceClient, { workflowId: workflow, temporalWorkflowId, temporalRunId: "run-1", input: { to: "ops@example.com" }, timeoutSeconds: 600 });
    expect(first.status).toBe(201);
    expect(first.headers.get("content-type")).toMatch(/^application\/json/);
    expect(first.body).toMatchObject({
      workflowId: workflow, createdBy: alice, temporalWorkflowId, temporalRunId: "run-1", status: "running",
      input: { to: "ops@example.com" }, output: null, errorMessage: null, completedAt: null, durationMs: null,
      activitiesExecuted: 0, workflow: { id: workflow, name: "nightly-report" },
    });
    expect(Date.parse(first.body.timeoutAt) - Date.parse(first.body.startedAt)).toBeCloseTo(600_000, -3);

    const again = await create(aliceClient, { workflowId: workflow, temporalWorkflowId, input: { different: true } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const [{ n }] = await e2e.sql`select count(*)::int as n from public.workflow_executions where temporal_workflow_id = ${temporalWorkflowId}`;
    expect(n).toBe(1);
  });

  it("the service role records a run for a named user", async () => {
    const created = await create(serviceClient, { workflowId: workflow, userId: alice, temporalWorkflowId: `e2e-svc-${randomUUID()}` });
    expect(created.status).toBe(201);
    expect(created.body.createdBy).toBe(alice);
  });
});

describe("update", () => {
  it("200 by id and by temporalWorkflowId, through to a terminal state", async () => {
    const temporalWorkflowId = `e2e-upd-${randomUUID()}`;
    const { body: run } = await create(aliceClient, { workflowId: workflow, temporalWorkflowId });

    const progress = await update(aliceClient, { id: run.id, activitiesExecuted: 2 });
    expect(progress.status).toBe(200);
    expect(progress.body).toMatchObject({ id: run.id, status: "running", activitiesExecuted: 2 });

    const done = await update(aliceClient, { temporalWorkflowId, status: "completed", output: { rows: 42 }, durationMs: 1234, activitiesExecuted: 3 });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ id: run.id, status: "completed", output: { rows: 42 }, durationMs: 1234, activitiesExecuted: 3 });
    expect(done.body.completedAt).not.toBeNull();

    // The same terminal report again: 200, nothing changed (updatedAt included).
    const repeat = await update(aliceClient, { id: run.id, status: "completed", output: { rows: 42 }, durationMs: 1234 });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(done.body);

    // Anything else after the end: 409 terminal_execution naming the field, row untouched.
    const before = await storedRow(e2e.sql, run.id);
    const late = await update(aliceClient, { id: run.id, status: "failed", errorMessage: "late" });
    expect(late.status).toBe(409);
    expect(late.body).toEqual({ error: { code: "terminal_execution", message: expect.any(String), details: { field: "status" }, requestId: expect.any(String) } });
    expect(await storedRow(e2e.sql, run.id)).toEqual(before);
  });

  it("409 invalid_transition for an illegal move of a live run", async () => {
    const { body: run } = await create(aliceClient, { workflowId: workflow, temporalWorkflowId: `e2e-ill-${randomUUID()}` });
    const before = await storedRow(e2e.sql, run.id);
    const back = await update(aliceClient, { id: run.id, status: "pending", activitiesExecuted: 7 });
    expect(back.status).toBe(409);
    expect(back.body.error).toMatchObject({ code: "invalid_transition", details: { field: "status" } });
    expect(await storedRow(e2e.sql, run.id)).toEqual(before);
  });
});

describe("get and delete", () => {
  it("get 200 for the owner, 404 for another user and for an unknown id", async () => {
    const { body: run } = await create(aliceClient, { workflowId: workflow, temporalWorkflowId: `e2e-get-${randomUUID()}` });
    const got = await invoke(aliceClient, `executions-list/${run.id}`, { method: "GET" });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(run);
    const theirs = await invoke(bobClient, `executions-list/${run.id}`, { method: "GET" });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe("not_found");
    expect((await invoke(aliceClient, `executions-list/${randomUUID()}`, { method: "GET" })).status).toBe(404);
    expect((await invoke(serviceClient, `executions-list/${run.id}`, { method: "GET" })).status).toBe(200);
  });

  it("DELETE 204, then 404; another user's delete is 404 and deletes nothing", async () => {
    const { body: run } = await create(aliceClient, { workflowId: workflow, temporalWorkflowId: `e2e-del-${randomUUID()}` });
    const notTheirs = await invoke(bobClient, `executions-update/${run.id}`, { method: "DELETE" });
    expect(notTheirs.status).toBe(404);
    expect(await storedRow(e2e.sql, run.id)).toBeDefined();

    const deleted = await invoke(aliceClient, `executions-update/${run.id}`, { method: "DELETE" });
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBe("");
    expect(await storedRow(e2e.sql, run.id)).toBeUndefined();
    const again = await invoke(aliceClient, `executions-update/${run.id}`, { method: "DELETE" });
    expect(again.status).toBe(404);
    expect((await invoke(aliceClient, `executions-list/${run.id}`, { method: "GET" })).status).toBe(404);
  });
});

describe("list and stats", () => {
  let carol: string;
  let carolClient: SupabaseClient;
  let wfA: string;
  let wfB: string;
  const ids: Record<string, string[]> = {};

  beforeAll(async () => {
    carol = await createUser(e2e.sql);
    carolClient = clientFor(e2e, await e2e.jwks.userToken(carol)); // an ES256 token, verified through the JWKS
    [wfA, wfB] = await Promise.all([createWorkflow(e2e.sql, carol, { name: "A" }), createWorkflow(e2e.sql, carol, { name: "B" })]);
    // 25 runs over two workflows, ending in a mix of states with known durations.
    const plan: [string, string, number | null][] = Array.from({ length: 25 }, (_, i) => [
      i % 2 ? wfA : wfB,
      ["running", "completed", "failed", "completed", "cancelled"][i % 5],
      i % 5 === 0 ? null : 1000 * (i + 1),
    ]);
    for (const [i, [wf, status, durationMs]] of plan.entries()) {
      const { status: code, body } = await create(carolClient, { workflowId: wf, temporalWorkflowId: `e2e-list-${randomUUID()}`, input: { i } });
      expect(code).toBe(201);
      if (status !== "running") {
        const done = await update(carolClient, { id: body.id, status, durationMs: durationMs ?? undefined });
        expect(done.status).toBe(200);
      }
      (ids[status] ??= []).push(body.id);
      (ids[wf] ??= []).push(body.id);
      (ids.all ??= []).push(body.id);
    }
  });

  it("pages newest first with a cursor, through every row once", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const page = await invoke(carolClient, `executions-list?${query}`, { method: "GET" });
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(7);
      seen.push(...page.body.data.map((e: { id: string }) => e.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toEqual([...ids.all].reverse()); // created one after another: newest first
  });

  it("filters by status (one or several), workflow and time", async () => {
    const list = async (query: string) => {
      const answer = await invoke(carolClient, `executions-list?${query}`, { method: "GET" });
      expect(answer.status).toBe(200);
      return answer.body.data.map((e: { id: string }) => e.id).sort();
    };
    expect(await list("status=completed&limit=100")).toEqual([...ids.completed].sort());
    expect(await list("status=failed,cancelled&limit=100")).toEqual([...ids.failed, ...ids.cancelled].sort());
    expect(await list(`workflowId=${wfA}&limit=100`)).toEqual([...ids[wfA]].sort());
    expect(await list(`workflowId=${wfB}&status=running&limit=100`)).toEqual(ids.running.filter((id) => ids[wfB].includes(id)).sort());
    const [{ middle }] = await e2e.sql`
      select to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as middle from public.workflow_executions where id = ${ids.all[12]}`;
    expect(await list(`startedAfter=${encodeURIComponent(middle)}&limit=100`)).toEqual(ids.all.slice(12).sort());
    expect(await list(`startedBefore=${encodeURIComponent(middle)}&limit=100`)).toEqual(ids.all.slice(0, 12).sort());
    // Another user sees none of them.
    const theirs = await invoke(bobClient, `executions-list?workflowId=${wfA}`, { method: "GET" });
    expect(theirs.body).toEqual({ data: [], nextCursor: null });
  });

  it("stats match the rows", async () => {
    const rows = await e2e.sql`select status, duration_ms::float8 as d from public.workflow_executions where created_by = ${carol}`;
    const durations = rows.map((r) => r.d).filter((d): d is number => d !== null).sort((a, b) => a - b);
    const count = (s: string) => rows.filter((r) => r.status === s).length;
    const stats = await invoke(carolClient, "executions-stats", { method: "GET" });
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({
      total: 25,
      byStatus: { pending: 0, running: count("running"), completed: count("completed"), failed: count("failed"), cancelled: count("cancelled"), timed_out: 0 },
    });
    expect(stats.body.successRate).toBeCloseTo(count("completed") / (25 - count("running")), 12);
    expect(stats.body.avgDurationMs).toBeCloseTo(durations.reduce((a, b) => a + b, 0) / durations.length, 9);
    const rank = (p: number) => durations[Math.ceil(p * durations.length) - 1];
    expect(Math.abs(stats.body.p50DurationMs - rank(0.5))).toBeLessThanOrEqual(0.02 * rank(0.5));
    expect(Math.abs(stats.body.p95DurationMs - rank(0.95))).toBeLessThanOrEqual(0.02 * rank(0.95));

    const forA = await invoke(carolClient, `executions-stats?workflowId=${wfA}`, { method: "GET" });
    expect(forA.body.total).toBe(ids[wfA].length);
    const ranged = await invoke(carolClient, `executions-stats?startedAfter=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`, { method: "GET" });
    expect(ranged.body.total).toBe(25);
    // Nobody else's rows count.
    expect((await invoke(bobClient, `executions-stats?workflowId=${wfA}`, { method: "GET" })).body.total).toBe(0);
  });
});

describe("CORS", () => {
  it("answers the browser's preflight", async () => {
    const response = await fetch(`${e2e.server.functionsUrl}/executions-create`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, apikey, x-client-info" },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-headers")).toMatch(/authorization/);
    expect(response.headers.get("access-control-allow-methods")).toMatch(/POST/);
  });
});

