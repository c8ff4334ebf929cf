/**
 * The typed client apps import (shared/client/index.ts, types generated from the OpenAPI
 * document) against the functions on Deno: a run recorded, completed, listed, counted and
 * deleted as an app does it; refusals as TrackerError with the API's code and request id; each
 * function serving its part of the document at /<name>/openapi.json. Every answer the client
 * receives is also checked against the document (tests/contract/conformance.ts).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTrackerClient, type TrackerClient, TrackerError } from "../../shared/client/index.ts";
import { openApiDocument } from "../../shared/openapi/document.ts";
import { conform } from "../contract/conformance.ts";
import { createUser } from "../support/postgres.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { type E2E, raw, startE2E } from "./support.ts";

let e2e: E2E;
let user: string;
let tracker: TrackerClient;
let service: TrackerClient;

/** fetch, with every answer checked against the document (the client reads a clone's twin). */
const checkedFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const text = await response.clone().text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  conform(init?.method ?? "GET", String(input), { status: response.status, body, headers: response.headers });
  return response;
};

beforeAll(async () => {
  e2e = await startE2E();
  user = await createUser(e2e.sql);
  const token = await userToken(user);
  // An app's client: the functions' URL and the signed-in user's access token (a function: a refreshed session).
  tracker = createTrackerClient({ functionsUrl: e2e.server.functionsUrl, accessToken: async () => token, fetch: checkedFetch });
  service = createTrackerClient({ functionsUrl: e2e.server.functionsUrl, accessToken: await serviceToken(), fetch: checkedFetch });
});
afterAll(async () => {
  await e2e?.stop();
});

describe("the typed client", () => {
  it("records a run, completes it, lists, counts, gets and deletes it", async () => {
    const workflow = await tracker.workflows.create({ name: "ship order" });
    expect(workflow.createdBy).toBe(user);
    const temporalWorkflowId = `order-${randomUUID()}`;
    const created = await tracker.executions.create({ workflowId: workflow.id, temporalWorkflowId, input: { orderId: 1234 }, timeoutSeconds: 600 });
    expect(created).toMatchObject({ status: "running", temporalWorkflowId, temporalLink: "reported", workflow: { id: workflow.id, name: "ship order" } });

    const done = await tracker.executions.update({ temporalWorkflowId, status: "completed", output: { shipped: true }, activitiesExecuted: 3 });
    expect(done).toMatchObject({ id: created.id, status: "completed", output: { shipped: true }, activitiesExecuted: 3 });
    expect(done.durationMs).toBeTypeOf("number");

    const page = await tracker.executions.list({ status: ["completed", "failed"], workflowId: workflow.id, limit: 10 });
    expect(page.data.map((e) => e.id)).toEqual([created.id]);
    expect(page.nextCursor).toBeNull();
    const all: string[] = [];
    for await (const execution of tracker.executions.all({ workflowId: workflow.id, limit: 1 })) all.push(execution.id);
    expect(all).toEqual([created.id]);

    const stats = await tracker.executions.stats({ workflowId: workflow.id });
    expect(stats).toMatchObject({ total: 1, successRate: 1, byStatus: { completed: 1, running: 0 } });
    expect((await tracker.executions.get(created.id)).status).toBe("completed");

    expect(await tracker.executions.delete(created.id)).toBeNull();
    await tracker.workflows.delete(workflow.id);
  });

  it("rejects with a TrackerError carrying the status, code, details and request id", async () => {
    const missing = await tracker.executions.get(randomUUID()).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(TrackerError);
    expect(missing).toMatchObject({ status: 404, code: "not_found" });
    expect((missing as TrackerError).requestId).toMatch(/\S/);

    // Not a status: the type says so, and the server must too (a bad value sent anyway is a 400).
    const invalid = await tracker.executions.list({ status: ["finished" as never] }).catch((error: unknown) => error);
    expect(invalid).toMatchObject({ status: 400, code: "validation_failed", details: { fields: [{ path: "status.0" }] } });

    const forbidden = await tracker.workflows.types.register({ workflowType: "x", taskQueue: "y" }).catch((error: unknown) => error);
    expect(forbidden).toMatchObject({ status: 403, code: "forbidden" });
  });

  it("runs the service role's operations (the registry, a sweep)", async () => {
    const pair = { workflowType: `Typed-${randomUUID().slice(0, 8)}`, taskQueue: "typed" };
    expect(await service.workflows.types.register({ ...pair, description: null })).toMatchObject(pair);
    expect((await tracker.workflows.types.list()).data).toContainEqual(expect.objectContaining(pair));
    expect(await service.workflows.types.unregister(pair.workflowType, pair.taskQueue)).toEqual({ workflowsCleared: 0 });
    const report = await service.sweep({ batchSize: 10 });
    expect(report.complete).toBe(true);
  });
});

describe("each function serves its part of the document", () => {
  it("at GET /<name>/openapi.json, to the callers the function accepts", async () => {
    const token = await userToken(user);
    for (const name of ["executions-create", "executions-list", "workflows"] as const) {
      const answer = await raw(e2e, `${name}/openapi.json`, { headers: { authorization: `Bearer ${token}` } });
      expect(answer.status, name).toBe(200);
      expect(answer.body, name).toEqual(openApiDocument({ only: name }));
      expect((await raw(e2e, `${name}/openapi.json`)).status, name).toBe(401);
    }
    const internal = await raw(e2e, "timeout-sweeper/openapi.json", { headers: { authorization: `Bearer ${await serviceToken()}` } });
    expect(internal.status).toBe(200);
    expect(Object.keys(internal.body.paths)).toEqual(["/timeout-sweeper", "/timeout-sweeper/openapi.json"]);
  });
});
