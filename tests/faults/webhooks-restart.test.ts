/**
 * Database webhooks queued while the dev server is down are not lost (issue 8 §3). With the
 * server stopped, direct SQL writes queue webhooks in the pg_net stand-in (pending inserts to
 * dispatch, cancels and deletes of runs to stop); the restarted server's stand-in sends them
 * only once its handlers answer (before, the starting server's 503 made the stand-in drop
 * every one of them), and each effect happens in Temporal exactly once. A second part shows
 * a request answered 5xx or not answered at all staying queued and being sent again with
 * backoff until it is delivered. The dev server's sweeper is off: every effect is a webhook's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/wait.ts";
import { temporalEvents, runsOf } from "./support.ts";
import { deliveries, directPending, registeredRun, startWebhookRig, type WebhookRig } from "./webhooks-support.ts";

let rig: WebhookRig;

beforeAll(async () => {
  rig = await startWebhookRig("webhooks_restart");
}, 900_000);

afterAll(async () => {
  await rig?.close();
});

describe("webhooks queued across a dev-server restart", () => {
  it("are delivered once the restarted server is ready, and each effect happens once", async () => {
    const first = await rig.startServer(); // points the Vault secrets at this port
    const running = await Promise.all(Array.from({ length: 6 }, () => registeredRun(rig)));
    expect(await first.stop()).toBe(0);

    // Meanwhile, with nothing to deliver to: 8 pending inserts, 3 cancels and 3 deletes of live runs.
    const pending = await Promise.all(Array.from({ length: 8 }, () => directPending(rig)));
    const cancelled = running.slice(0, 3);
    const deleted = running.slice(3);
    for (const run of cancelled) await rig.sql`update public.workflow_executions set status = 'cancelled' where id = ${run.id}`;
    for (const run of deleted) await rig.sql`delete from public.workflow_executions where id = ${run.id}`;
    const queued = (await deliveries(rig.sql)).queued;
    expect(queued).toBe(pending.length + cancelled.length + deleted.length);

    const second = await rig.startServer();
    expect(second.healthBeforeReady.length).toBeGreaterThan(0); // it was seen starting (503) first
    const done = await until(() => deliveries(rig.sql), (d) => d.queued === 0, 30_000, 250);
    expect(done.queued).toBe(0);
    // Every request was answered by the ready server: none was sent into its 503 and dropped.
    expect(done.responses).toEqual({ "200": queued });

    // The effects, in Temporal's own history.
    const dispatched = await until(
      () => rig.sql`select count(*)::int as n from public.workflow_executions where id = any(${rig.sql.array(pending.map((p) => p.id))}::uuid[]) and status <> 'pending'`,
      (rows) => rows[0].n === pending.length, 20_000, 250,
    );
    expect(dispatched[0].n).toBe(pending.length);
    for (const run of pending) {
      expect(await runsOf(rig.temporalServer, run.workflowId)).toBe(1);
      expect((await temporalEvents(rig.temporalServer, run.workflowId)).WORKFLOW_EXECUTION_STARTED).toBe(1);
    }
    for (const run of cancelled) {
      const events = await until(() => temporalEvents(rig.temporalServer, run.workflowId), (e) => (e.WORKFLOW_EXECUTION_CANCELED ?? 0) === 1, 20_000, 250);
      expect(events.WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
      expect(events.WORKFLOW_EXECUTION_CANCELED).toBe(1);
    }
    for (const run of deleted) {
      const events = await until(() => temporalEvents(rig.temporalServer, run.workflowId), (e) => (e.WORKFLOW_EXECUTION_TERMINATED ?? 0) === 1, 20_000, 250);
      expect(events.WORKFLOW_EXECUTION_TERMINATED).toBe(1);
    }
    console.log(
      `webhooks queued while down: ${queued}; delivered after the restart: ${done.responses["200"] ?? 0} (all 200, none dropped); ` +
        `runs started: ${pending.length} (1 each), cancelled: ${cancelled.length} (1 cancel request each), terminated: ${deleted.length} (1 each); ` +
        `/health before ready: ${second.healthBeforeReady.length} non-200 answers`,
    );
    await second.stop();
  });

  it("keeps a request queued on a connection error or a 5xx and sends it again with backoff until delivered", async () => {
    const server = await rig.startServer();
    // A target that refuses twice with 503, then accepts; and one nobody listens on yet.
    const { createServer } = await import("node:http");
    let answered = 0;
    const flaky = createServer((_, response) => {
      answered++;
      response.writeHead(answered <= 2 ? 503 : 200).end(answered <= 2 ? "busy" : "ok");
    });
    await new Promise<void>((resolve) => flaky.listen(0, "127.0.0.1", resolve));
    const flakyUrl = `http://127.0.0.1:${(flaky.address() as { port: number }).port}/hook`;
    const { freePort } = await import("../support/postgres.ts");
    const laterPort = await freePort();
    const [{ id: flakyId }] = await rig.sql`select net.http_post(${flakyUrl}, '{"n":1}'::jsonb) as id`;
    const [{ id: laterId }] = await rig.sql`select net.http_post(${`http://127.0.0.1:${laterPort}/hook`}, '{"n":2}'::jsonb) as id`;

    const retrying = await until(
      () => rig.sql`select id, status_code, error_msg from net._http_response where id = ${laterId}`,
      (rows) => rows.length === 1, 20_000, 100,
    );
    expect(retrying[0].status_code).toBeNull();
    expect(retrying[0].error_msg).toMatch(/the pg_net stand-in sends it again/);
    expect((await rig.sql`select count(*)::int as n from net.http_request_queue where id = ${laterId}`)[0].n).toBe(1);

    // The second target comes up: the retry finds it.
    let laterHits = 0;
    const later = createServer((_, response) => {
      laterHits++;
      response.writeHead(204).end();
    });
    await new Promise<void>((resolve) => later.listen(laterPort, "127.0.0.1", resolve));
    const done = await until(
      () => rig.sql`select id::text, status_code from net._http_response where id in (${flakyId}, ${laterId}) and status_code < 300`,
      (rows) => rows.length === 2, 30_000, 200,
    );
    expect(done.length).toBe(2);
    expect(answered).toBe(3);
    expect(laterHits).toBe(1);
    expect((await rig.sql`select count(*)::int as n from net.http_request_queue where id in (${flakyId}, ${laterId})`)[0].n).toBe(0);
    console.log(`retried until delivered: a 503 target answered ${answered} sends (2 refused), a target down at first got ${laterHits} delivery after its connection errors`);
    await new Promise((resolve) => flaky.close(resolve));
    await new Promise((resolve) => later.close(resolve));
    await server.stop();
  });
});
