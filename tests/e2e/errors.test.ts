/**
 * Every error code of the API over HTTP, with its status and body `{error: {code, message,
 * details?}}`: supabase-js `functions.invoke` where it can express the request, raw fetch for
 * missing tokens, malformed bodies, wrong content types and bodies over 1 MiB. No error body
 * carries a stack trace or SQL, and a rejected request changes nothing.
 */
import { randomUUID } from "node:crypto";
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { anonToken, expiredToken, forgedToken, malformedTokens, serviceToken, startJwksServer, userToken } from "../support/tokens.ts";
import { type Answer, clientFor, type E2E, invoke, raw, startE2E, storedRow } from "./support.ts";

let e2e: E2E;
let alice: string;
let bob: string;
let aliceToken: string;
let aliceClient: SupabaseClient;
let bobClient: SupabaseClient;
let workflow: string;
let bobWorkflow: string;
let run: { id: string; temporalWorkflowId: string };
const errors: Answer[] = [];

/** Records an error answer for the no-leak check at the end, and checks its envelope. */
function expectError(answer: Answer, status: number, code: string) {
  errors.push(answer);
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
  expect(answer.body).toEqual({ error: { code, message: expect.any(String), requestId: expect.any(String), ...(answer.body?.error?.details === undefined ? {} : { details: expect.anything() }) } });
  expect(answer.body.error.message.length).toBeGreaterThan(0);
  return answer.body.error;
}

const json = (token: string | null, body: string, contentType = "application/json"): RequestInit => ({
  method: "POST",
  headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": contentType },
  body,
});

beforeAll(async () => {
  e2e = await startE2E();
  [alice, bob] = await Promise.all([createUser(e2e.sql), createUser(e2e.sql)]);
  [workflow, bobWorkflow] = await Promise.all([createWorkflow(e2e.sql, alice), createWorkflow(e2e.sql, bob)]);
  aliceToken = await userToken(alice);
  aliceClient = clientFor(e2e, aliceToken);
  bobClient = clientFor(e2e, await userToken(bob));
  const created = await invoke(aliceClient, "executions-create", { body: { workflowId: workflow, temporalWorkflowId: `err-${randomUUID()}` } });
  expect(created.status).toBe(201);
  run = created.body;
});
afterAll(async () => {
  await e2e?.stop();
});

describe("400 validation_failed", () => {
  it("names each bad field of a create", async () => {
    const error = expectError(
      await invoke(aliceClient, "executions-create", { body: { workflowId: "nope", temporalWorkflowId: "", timeoutSeconds: -5, userId: 42, input: undefined } }),
      400,
      "validation_failed",
    );
    const paths = error.details.fields.map((f: { path: string }) => f.path).sort();
    expect(paths).toEqual(["temporalWorkflowId", "timeoutSeconds", "userId", "workflowId"]);
    for (const field of error.details.fields) expect(field.message).toEqual(expect.any(String));
  });

  it("names each bad field of an update, and the row is unchanged", async () => {
    const before = await storedRow(e2e.sql, run.id);
    const error = expectError(
      await invoke(aliceClient, "executions-update", { body: { id: run.id, status: "finished", durationMs: -1, activitiesExecuted: 1.5 } }),
      400,
      "validation_failed",
    );
    expect(error.details.fields.map((f: { path: string }) => f.path).sort()).toEqual(["activitiesExecuted", "durationMs", "status"]);
    expect(await storedRow(e2e.sql, run.id)).toEqual(before);
  });

  it("names each bad query parameter of a list and of stats", async () => {
    const list = expectError(
      await invoke(aliceClient, "executions-list?limit=0&status=bogus&workflowId=x&startedAfter=yesterday", { method: "GET" }),
      400,
      "validation_failed",
    );
    expect(new Set(list.details.fields.map((f: { path: string }) => f.path.split(".")[0]))).toEqual(new Set(["limit", "status", "workflowId", "startedAfter"]));
    const stats = expectError(await invoke(aliceClient, "executions-stats?startedBefore=2026-02-30", { method: "GET" }), 400, "validation_failed");
    expect(stats.details.fields.map((f: { path: string }) => f.path)).toEqual(["startedBefore"]);
  });

  it("rejects unknown fields, a garbage cursor and a non-UUID id", async () => {
    const unknown = expectError(await invoke(aliceClient, "executions-create", { body: { workflowId: workflow, createdBy: bob } }), 400, "validation_failed");
    expect(JSON.stringify(unknown.details)).toContain("createdBy");
    const cursor = expectError(await invoke(aliceClient, "executions-list?cursor=not-a-cursor", { method: "GET" }), 400, "validation_failed");
    expect(cursor.details.fields.map((f: { path: string }) => f.path)).toEqual(["cursor"]);
    const id = expectError(await invoke(aliceClient, "executions-list/123", { method: "GET" }), 400, "validation_failed");
    expect(id.details.fields.map((f: { path: string }) => f.path)).toEqual(["id"]);
  });

  it("malformed JSON is 400, the body named", async () => {
    for (const body of ["{", '{"workflowId":', "not json", ""]) {
      const error = expectError(await raw(e2e, "executions-create", json(aliceToken, body)), 400, "validation_failed");
      expect(error.details.fields).toEqual([{ path: "(body)", message: "malformed JSON" }]);
    }
    expectError(await raw(e2e, "executions-update", json(aliceToken, `{"id":"${run.id}","status":"completed",}`)), 400, "validation_failed");
  });
});

describe("401 unauthorized", () => {
  it("without a token", async () => {
    expectError(await raw(e2e, "executions-create", json(null, JSON.stringify({ workflowId: workflow }))), 401, "unauthorized");
    expectError(await raw(e2e, "executions-list"), 401, "unauthorized");
    expectError(await raw(e2e, "executions-stats", { headers: { authorization: "Basic YTpi" } }), 401, "unauthorized");
  });

  it("with a malformed, forged or expired token, the anon key, or another audience", async () => {
    const tokens = [
      ...malformedTokens,
      await forgedToken(alice),
      await expiredToken(alice),
      await anonToken(),
      await userToken(alice, { claims: { aud: "other" } }),
      await userToken("not-a-uuid"),
      await (await startJwksServer("ES256").then(async (stranger) => {
        const token = stranger.userToken(alice);
        await stranger.stop();
        return token;
      })),
    ];
    for (const token of tokens) {
      const client = clientFor(e2e, token);
      expectError(await invoke(client, "executions-list", { method: "GET" }), 401, "unauthorized");
      expectError(await invoke(client, "executions-update", { body: { id: run.id, status: "cancelled" } }), 401, "unauthorized");
    }
    expect((await storedRow(e2e.sql, run.id)).status).toBe("running");
  });

  it("a token from the project's JWKS (ES256) is accepted", async () => {
    const client = clientFor(e2e, await e2e.jwks.userToken(alice));
    const answer = await invoke(client, `executions-list/${run.id}`, { method: "GET" });
    expect(answer.status).toBe(200);
    expect(answer.body.id).toBe(run.id);
  });
});

describe("403, 404, 409", () => {
  it("403 forbidden: a user naming another user as owner", async () => {
    const error = expectError(
      await invoke(aliceClient, "executions-create", { body: { workflowId: workflow, userId: bob, temporalWorkflowId: `err-${randomUUID()}` } }),
      403,
      "forbidden",
    );
    expect(error.message).toMatch(/userId/);
  });

  it("404 not_found: unknown or foreign execution, foreign workflow, unknown route", async () => {
    expectError(await invoke(aliceClient, "executions-update", { body: { id: randomUUID(), status: "completed" } }), 404, "not_found");
    expectError(await invoke(aliceClient, "executions-update", { body: { temporalWorkflowId: "nobody-has-this", status: "completed" } }), 404, "not_found");
    const before = await storedRow(e2e.sql, run.id);
    expectError(await invoke(bobClient, "executions-update", { body: { id: run.id, status: "cancelled" } }), 404, "not_found");
    expect(await storedRow(e2e.sql, run.id)).toEqual(before);
    expectError(await invoke(bobClient, "executions-create", { body: { workflowId: workflow, temporalWorkflowId: `err-${randomUUID()}` } }), 404, "not_found");
    const service = clientFor(e2e, await serviceToken());
    expectError(await invoke(service, "executions-create", { body: { workflowId: workflow, userId: bob, temporalWorkflowId: `err-${randomUUID()}` } }), 404, "not_found");
    expectError(await invoke(aliceClient, "executions-stats/nothing-here", { method: "GET" }), 404, "not_found");
    expectError(await raw(e2e, "no-such-function", { headers: { authorization: `Bearer ${aliceToken}` } }), 404, "not_found");
  });

  it("409 invalid_transition, and the row is unchanged", async () => {
    const before = await storedRow(e2e.sql, run.id);
    const error = expectError(await invoke(aliceClient, "executions-update", { body: { id: run.id, status: "pending", output: { x: 1 } } }), 409, "invalid_transition");
    expect(error.details).toEqual({ field: "status" });
    expect(await storedRow(e2e.sql, run.id)).toEqual(before);
  });

  it("409 terminal_execution: any change to a finished execution, naming the field; the row is unchanged", async () => {
    const created = await invoke(aliceClient, "executions-create", { body: { workflowId: workflow, temporalWorkflowId: `err-${randomUUID()}` } });
    expect((await invoke(aliceClient, "executions-update", { body: { id: created.body.id, status: "completed", output: { ok: true } } })).status).toBe(200);
    const before = await storedRow(e2e.sql, created.body.id);
    const error = expectError(await invoke(aliceClient, "executions-update", { body: { id: created.body.id, output: { ok: false } } }), 409, "terminal_execution");
    expect(error.details).toEqual({ field: "output" });
    expect(await storedRow(e2e.sql, created.body.id)).toEqual(before);
    // (immutable_field, 409, is the database's answer to changing a column fixed at insert; no
    // request of the API changes one: tests/integration/integrity.test.ts.)
  });

  it("409 conflict: a temporalWorkflowId the caller's own execution of another workflow holds", async () => {
    const otherWorkflow = await createWorkflow(e2e.sql, alice);
    const error = expectError(
      await invoke(aliceClient, "executions-create", { body: { workflowId: otherWorkflow, temporalWorkflowId: run.temporalWorkflowId } }),
      409,
      "conflict",
    );
    expect(error.message).toMatch(/temporalWorkflowId/);
    // Another user's id is no clash (ids are unique per owner), so a 409 never reveals another tenant's id.
    const bobs = await invoke(bobClient, "executions-create", { body: { workflowId: bobWorkflow, temporalWorkflowId: run.temporalWorkflowId } });
    expect(bobs.status).toBe(201);
    expect(bobs.body).toMatchObject({ createdBy: bob, temporalLink: "reported" });
    const [{ n }] = await e2e.sql`select count(*)::int as n from public.workflow_executions where temporal_workflow_id = ${run.temporalWorkflowId}`;
    expect(n).toBe(2);
  });
});

describe("413 and 415", () => {
  const big = (bytes: number) => JSON.stringify({ workflowId: workflow, temporalWorkflowId: `big-${randomUUID()}`, input: { blob: "x".repeat(bytes) } });

  it("413 payload_too_large for a body over 1 MiB (with and without Content-Length); 1 MiB is fine", async () => {
    expectError(await raw(e2e, "executions-create", json(aliceToken, big(1024 * 1024))), 413, "payload_too_large");
    expectError(await raw(e2e, "executions-update", json(aliceToken, JSON.stringify({ id: run.id, output: "y".repeat(2 * 1024 * 1024) }))), 413, "payload_too_large");
    // Streamed (chunked, no Content-Length): the limit holds while reading.
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode(`{"workflowId":"${workflow}","input":"`));
        if (sent++ < 20) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const streamed = await raw(e2e, "executions-create", { ...json(aliceToken, ""), body: stream, duplex: "half" } as RequestInit);
    expectError(streamed, 413, "payload_too_large");

    const fits = await raw(e2e, "executions-create", json(aliceToken, big(1024 * 1024 - 300)));
    expect(fits.status).toBe(201);
    expect((await storedRow(e2e.sql, run.id)).output).toBeNull();
  });

  it("415 unsupported_media_type unless the body is declared JSON", async () => {
    const body = JSON.stringify({ workflowId: workflow, temporalWorkflowId: `ct-${randomUUID()}` });
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]) {
      expectError(await raw(e2e, "executions-create", json(aliceToken, body, contentType)), 415, "unsupported_media_type");
    }
    expectError(await raw(e2e, "executions-create", { method: "POST", headers: { authorization: `Bearer ${aliceToken}` }, body: new Uint8Array(new TextEncoder().encode(body)) }), 415, "unsupported_media_type");
    // supabase-js sends a string body as text/plain.
    expectError(await invoke(aliceClient, "executions-create", { body }), 415, "unsupported_media_type");
    // application/json with a charset, and +json types, are JSON.
    expect((await raw(e2e, "executions-create", json(aliceToken, body, "application/json; charset=utf-8"))).status).toBe(201);
    const other = JSON.stringify({ workflowId: workflow, temporalWorkflowId: `ct-${randomUUID()}` });
    expect((await raw(e2e, "executions-create", json(aliceToken, other, "application/vnd.api+json"))).status).toBe(201);
    const [{ n }] = await e2e.sql`select count(*)::int as n from public.workflow_executions where temporal_workflow_id like 'ct-%' and created_by = ${alice}`;
    expect(n).toBe(2);
  });
});

describe("error bodies", () => {
  it("carry no stack trace, SQL or driver detail", () => {
    expect(errors.length).toBeGreaterThan(40);
    const leaks = [/\bat\s+\S+\s+\(/, /\.ts:\d+/, /node_modules/, /file:\/\//, /\bselect\b.*\bfrom\b/i, /\binsert into\b/i, /\bupdate public\./i,
      /\bwhere\b.*=/i, /SQLSTATE|PostgresError|postgres\.js|syntax error|relation "|column "|violates|constraint/i, /\bET00\d\b/];
    for (const answer of errors) {
      const text = JSON.stringify(answer.body);
      for (const pattern of leaks) expect(text, `${pattern} in ${text}`).not.toMatch(pattern);
      expect(Object.keys(answer.body)).toEqual(["error"]);
      expect(Object.keys(answer.body.error).sort()).toEqual(answer.body.error.details === undefined ? ["code", "message", "requestId"] : ["code", "details", "message", "requestId"]);
    }
  });
});
