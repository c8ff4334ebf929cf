/**
 * Temporal workflow and run ids at the HTTP edge: only ids Temporal and both gateways can
 * address (1 to 1000 bytes, no "/", not "." or "..", no control characters) are accepted; any
 * other is a 400 whose details name the field and say what is wrong, and nothing is stored.
 * ("." and ".." used to be stored, and the HTTP gateway then addressed
 * /api/v1/namespaces/<ns>/cancel instead of the workflow.) The `execution-` prefix is the
 * tracker's own (400 too).
 */
import { randomUUID } from "node:crypto";
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { userToken } from "../support/tokens.ts";
import { clientFor, type E2E, invoke, startE2E, storedRow } from "./support.ts";

let e2e: E2E;
let alice: string;
let aliceClient: SupabaseClient;
let workflow: string;
let run: { id: string };

beforeAll(async () => {
  e2e = await startE2E();
  alice = await createUser(e2e.sql);
  workflow = await createWorkflow(e2e.sql, alice);
  aliceClient = clientFor(e2e, await userToken(alice));
  run = (await invoke(aliceClient, "executions-create", { body: { workflowId: workflow, temporalWorkflowId: `ids-${randomUUID()}` } })).body;
});
afterAll(async () => {
  await e2e?.stop();
});

const bad: Array<[string, string, RegExp]> = [
  ["..", "..", /"\." or "\.\."/],
  [".", ".", /"\." or "\.\."/],
  ["a slash", "orders/42", /"\/"/],
  ["only a slash", "/", /"\/"/],
  ["a NUL", "a\u0000b", /control characters|NUL/], // the body check names NUL itself, first
  ["a newline", "a\nb", /control characters/],
  ["a tab", "a\tb", /control characters/],
  ["DEL", "a\u007fb", /control characters/],
  ["a C1 control", "a\u009bb", /control characters/],
  ["an empty id", "", /empty/],
  ["1001 bytes", "é".repeat(500) + "x", /1000 bytes/],
];

describe("a temporalWorkflowId Temporal cannot address is a 400 naming the field", () => {
  it.each(bad)("create with %s", async (_, temporalWorkflowId, reason) => {
    const answer = await invoke(aliceClient, "executions-create", { body: { workflowId: workflow, temporalWorkflowId } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error.code).toBe("validation_failed");
    expect(answer.body.error.details.fields).toContainEqual({ path: "temporalWorkflowId", message: expect.stringMatching(reason) });
    const [{ n }] = await e2e.sql`select count(*)::int as n from public.workflow_executions where workflow_id = ${workflow}`;
    expect(n).toBe(1);
  });

  it.each(bad)("update by %s", async (_, temporalWorkflowId, reason) => {
    const answer = await invoke(aliceClient, "executions-update", { body: { temporalWorkflowId, status: "completed" } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details.fields).toContainEqual({ path: "temporalWorkflowId", message: expect.stringMatching(reason) });
  });

  it("a temporalRunId obeys the same rules", async () => {
    const before = await storedRow(e2e.sql, run.id);
    const answer = await invoke(aliceClient, "executions-update", { body: { id: run.id, temporalRunId: "..", status: "completed" } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details.fields).toContainEqual({ path: "temporalRunId", message: expect.stringMatching(/"\." or "\.\."/) });
    expect(await storedRow(e2e.sql, run.id)).toEqual(before);
  });

  it("what Temporal accepts is accepted: dots, spaces and unicode inside, 1000 bytes", async () => {
    for (const temporalWorkflowId of [`...${randomUUID()}`, `a.b ${randomUUID()}`, `ünï-${randomUUID()}`, randomUUID() + "é".repeat(482)]) {
      const answer = await invoke(aliceClient, "executions-create", { body: { workflowId: workflow, temporalWorkflowId } });
      expect(answer.status, temporalWorkflowId).toBe(201);
      expect(answer.body.temporalWorkflowId).toBe(temporalWorkflowId);
    }
  });

  it("the execution- prefix is reserved for runs the tracker dispatches: 400", async () => {
    const answer = await invoke(aliceClient, "executions-create", { body: { workflowId: workflow, temporalWorkflowId: `execution-${run.id}` } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details.fields).toEqual([{ path: "temporalWorkflowId", message: expect.stringMatching(/reserved/) }]);
  });
});
