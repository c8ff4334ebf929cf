/**
 * executions-webhook and timeout-sweeper over HTTP, on Deno: who may call them (the shared
 * secret in constant time, or a service-role JWT; nothing else), what they answer for bad
 * payloads, and dispatch over HTTP when Temporal is down (202, pending, nothing lost).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql } from "../support/postgres.ts";
import { startFunctionsServer, type FunctionsServer } from "../support/functions-server.ts";
import { forgedToken, serviceToken, userToken } from "../support/tokens.ts";

const webhookSecret = `whsec-${randomUUID()}`;
// A database of its own: the sweeper acts on every row it can see.
const dbName = `et_internal_${randomUUID().slice(0, 8)}`;
let server: FunctionsServer;
let sql: Sql;
let user: string;

beforeAll(async () => {
  const url = await createMigratedDatabase(databaseUrl(), dbName);
  sql = connect(url);
  user = await createUser(sql);
  server = await startFunctionsServer({
    databaseUrl: url,
    // Temporal is configured but down: nothing listens on port 9.
    env: { WEBHOOK_SECRET: webhookSecret, TEMPORAL_HTTP_URL: "http://127.0.0.1:9" },
  });
});

afterAll(async () => {
  await server?.stop();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const post = (name: string, body: unknown, headers: Record<string, string>) =>
  fetch(`${server.functionsUrl}/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const webhookFor = (record: Record<string, unknown>) =>
  ({ type: "INSERT", table: "workflow_executions", schema: "public", record, old_record: null });

describe("who may call the internal functions", () => {
  for (const name of ["executions-webhook", "timeout-sweeper"]) {
    it(`${name}: 401 without credentials, with a wrong secret, a user token or a forged token`, async () => {
      const body = name === "timeout-sweeper" ? {} : webhookFor({ id: randomUUID(), status: "pending" });
      const attempts: Record<string, string>[] = [
        {},
        { "x-webhook-secret": "wrong" },
        { "x-webhook-secret": `${webhookSecret}x` },
        { authorization: `Bearer ${await userToken(user)}` },
        { authorization: `Bearer ${await forgedToken(user)}` },
      ];
      for (const headers of attempts) {
        const response = await post(name, body, headers);
        expect(response.status, JSON.stringify(headers)).toBe(401);
        expect((await response.json()).error.code).toBe("unauthorized");
      }
    });

    it(`${name}: accepts the shared secret and a service-role token`, async () => {
      const body = name === "timeout-sweeper" ? {} : webhookFor({ id: randomUUID(), status: "pending" });
      expect((await post(name, body, { "x-webhook-secret": webhookSecret })).status).toBe(200);
      expect((await post(name, body, { authorization: `Bearer ${await serviceToken()}` })).status).toBe(200);
    });
  }
});

describe("executions-webhook payloads", () => {
  const auth = { "x-webhook-secret": webhookSecret };

  it("answers 400 with a clear message for unknown tables, types and malformed payloads", async () => {
    const cases: [unknown, RegExp][] = [
      [{ ...webhookFor({ id: randomUUID(), status: "pending" }), table: "workflows" }, /only public.workflow_executions/],
      [{ ...webhookFor({ id: randomUUID(), status: "pending" }), type: "TRUNCATE" }, /type/],
      [{ type: "INSERT", table: "workflow_executions", schema: "public", record: null }, /needs record/],
      [{ type: "INSERT" }, /table/],
      ["{not json", /not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const response = await post("executions-webhook", body, auth);
      expect(response.status).toBe(400);
      const { error } = await response.json();
      expect(error.code).toBe("validation_failed");
      expect(error.message + JSON.stringify(error.details ?? "")).toMatch(message);
    }
  });

  it("ignores a webhook for an execution that no longer exists, however often it comes", async () => {
    for (let i = 0; i < 2; i++) {
      const response = await post("executions-webhook", webhookFor({ id: randomUUID(), status: "pending" }), auth);
      expect(response.status).toBe(200);
      expect((await response.json()).action).toBe("ignored");
    }
  });
});

describe("dispatch over HTTP while Temporal is down", () => {
  it("answers 202 with the execution pending, and the sweeper keeps it pending", async () => {
    const workflowId = await createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue: "nowhere" });
    const response = await post("executions-create", { workflowId, input: { n: 1 } }, { authorization: `Bearer ${await userToken(user)}` });
    expect(response.status).toBe(202);
    const body = await response.json();
    expect(body.status).toBe("pending");
    expect(body.temporalWorkflowId).toBe(`execution-${body.id}`);
    expect(body.message).toMatch(/unreachable/);

    const sweep = await post("timeout-sweeper", { redispatchAfterSeconds: 0 }, { "x-webhook-secret": webhookSecret });
    expect(sweep.status).toBe(200);
    const report = await sweep.json();
    expect(report.temporalReachable).toBe(false);
    const [row] = await sql`select status from public.workflow_executions where id = ${body.id}`;
    expect(row.status).toBe("pending");
  });

  it("rejects bad sweeper options with 400", async () => {
    const response = await post("timeout-sweeper", { batchSize: 0, extra: true }, { "x-webhook-secret": webhookSecret });
    expect(response.status).toBe(400);
    const { error } = await response.json();
    expect(error.details.fields.map((f: { path: string }) => f.path).sort()).toEqual(["(body)", "batchSize"]);
  });
});
