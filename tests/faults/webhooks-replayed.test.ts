/**
 * Database webhooks delivered twice and out of order do no harm (issue 8 §3): every effect
 * still happens in Temporal exactly once, and none that should not. With the dev server
 * stopped, direct SQL writes queue their webhooks in the pg_net stand-in; the test then
 * rewrites the queue as a bad network would deliver it: every request twice, in the reverse
 * order of the writes (a stop before the insert that created the row, a delete before the
 * cancel). The restarted server's stand-in delivers all of it (four at a time, so copies also
 * race each other). The dev server's sweeper is off: every effect is a webhook's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/wait.ts";
import { temporalEvents, runsOf } from "./support.ts";
import { deliveries, directPending, registeredRun, startWebhookRig, type WebhookRig } from "./webhooks-support.ts";

let rig: WebhookRig;

beforeAll(async () => {
  rig = await startWebhookRig("webhooks_replayed");
}, 900_000);

afterAll(async () => {
  await rig?.close();
});

const statusOf = async (id: string) => (await rig.sql`select status from public.workflow_executions where id = ${id}`)[0]?.status ?? "deleted";

describe("webhooks duplicated and reordered", () => {
  it("produce each effect once, whatever the order and however often they arrive", async () => {
    const first = await rig.startServer();
    const cancelThenDelete = await Promise.all(Array.from({ length: 3 }, () => registeredRun(rig)));
    const cancelOnly = await Promise.all(Array.from({ length: 3 }, () => registeredRun(rig)));
    expect(await first.stop()).toBe(0);

    // The writes, in this order: pending inserts (dispatch), pending inserts cancelled before any
    // dispatch (never started), cancels, and cancels followed by deletes (terminate).
    const dispatch = await Promise.all(Array.from({ length: 5 }, () => directPending(rig)));
    const neverStarted = await Promise.all(Array.from({ length: 3 }, () => directPending(rig)));
    for (const row of neverStarted) await rig.sql`update public.workflow_executions set status = 'cancelled' where id = ${row.id}`;
    for (const run of [...cancelOnly, ...cancelThenDelete]) await rig.sql`update public.workflow_executions set status = 'cancelled' where id = ${run.id}`;
    for (const run of cancelThenDelete) await rig.sql`delete from public.workflow_executions where id = ${run.id}`;

    // Duplicated and reversed: each queued request twice, the last write's first.
    const written = await rig.sql`select id, method, url, headers, body, timeout_milliseconds from net.http_request_queue order by id`;
    const expectedWrites = dispatch.length + 2 * neverStarted.length + cancelOnly.length + 2 * cancelThenDelete.length;
    expect(written.length).toBe(expectedWrites);
    await rig.sql`delete from net.http_request_queue`;
    for (const request of [...written].reverse()) {
      for (let copy = 0; copy < 2; copy++) {
        await rig.sql`
          insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
          values (${request.method}, ${request.url}, ${rig.sql.json(request.headers)}, ${rig.sql.json(request.body)}, ${request.timeout_milliseconds})`;
      }
    }
    const queued = (await deliveries(rig.sql)).queued;
    expect(queued).toBe(2 * written.length);

    const second = await rig.startServer();
    const done = await until(() => deliveries(rig.sql), (d) => d.queued === 0, 40_000, 250);
    expect(done).toEqual({ queued: 0, responses: { "200": queued } });

    // Dispatched: exactly one run each, started once.
    const started = await until(
      async () => (await Promise.all(dispatch.map((row) => statusOf(row.id)))).filter((s) => s !== "pending").length,
      (n) => n === dispatch.length, 20_000, 250,
    );
    expect(started).toBe(dispatch.length);
    for (const row of dispatch) {
      expect(await runsOf(rig.temporalServer, row.workflowId)).toBe(1);
      expect((await temporalEvents(rig.temporalServer, row.workflowId)).WORKFLOW_EXECUTION_STARTED).toBe(1);
    }
    // Cancelled before any dispatch, its INSERT webhook arriving after (and again): never started.
    for (const row of neverStarted) {
      expect(await until(() => statusOf(row.id), (s) => s === "cancelled", 20_000, 250)).toBe("cancelled");
      expect(await runsOf(rig.temporalServer, row.workflowId)).toBe(0);
    }
    // Cancelled: one cancel request each, however many webhooks said so.
    for (const run of cancelOnly) {
      const events = await until(() => temporalEvents(rig.temporalServer, run.workflowId), (e) => (e.WORKFLOW_EXECUTION_CANCELED ?? 0) === 1, 20_000, 250);
      expect(events.WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
      expect(events.WORKFLOW_EXECUTION_TERMINATED ?? 0).toBe(0);
    }
    // Cancelled then deleted: the delete's terminate wins, once; the late cancel webhooks add nothing.
    for (const run of cancelThenDelete) {
      const events = await until(() => temporalEvents(rig.temporalServer, run.workflowId), (e) => (e.WORKFLOW_EXECUTION_TERMINATED ?? 0) === 1, 20_000, 250);
      expect(events.WORKFLOW_EXECUTION_TERMINATED).toBe(1);
      expect(events.WORKFLOW_EXECUTION_CANCEL_REQUESTED ?? 0).toBe(0);
    }
    const [{ open }] = await rig.sql`select count(*)::int as open from public.execution_stop_requests where confirmed_at is null`;
    expect(open).toBe(0);
    console.log(
      `webhooks written: ${written.length}; delivered (each twice, reversed): ${done.responses["200"]}; ` +
        `effects in Temporal: ${dispatch.length} runs started once each, ${neverStarted.length} never started, ` +
        `${cancelOnly.length} cancelled with 1 cancel request each, ${cancelThenDelete.length} terminated once each; open stop requests: ${open}`,
    );
    await second.stop();
  });
});
