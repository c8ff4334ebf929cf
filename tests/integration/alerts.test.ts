/**
 * Failure alerts on real PostgreSQL (migration 20261202000500, shared/alerts/) with real HTTP
 * receivers on 127.0.0.1: the outbox row is written in the status change's own transaction,
 * deliveries are signed (and the receivers' verifier rejects replays and tampering), a
 * receiver that is down loses nothing, a slow receiver holds no other endpoint's deliveries, a
 * failing one ends dead after the bounded attempts, an expired lease is sent again (the
 * receiver dedupes on the delivery id), and RLS keeps endpoints, secrets and logs per user.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DeliverOptions, deliverDueAlerts, deliveryBody } from "../../shared/alerts/deliver.ts";
import { createAlertService } from "../../shared/alerts/service.ts";
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signAlert, verifyAlertSignature } from "../../shared/alerts/signing.ts";
import { deliveryAddressProblem } from "../../shared/alerts/url-policy.ts";
import { createDatabase, type Sql as AppSql, withCaller } from "../../shared/db.ts";
import { serviceCaller } from "../../shared/identity.ts";
import * as repo from "../../shared/repository/alerts.ts";
import { asRole, connect, createUser, createWorkflow, databaseUrl, freePort, type Sql, sqlState, userCaller } from "../support/postgres.ts";
import { until } from "../support/wait.ts";

interface Received {
  deliveryId: string;
  event: string;
  signature: string;
  body: string;
}

/** An HTTP receiver on 127.0.0.1: records every request; `answer` decides the reply. */
class Receiver {
  received: Received[] = [];
  answer: (request: Received) => Promise<number> | number = () => 200;
  private server: Server | null = null;
  constructor(readonly port: number) {}
  get url() {
    return `http://127.0.0.1:${this.port}/hook`;
  }
  /** Deliveries counted once each, by delivery id (what a deduping receiver keeps). */
  get unique() {
    return new Set(this.received.map((r) => r.deliveryId));
  }
  async start() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("end", async () => {
        const request = {
          deliveryId: String(req.headers[DELIVERY_HEADER]),
          event: String(req.headers[EVENT_HEADER]),
          signature: String(req.headers[SIGNATURE_HEADER]),
          body: Buffer.concat(chunks).toString("utf8"),
        };
        this.received.push(request);
        res.statusCode = await this.answer(request);
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
    return this;
  }
  async stop() {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function receiver(): Promise<Receiver> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return await new Receiver(port).start();
}

let sql: Sql;
let appSql: AppSql;
const receivers: Receiver[] = [];
const log = (message: string, error?: unknown) => console.error(`[alerts] ${message}`, error);

beforeAll(() => {
  sql = connect(databaseUrl(), { max: 4 });
  appSql = createDatabase({ url: databaseUrl(), poolSize: 4 });
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  await sql.end({ timeout: 1 });
  await appSql.end({ timeout: 1 });
});

const track = (r: Receiver) => (receivers.push(r), r);

/** The deliverer as the tests run it: private URLs allowed (the receivers are on 127.0.0.1), no waiting for new rows. */
const deliver = (options: DeliverOptions = {}) =>
  deliverDueAlerts({ sql: appSql, log }, { allowPrivateUrls: true, budgetMs: 20_000, backoffBaseSeconds: 0.05, ...options });

const service = (userId: string, allowPrivateUrls = true) => createAlertService({ sql: appSql, caller: userCaller(userId), allowPrivateUrls });

/** A user with a workflow and one running execution of it. */
async function owner() {
  const user = await createUser(sql);
  const workflow = await createWorkflow(sql, user, { name: "nightly-report" });
  return { user, workflow };
}

async function runningExecution(user: string, workflow: string): Promise<string> {
  const [row] = await sql`
    insert into public.workflow_executions (workflow_id, created_by, status) values (${workflow}, ${user}, 'running') returning id`;
  return row.id;
}

/** The owner's own status change, as the API (or a client through RLS) makes it. */
async function setStatus(user: string, execution: string, status: string, errorMessage: string | null = null) {
  await asRole(sql, user, (tx) => tx`
    update public.workflow_executions set status = ${status}, error_message = ${errorMessage} where id = ${execution}`);
}

async function deliveriesOf(endpoint: string) {
  return await sql`select * from public.alert_deliveries where endpoint_id = ${endpoint} order by created_at, id`;
}

describe("the outbox", () => {
  it("is written in the status change's transaction: a rolled-back change leaves no delivery", async () => {
    const { user, workflow } = await owner();
    const endpoint = await service(user).createEndpoint({ url: "http://127.0.0.1:9/never" });
    const execution = await runningExecution(user, workflow);

    const rollback = new Error("roll back");
    await expect(asRole(sql, user, async (tx) => {
      await tx`update public.workflow_executions set status = 'failed' where id = ${execution}`;
      // Inside the transaction the row is there (the owner reads their own log under RLS).
      const [{ n }] = await tx`select count(*)::int as n from public.alert_deliveries where execution_id = ${execution}`;
      expect(n).toBe(1);
      throw rollback;
    })).rejects.toBe(rollback);
    expect(await deliveriesOf(endpoint.id)).toEqual([]);

    await setStatus(user, execution, "failed", "boom");
    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({ execution_id: execution, created_by: user, event: "failed", status: "pending", attempts: 0 });
    expect(delivery.payload).toMatchObject({ id: execution, workflowId: workflow, workflowName: "nightly-report", status: "failed", errorMessage: "boom" });
  });

  it("only for the endpoint's statuses and workflow, only while enabled, and not for other owners' executions", async () => {
    const { user, workflow } = await owner();
    const other = await createWorkflow(sql, user, { name: "other" });
    const stranger = await owner();
    const alerts = service(user);
    const cancelOnly = await alerts.createEndpoint({ url: "http://127.0.0.1:9/a", statuses: ["cancelled"] });
    const ofWorkflow = await alerts.createEndpoint({ url: "http://127.0.0.1:9/b", workflowId: workflow });
    const disabled = await alerts.createEndpoint({ url: "http://127.0.0.1:9/c", enabled: false });
    expect(ofWorkflow.statuses).toEqual(["failed", "timed_out"]);

    const failedHere = await runningExecution(user, workflow);
    const failedThere = await runningExecution(user, other);
    const completed = await runningExecution(user, workflow);
    const cancelled = await runningExecution(user, other);
    await setStatus(user, failedHere, "failed");
    await setStatus(user, failedThere, "failed");
    await setStatus(user, completed, "completed");
    await setStatus(user, cancelled, "cancelled");
    // Inserted already failed (a run reported after the fact) counts too.
    await sql`insert into public.workflow_executions (workflow_id, created_by, status) values (${workflow}, ${user}, 'timed_out')`;
    // A stranger's failure is theirs alone.
    await setStatus(stranger.user, await runningExecution(stranger.user, stranger.workflow), "failed");

    expect((await deliveriesOf(cancelOnly.id)).map((d) => [d.execution_id, d.event])).toEqual([[cancelled, "cancelled"]]);
    expect((await deliveriesOf(ofWorkflow.id)).map((d) => d.event).sort()).toEqual(["failed", "timed_out"]);
    expect((await deliveriesOf(ofWorkflow.id)).map((d) => d.execution_id)).toContain(failedHere);
    expect(await deliveriesOf(disabled.id)).toEqual([]);
  });
});

describe("delivery", () => {
  it("signs each delivery; the receiver's verifier accepts it and rejects a replay, an old timestamp, a changed body and another secret", async () => {
    const hook = track(await receiver());
    const { user, workflow } = await owner();
    const endpoint = await service(user).createEndpoint({ url: hook.url, statuses: ["failed"] });
    expect(endpoint.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    const execution = await runningExecution(user, workflow);
    await setStatus(user, execution, "failed", "disk full");

    await deliver();
    const [request] = hook.received.filter((r) => JSON.parse(r.body).execution.id === execution);
    expect(request).toBeDefined();
    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({ status: "delivered", attempts: 1, last_status_code: 200, last_error: null });
    expect(request.deliveryId).toBe(delivery.id);
    expect(request.event).toBe("failed");
    // Timestamps as the API writes them (toISOString: milliseconds, Z), not jsonb's microseconds.
    const apiTimestamp = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(JSON.parse(request.body)).toEqual({
      id: delivery.id, event: "failed", createdAt: apiTimestamp,
      execution: expect.objectContaining({
        id: execution, workflowId: workflow, status: "failed", errorMessage: "disk full",
        startedAt: apiTimestamp, completedAt: apiTimestamp, updatedAt: apiTimestamp,
      }),
    });

    const t = Number(/t=(\d+)/.exec(request.signature)![1]);
    expect(await verifyAlertSignature(endpoint.secret, request.signature, request.body)).toBe(true);
    expect(await verifyAlertSignature(endpoint.secret, request.signature, request.body, 300, t + 299)).toBe(true);
    // The same request replayed later than the tolerance, or signed long ago: refused.
    expect(await verifyAlertSignature(endpoint.secret, request.signature, request.body, 300, t + 301)).toBe(false);
    expect(await verifyAlertSignature(endpoint.secret, await signAlert(endpoint.secret, request.body, t - 3600), request.body)).toBe(false);
    expect(await verifyAlertSignature(endpoint.secret, request.signature, request.body.replace("disk full", "all fine"))).toBe(false);
    expect(await verifyAlertSignature(`whsec_${"0".repeat(64)}`, request.signature, request.body)).toBe(false);
    expect(await verifyAlertSignature(endpoint.secret, "t=abc,v1=00", request.body)).toBe(false);
    expect(await verifyAlertSignature(endpoint.secret, null, request.body)).toBe(false);

    // A rotated secret signs from now on; the old one no longer verifies.
    const rotated = await service(user).rotateSecret(endpoint.id);
    expect(rotated.secret).not.toBe(endpoint.secret);
    const again = await runningExecution(user, workflow);
    await setStatus(user, again, "failed");
    await deliver();
    const next = hook.received.find((r) => JSON.parse(r.body).execution.id === again)!;
    expect(await verifyAlertSignature(rotated.secret, next.signature, next.body)).toBe(true);
    expect(await verifyAlertSignature(endpoint.secret, next.signature, next.body)).toBe(false);
  });

  it("a receiver that is down loses nothing: attempts and the error are recorded, and it is delivered once the receiver is up", async () => {
    const port = await freePort();
    const { user, workflow } = await owner();
    const endpoint = await service(user).createEndpoint({ url: `http://127.0.0.1:${port}/hook` });
    const executions = [await runningExecution(user, workflow), await runningExecution(user, workflow)];
    for (const execution of executions) await setStatus(user, execution, "failed");

    await deliver({ backoffBaseSeconds: 0.2, maxAttempts: 50 });
    const failed = await deliveriesOf(endpoint.id);
    expect(failed.map((d) => d.status)).toEqual(["pending", "pending"]);
    for (const d of failed) {
      expect(d.attempts).toBeGreaterThanOrEqual(1);
      expect(d.last_error).toMatch(/request failed/);
      expect(d.last_status_code).toBeNull();
    }

    const hook = track(await new Receiver(port).start());
    const delivered = await until(async () => {
      await deliver({ backoffBaseSeconds: 0.2, maxAttempts: 50 });
      return await deliveriesOf(endpoint.id);
    }, (rows) => rows.every((d) => d.status === "delivered"));
    expect(delivered.map((d) => d.status)).toEqual(["delivered", "delivered"]);
    expect([...hook.unique].sort()).toEqual(delivered.map((d) => d.id).sort());
    expect(hook.received.length).toBe(2);
  });

  it("a slow receiver holds only its own deliveries: another endpoint's are all delivered while it still has not answered", async () => {
    const slow = track(await receiver());
    const fast = track(await receiver());
    let release!: () => void;
    const released = new Promise<number>((resolve) => (release = () => resolve(200)));
    slow.answer = () => released;
    const { user, workflow } = await owner();
    const slowEndpoint = await service(user).createEndpoint({ url: slow.url });
    const fastEndpoint = await service(user).createEndpoint({ url: fast.url });
    // Every failure alerts both endpoints; more of them than the run has slots.
    for (let i = 0; i < 12; i++) await setStatus(user, await runningExecution(user, workflow), "failed");

    const run = deliver({ concurrency: 6, perEndpoint: 3, timeoutMs: 30_000, pollMs: 50 });
    const fastDone = await until(async () => (await deliveriesOf(fastEndpoint.id)).map((d) => d.status), (s) => s.length > 0 && s.every((x) => x === "delivered"));
    expect(fastDone).toEqual(Array(12).fill("delivered"));
    // Meanwhile every slow delivery is still unanswered.
    expect((await deliveriesOf(slowEndpoint.id)).every((d) => d.status === "pending" && d.attempts === 0)).toBe(true);
    expect(slow.received.length).toBeGreaterThan(0);
    release();
    await run;
    await until(async () => {
      await deliver();
      return await deliveriesOf(slowEndpoint.id);
    }, (rows) => rows.every((d) => d.status === "delivered"));
    expect((await deliveriesOf(slowEndpoint.id)).map((d) => d.status)).toEqual(Array(12).fill("delivered"));
  });

  it("a receiver that keeps failing: dead after the bounded attempts, each answer recorded", async () => {
    const hook = track(await receiver());
    hook.answer = () => 500;
    const { user, workflow } = await owner();
    const endpoint = await service(user).createEndpoint({ url: hook.url });
    await setStatus(user, await runningExecution(user, workflow), "failed");

    const done = await until(async () => {
      await deliver({ maxAttempts: 3, backoffBaseSeconds: 0 });
      return await deliveriesOf(endpoint.id);
    }, (rows) => rows[0]?.status === "dead");
    expect(done[0]).toMatchObject({ status: "dead", attempts: 3, last_status_code: 500, last_error: "HTTP 500", delivered_at: null });
    expect(hook.received.length).toBe(3);
    await deliver({ maxAttempts: 3, backoffBaseSeconds: 0 });
    expect(hook.received.length).toBe(3); // dead is final
  });

  it("a deliverer that dies after sending: the lease expires, the row is sent again, and the receiver's dedup counts it once", async () => {
    const hook = track(await receiver());
    const { user, workflow } = await owner();
    const endpoint = await service(user).createEndpoint({ url: hook.url });
    await setStatus(user, await runningExecution(user, workflow), "failed");

    // The dying deliverer: claims with a short lease, sends, and never records the outcome.
    const [claimed] = (await withCaller(appSql, serviceCaller, (tx) =>
      repo.claimDueDeliveries(tx, { limit: 1000, perEndpoint: 1000, leaseSeconds: 1, excludeEndpoints: [] })
    )).filter((row) => row.endpointId === endpoint.id);
    expect(claimed).toBeDefined();
    const body = deliveryBody(claimed);
    await fetch(hook.url, { method: "POST", body, headers: { [DELIVERY_HEADER]: claimed.id, [SIGNATURE_HEADER]: await signAlert(claimed.secret, body) } });
    // While the lease holds, nobody else takes it.
    await deliver();
    expect(hook.received.length).toBe(1);

    const rows = await until(async () => {
      await deliver();
      return await deliveriesOf(endpoint.id);
    }, (r) => r[0].status === "delivered", 10_000);
    expect(rows[0]).toMatchObject({ status: "delivered", attempts: 1 });
    expect(hook.received.length).toBe(2);
    expect(hook.unique.size).toBe(1);
    // The same bytes both times: the receiver can verify either.
    expect(hook.received[1].body).toBe(hook.received[0].body);
  });

  it("a disabled endpoint's pending deliveries wait, and go out once it is enabled again", async () => {
    const hook = track(await receiver());
    const { user, workflow } = await owner();
    const endpoint = await service(user).createEndpoint({ url: hook.url });
    await setStatus(user, await runningExecution(user, workflow), "failed");
    await service(user).updateEndpoint(endpoint.id, { enabled: false });
    await deliver();
    expect((await deliveriesOf(endpoint.id)).map((d) => d.status)).toEqual(["pending"]);
    await service(user).updateEndpoint(endpoint.id, { enabled: true });
    await deliver();
    expect((await deliveriesOf(endpoint.id)).map((d) => d.status)).toEqual(["delivered"]);
    expect(hook.received.length).toBe(1);
  });
});

describe("addresses (SSRF)", () => {
  it("without ALERTS_ALLOW_PRIVATE_URLS: http, loopback and private addresses are refused at save and at delivery", async () => {
    const { user } = await owner();
    for (const url of ["http://example.com/hook", "https://127.0.0.1/hook", "https://localhost/x", "https://[::1]/x", "https://10.1.2.3/x", "https://169.254.169.254/latest"]) {
      await expect(service(user, false).createEndpoint({ url }), url).rejects.toMatchObject({ code: "validation_failed" });
    }
    expect(await deliveryAddressProblem("https://internal.example/x", false, async () => ["10.0.0.7"])).toMatch(/private address/);
    expect(await deliveryAddressProblem("https://public.example/x", false, async () => ["93.184.215.14"])).toBeNull();

    // A row whose URL is (now) private, sent by a deliverer that does not allow it: refused, nothing sent.
    const hook = track(await receiver());
    const workflow = await createWorkflow(sql, user);
    const endpoint = await service(user).createEndpoint({ url: hook.url });
    await setStatus(user, await runningExecution(user, workflow), "failed");
    await deliverDueAlerts({ sql: appSql, log }, { allowPrivateUrls: false, budgetMs: 5_000, maxAttempts: 1 });
    const [row] = await deliveriesOf(endpoint.id);
    expect(row).toMatchObject({ status: "dead", last_status_code: null });
    expect(row.last_error).toMatch(/^refused: /);
    expect(hook.received.length).toBe(0);
  });
});

describe("RLS and the secret", () => {
  it("users see and change only their own endpoints and deliveries, and can never read a secret", async () => {
    const alice = await owner();
    const bob = await owner();
    const endpoint = await service(alice.user).createEndpoint({ url: "http://127.0.0.1:9/alice", description: "pager" });
    await setStatus(alice.user, await runningExecution(alice.user, alice.workflow), "failed");

    expect((await service(alice.user).listEndpoints()).data.map((e) => e.id)).toEqual([endpoint.id]);
    expect((await service(bob.user).listEndpoints()).data).toEqual([]);
    await expect(service(bob.user).getEndpoint(endpoint.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(service(bob.user).updateEndpoint(endpoint.id, { enabled: false })).rejects.toMatchObject({ code: "not_found" });
    await expect(service(bob.user).rotateSecret(endpoint.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(service(bob.user).deleteEndpoint(endpoint.id)).rejects.toMatchObject({ code: "not_found" });
    expect((await service(alice.user).listDeliveries({ limit: 20 })).data.map((d) => d.endpointId)).toEqual([endpoint.id]);
    expect((await service(bob.user).listDeliveries({ limit: 20 })).data).toEqual([]);
    expect((await service(bob.user).listDeliveries({ limit: 20, endpointId: endpoint.id })).data).toEqual([]);
    // Nothing of the answers but create and rotate carries a secret.
    expect(JSON.stringify(await service(alice.user).getEndpoint(endpoint.id))).not.toContain(endpoint.secret);

    // Directly through SQL (the Data API): the owner cannot read the secret column, nor select *.
    expect(await sqlState(asRole(sql, alice.user, (tx) => tx`select secret from public.alert_endpoints where id = ${endpoint.id}`))).toBe("42501");
    expect(await sqlState(asRole(sql, alice.user, (tx) => tx`select * from public.alert_endpoints`))).toBe("42501");
    expect(await sqlState(asRole(sql, alice.user, (tx) => tx`update public.alert_endpoints set secret = 'x' where id = ${endpoint.id} returning secret`))).toBe("42501");
    // Nobody writes the log but the trigger and the service role.
    expect(await sqlState(asRole(sql, alice.user, (tx) => tx`
      insert into public.alert_deliveries (endpoint_id, created_by, execution_id, event, payload)
      values (${endpoint.id}, ${alice.user}, ${randomUUID()}, 'failed', '{}')`))).toBe("42501");
    expect(await sqlState(asRole(sql, alice.user, (tx) => tx`update public.alert_deliveries set status = 'delivered'`))).toBe("42501");
    // Bob cannot point an endpoint at Alice's workflow, nor create one owned by Alice.
    await expect(service(bob.user).createEndpoint({ url: "http://127.0.0.1:9/x", workflowId: alice.workflow })).rejects.toMatchObject({ code: "not_found" });
    await expect(service(bob.user).createEndpoint({ url: "http://127.0.0.1:9/x", userId: alice.user })).rejects.toMatchObject({ code: "forbidden" });
    const [{ n }] = await asRole(sql, bob.user, (tx) => tx`select count(*)::int as n from public.alert_endpoints where id = ${endpoint.id}`);
    expect(n).toBe(0);
  });

  it("the delivery log pages newest first with a cursor, filtered by endpoint and status", async () => {
    const { user, workflow } = await owner();
    const a = await service(user).createEndpoint({ url: "http://127.0.0.1:9/a" });
    const b = await service(user).createEndpoint({ url: "http://127.0.0.1:9/b" });
    for (let i = 0; i < 5; i++) await setStatus(user, await runningExecution(user, workflow), "failed");
    await sql`update public.alert_deliveries set status = 'dead' where endpoint_id = ${b.id}`;

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await service(user).listDeliveries({ limit: 3, cursor });
      seen.push(...page.data.map((d) => d.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const stored = await sql`select id from public.alert_deliveries where created_by = ${user} order by created_at desc, id desc`;
    expect(seen).toEqual(stored.map((r) => r.id));
    expect((await service(user).listDeliveries({ limit: 20, endpointId: a.id })).data.every((d) => d.endpointId === a.id && d.status === "pending")).toBe(true);
    const dead = await service(user).listDeliveries({ limit: 20, status: "dead" });
    expect(dead.data.map((d) => d.endpointId)).toEqual(Array(5).fill(b.id));
    expect(dead.data[0].nextAttemptAt).toBeNull();
  });

  it("the log keeps finished deliveries for the retention period: older delivered and dead rows are pruned, pending ones never", async () => {
    const { user, workflow } = await owner();
    const endpoint = await service(user).createEndpoint({ url: "http://127.0.0.1:9/retention" });
    for (let i = 0; i < 6; i++) await setStatus(user, await runningExecution(user, workflow), "failed");
    const rows = await deliveriesOf(endpoint.id);
    // Two delivered and one dead from 40 days ago, one pending from then (never sent yet), two delivered yesterday.
    const [oldDelivered1, oldDelivered2, oldDead, oldPending, recent1, recent2] = rows.map((r) => r.id);
    await sql`update public.alert_deliveries set created_at = now() - interval '40 days', status = 'delivered', delivered_at = now() where id in (${oldDelivered1}, ${oldDelivered2})`;
    await sql`update public.alert_deliveries set created_at = now() - interval '40 days', status = 'dead' where id = ${oldDead}`;
    await sql`update public.alert_deliveries set created_at = now() - interval '40 days', next_attempt_at = now() + interval '1 hour' where id = ${oldPending}`;
    await sql`update public.alert_deliveries set created_at = now() - interval '1 day', status = 'delivered', delivered_at = now() where id in (${recent1}, ${recent2})`;
    await sql`update public.alert_endpoints set enabled = false where id = ${endpoint.id}`; // nothing of it is sent meanwhile

    // Bounded per run: at most pruneLimit rows, oldest first; the rest the next run.
    const first = await deliver({ logRetentionDays: 30, pruneLimit: 2, keepPolling: false });
    expect(first.pruned).toBe(2);
    const second = await deliver({ logRetentionDays: 30, pruneLimit: 2, keepPolling: false });
    expect(second.pruned).toBe(1);
    expect((await deliveriesOf(endpoint.id)).map((r) => r.id).sort()).toEqual([oldPending, recent1, recent2].sort());
    // Without a period nothing is pruned.
    await sql`update public.alert_deliveries set status = 'dead' where id = ${oldPending}`;
    expect((await deliver({ keepPolling: false })).pruned).toBe(0);
    expect(await deliveriesOf(endpoint.id)).toHaveLength(3);
    // The walk's shape is the index's (oldest first), so a big log is never sorted whole
    // (this table is too small for the planner to prefer it unless told to).
    const plan = await sql.begin(async (tx) => {
      await tx`set local enable_seqscan = off`;
      await tx`set local enable_bitmapscan = off`;
      return await tx.unsafe(`explain select id from public.alert_deliveries
        where created_at < now() - interval '30 days' and status <> 'pending' order by created_at, id limit 10000`);
    });
    const text = plan.map((r) => r["QUERY PLAN"]).join("\n");
    expect(text).toContain("idx_alert_deliveries_created");
    expect(text).not.toMatch(/\bSort\b/);
  });

  it("at most 20 endpoints per user (409 beyond)", async () => {
    const { user } = await owner();
    for (let i = 0; i < 20; i++) await service(user).createEndpoint({ url: `http://127.0.0.1:9/${i}` });
    await expect(service(user).createEndpoint({ url: "http://127.0.0.1:9/21" })).rejects.toMatchObject({ code: "conflict" });
  });
});
