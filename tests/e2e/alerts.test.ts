/**
 * The alerts API end to end (supabase/functions/alerts and alerts-deliver on Deno, over
 * PostgreSQL migrated by the Supabase CLI): endpoints created (the secret shown once), listed,
 * read, changed, rotated and deleted; bad input is a 400 naming the field with nothing
 * changed; another user's endpoint is a 404; a failure reported through executions-update is
 * delivered by alerts-deliver to a receiver on 127.0.0.1, signed, and shows in the log.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAlertSignature } from "../../shared/alerts/signing.ts";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { type Answer, clientFor, type E2E, invoke, raw, startE2E } from "./support.ts";

const webhookSecret = `alerts-e2e-${crypto.randomUUID()}`;
let e2e: E2E;
let alice: string;
let bob: string;
let aliceClient: SupabaseClient;
let bobClient: SupabaseClient;
let serviceClient: SupabaseClient;
let receiver: Server;
let receiverUrl: string;
const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];

beforeAll(async () => {
  e2e = await startE2E({ env: { ALERTS_ALLOW_PRIVATE_URLS: "1", WEBHOOK_SECRET: webhookSecret } });
  [alice, bob] = await Promise.all([createUser(e2e.sql), createUser(e2e.sql)]);
  aliceClient = clientFor(e2e, await userToken(alice));
  bobClient = clientFor(e2e, await userToken(bob));
  serviceClient = clientFor(e2e, await serviceToken());
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  await e2e?.stop();
});

const createEndpoint = (client: SupabaseClient, body: Record<string, unknown>) => invoke(client, "alerts/endpoints", { body });
const getEndpoint = (client: SupabaseClient, id: string) => invoke(client, `alerts/endpoints/${id}`, { method: "GET" });
const patchEndpoint = (client: SupabaseClient, id: string, body: Record<string, unknown>) => invoke(client, `alerts/endpoints/${id}`, { method: "PATCH", body });
const deleteEndpoint = (client: SupabaseClient, id: string) => invoke(client, `alerts/endpoints/${id}`, { method: "DELETE" });
const deliveries = (client: SupabaseClient, query = "") => invoke(client, `alerts/deliveries${query}`, { method: "GET" });
const runDeliverer = () =>
  raw(e2e, "alerts-deliver", {
    method: "POST",
    headers: { "content-type": "application/json", "x-webhook-secret": webhookSecret },
    body: JSON.stringify({ keepPolling: false }),
  });

function expectError(answer: Answer, status: number, code: string) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.body.error).toMatchObject({ code, message: expect.any(String), requestId: expect.any(String) });
  return answer.body.error;
}

async function endpointCount(owner: string): Promise<number> {
  const [{ n }] = await e2e.sql`select count(*)::int as n from public.alert_endpoints where created_by = ${owner}`;
  return n;
}

describe("alert endpoints", () => {
  it("create (201, the secret once), list, get and change (never the secret), rotate (a new secret), delete (204, then 404)", async () => {
    const created = await createEndpoint(aliceClient, { url: receiverUrl, description: "pager", statuses: ["cancelled", "failed", "failed"] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String), createdBy: alice, url: receiverUrl, description: "pager", workflowId: null,
      statuses: ["failed", "cancelled"], enabled: true, secret: expect.stringMatching(/^whsec_[0-9a-f]{64}$/),
      createdAt: expect.any(String), updatedAt: expect.any(String),
    });
    const id = created.body.id;
    const { secret: _secret, ...shown } = created.body;

    const list = await invoke(aliceClient, "alerts/endpoints", { method: "GET" });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ data: [shown] });
    expect((await getEndpoint(aliceClient, id)).body).toEqual(shown);

    const changed = await patchEndpoint(aliceClient, id, { enabled: false, description: null, statuses: ["timed_out"] });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id, enabled: false, description: null, statuses: ["timed_out"] });
    expect(changed.body.secret).toBeUndefined();

    const rotated = await invoke(aliceClient, `alerts/endpoints/${id}/rotate-secret`, { method: "POST" });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(rotated.body.secret).not.toBe(created.body.secret);

    expect((await deleteEndpoint(aliceClient, id)).status).toBe(204);
    expectError(await getEndpoint(aliceClient, id), 404, "not_found");
  });

  it("bad input: a 400 naming the field, and nothing stored", async () => {
    const before = await endpointCount(alice);
    for (const [body, field] of [
      [{ url: "ftp://example.com/x" }, "url"],
      [{ url: "not a url" }, "url"],
      [{ url: "https://user:pw@example.com/x" }, "url"],
      [{ url: "https://example.com/a b" }, "url"],
      [{ url: receiverUrl, description: "x".repeat(501) }, "description"],
      [{ url: receiverUrl, statuses: ["completed"] }, "statuses.0"],
      [{ url: receiverUrl, statuses: [] }, "statuses"],
      [{ url: receiverUrl, workflowId: "nope" }, "workflowId"],
      [{ url: receiverUrl, secret: "mine" }, ""],
      [{}, "url"],
    ] as const) {
      const error = expectError(await createEndpoint(aliceClient, body), 400, "validation_failed");
      if (field) expect(error.details.fields.map((f: { path: string }) => f.path), JSON.stringify(body)).toContain(field);
    }
    expectError(await getEndpoint(aliceClient, "not-a-uuid"), 400, "validation_failed");
    expectError(await deliveries(aliceClient, "?status=lost"), 400, "validation_failed");
    expectError(await deliveries(aliceClient, "?cursor=bogus"), 400, "validation_failed");
    const created = await createEndpoint(aliceClient, { url: receiverUrl });
    expectError(await patchEndpoint(aliceClient, created.body.id, {}), 400, "validation_failed");
    expectError(await patchEndpoint(aliceClient, created.body.id, { url: "gopher://x" }), 400, "validation_failed");
    expect((await getEndpoint(aliceClient, created.body.id)).body.url).toBe(receiverUrl);
    expect(await endpointCount(alice)).toBe(before + 1);
    await deleteEndpoint(aliceClient, created.body.id);
  });

  it("another user's endpoint is a 404 for every operation; the service role names the owner", async () => {
    const created = await createEndpoint(aliceClient, { url: receiverUrl });
    const id = created.body.id;
    expectError(await getEndpoint(bobClient, id), 404, "not_found");
    expectError(await patchEndpoint(bobClient, id, { enabled: false }), 404, "not_found");
    expectError(await invoke(bobClient, `alerts/endpoints/${id}/rotate-secret`, { method: "POST" }), 404, "not_found");
    expectError(await deleteEndpoint(bobClient, id), 404, "not_found");
    expect((await invoke(bobClient, "alerts/endpoints", { method: "GET" })).body).toEqual({ data: [] });
    expectError(await createEndpoint(bobClient, { url: receiverUrl, userId: alice }), 403, "forbidden");
    expectError(await createEndpoint(serviceClient, { url: receiverUrl }), 400, "validation_failed");
    const forBob = await createEndpoint(serviceClient, { url: receiverUrl, userId: bob });
    expect(forBob.status).toBe(201);
    expect(forBob.body.createdBy).toBe(bob);
    await deleteEndpoint(aliceClient, id);
    await deleteEndpoint(bobClient, forBob.body.id);
  });
});

describe("delivery over HTTP", () => {
  it("a failure reported through executions-update is delivered, signed, by alerts-deliver, and shows in the log", async () => {
    const workflow = await createWorkflow(e2e.sql, alice);
    const endpoint = await createEndpoint(aliceClient, { url: receiverUrl, workflowId: workflow });
    expect(endpoint.status).toBe(201);
    const [row] = await e2e.sql`
      insert into public.workflow_executions (workflow_id, created_by, status) values (${workflow}, ${alice}, 'running') returning id`;
    const failed = await invoke(aliceClient, "executions-update", { body: { id: row.id, status: "failed", errorMessage: "out of memory" } });
    expect(failed.status, JSON.stringify(failed.body)).toBe(200);

    const pending = await deliveries(aliceClient, `?endpointId=${endpoint.body.id}`);
    expect(pending.body.data).toEqual([expect.objectContaining({ executionId: row.id, event: "failed", status: "pending", attempts: 0 })]);

    expectError(await raw(e2e, "alerts-deliver", { method: "POST" }), 401, "unauthorized");
    expectError(await invoke(aliceClient, "alerts-deliver", { body: { keepPolling: false } }), 401, "unauthorized");
    const run = await runDeliverer();
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body).toMatchObject({ complete: true });

    const request = received.find((r) => r.headers["x-execution-tracker-delivery"] === pending.body.data[0].id)!;
    expect(request).toBeDefined();
    expect(request.headers["x-execution-tracker-event"]).toBe("failed");
    expect(await verifyAlertSignature(endpoint.body.secret, String(request.headers["x-execution-tracker-signature"]), request.body)).toBe(true);
    expect(JSON.parse(request.body).execution).toMatchObject({ id: row.id, workflowId: workflow, status: "failed", errorMessage: "out of memory" });

    const log = await deliveries(aliceClient, `?endpointId=${endpoint.body.id}&status=delivered`);
    expect(log.body).toEqual({
      data: [expect.objectContaining({ id: pending.body.data[0].id, status: "delivered", attempts: 1, lastStatusCode: 204, nextAttemptAt: null, deliveredAt: expect.any(String) })],
      nextCursor: null,
    });
    expect((await deliveries(bobClient, `?endpointId=${endpoint.body.id}`)).body).toEqual({ data: [], nextCursor: null });
  });
});
