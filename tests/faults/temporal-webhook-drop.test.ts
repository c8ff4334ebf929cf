/**
 * Fault tier: database webhooks are lost (real pg_net never retries). For each kind (a direct
 * INSERT of a pending row, a direct cancel, a direct DELETE of a live row) the webhook is
 * dropped, here by leaving Vault's functions URL unset so the trigger sends nothing, and one
 * `sweep()` produces the effect in Temporal, once; the dropped webhook delivered late after all
 * (and twice) does nothing more. A positive control shows the same writes do queue their
 * webhooks once Vault is set.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweep } from "../../shared/sweeper.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import { handleExecutionWebhook } from "../../shared/webhook.ts";
import { createExecutionService } from "../../shared/service.ts";
import { asRole, connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql, userCaller } from "../support/postgres.ts";
import { until } from "../support/wait.ts";
import { type KillableTemporal, startKillableTemporal, startWorkerProcess, temporalEvents, type WorkerProcess } from "./support.ts";

const dbName = `et_faults_webhooks_${randomUUID().slice(0, 8)}`;
const taskQueue = `webhooks-${randomUUID().slice(0, 8)}`;
let sql: Sql;
let temporalServer: KillableTemporal;
let worker: WorkerProcess;
let temporal: TemporalGateway;
let user: string;
const quiet = () => {};

beforeAll(async () => {
  const [url, server] = await Promise.all([createMigratedDatabase(databaseUrl(), dbName), startKillableTemporal()]);
  sql = connect(url);
  temporalServer = server;
  worker = await startWorkerProcess({ address: server.address, namespace: server.namespace, taskQueue });
  temporal = createHttpTemporalGateway({ baseUrl: server.httpUrl, namespace: server.namespace });
  user = await createUser(sql);
}, 300_000);

afterAll(async () => {
  await worker?.kill();
  await temporalServer?.stop();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const events = (workflowId: string) => temporalEvents(temporalServer, workflowId);
const queued = async () => (await sql`select count(*)::int as n from net.http_request_queue`)[0].n as number;
const webhook = (type: string, record: unknown, oldRecord: unknown = null) =>
  handleExecutionWebhook({ sql, temporal, log: quiet }, { type, table: "workflow_executions", schema: "public", record, old_record: oldRecord });

/** The three direct writes whose webhooks matter; returns their rows as the triggers saw them. */
async function directWrites(workflows: { completes: string; longRunning: string }) {
  const service = createExecutionService({ sql, caller: userCaller(user), temporal, log: quiet });
  const toCancel = (await service.createExecution({ workflowId: workflows.longRunning })).execution;
  const toDelete = (await service.createExecution({ workflowId: workflows.longRunning })).execution;
  return await asRole(sql, user, async (tx) => {
    const [inserted] = await tx`insert into public.workflow_executions (workflow_id, status, input)
                                values (${workflows.completes}, 'pending', '{"sleepMs": 10}') returning *`;
    const [cancelled] = await tx`update public.workflow_executions set status = 'cancelled' where id = ${toCancel.id} returning *`;
    const [deleted] = await tx`delete from public.workflow_executions where id = ${toDelete.id} returning *`;
    return { inserted, cancelled, deleted };
  });
}

describe("a dropped webhook", () => {
  it("(control) the same direct writes queue one webhook each once Vault is set", async () => {
    const workflows = {
      completes: await createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue }),
      longRunning: await createWorkflow(sql, user, { temporalWorkflowType: "longRunningWorkflow", taskQueue }),
    };
    await sql`select vault.create_secret('http://127.0.0.1:1/functions/v1', 'execution_tracker_functions_url')`;
    await sql`select vault.create_secret('s3cret', 'execution_tracker_webhook_secret')`;
    try {
      const before = await queued();
      const rows = await directWrites(workflows);
      const bodies = await sql`select body from net.http_request_queue order by id desc limit 3`;
      expect(await queued()).toBe(before + 3);
      expect(bodies.map((b) => [b.body.type, b.body.record?.id ?? b.body.old_record?.id]).reverse()).toEqual([
        ["INSERT", rows.inserted.id], ["UPDATE", rows.cancelled.id], ["DELETE", rows.deleted.id],
      ]);
    } finally {
      await sql`delete from vault.secrets where name in ('execution_tracker_functions_url', 'execution_tracker_webhook_secret')`;
      await sql`delete from net.http_request_queue`;
      // Leave nothing for the next test's sweep.
      await sweep({ sql, temporal, log: quiet }, { redispatchAfterSeconds: 0 });
    }
  }, 120_000);

  it("for an insert, a cancel and a delete: one sweep() produces each effect, once", async () => {
    const workflows = {
      completes: await createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue }),
      longRunning: await createWorkflow(sql, user, { temporalWorkflowType: "longRunningWorkflow", taskQueue }),
    };
    const { inserted, cancelled, deleted } = await directWrites(workflows);
    expect(await queued()).toBe(0); // dropped: nothing was sent
    expect(cancelled.status).toBe("running"); // the stop is requested, not confirmed
    expect(await events(inserted.temporal_workflow_id)).toEqual({});
    expect((await events(cancelled.temporal_workflow_id)).WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBeUndefined();

    const report = await sweep({ sql, temporal, log: quiet }, { redispatchAfterSeconds: 0 });
    expect(report.redispatch.started).toBe(1);
    expect(report.stops.sent).toBe(2);
    const after = {
      insert: await events(inserted.temporal_workflow_id),
      cancel: await events(cancelled.temporal_workflow_id),
      delete: await events(deleted.temporal_workflow_id),
    };
    expect(after.insert.WORKFLOW_EXECUTION_STARTED).toBe(1);
    expect(after.cancel.WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
    expect(after.delete.WORKFLOW_EXECUTION_TERMINATED).toBe(1);
    const cancelledRow = await until(async () => (await sql`select status from public.workflow_executions where id = ${cancelled.id}`)[0],
      (row) => row.status === "cancelled", 20_000);
    expect(cancelledRow.status).toBe("cancelled");

    // The dropped webhooks arrive after all, twice each, and another sweep runs: nothing more happens.
    for (let i = 0; i < 2; i++) {
      expect((await webhook("INSERT", inserted)).action).toBe("ignored");
      expect((await webhook("UPDATE", cancelled, { ...cancelled, stop_requested_at: null })).action).toBe("ignored");
      expect((await webhook("DELETE", null, deleted)).action).toBe("ignored");
    }
    const again = await sweep({ sql, temporal, log: quiet }, { redispatchAfterSeconds: 0 });
    expect(again.redispatch.started + again.stops.sent).toBe(0);
    const final = {
      insert: await events(inserted.temporal_workflow_id),
      cancel: await events(cancelled.temporal_workflow_id),
      delete: await events(deleted.temporal_workflow_id),
    };
    console.log(`faults: webhook-dropped insert-started=${final.insert.WORKFLOW_EXECUTION_STARTED} ` +
      `cancel-requested=${final.cancel.WORKFLOW_EXECUTION_CANCEL_REQUESTED} delete-terminated=${final.delete.WORKFLOW_EXECUTION_TERMINATED} ` +
      `by-one-sweep=${report.redispatch.started + report.stops.sent}/3 late-deliveries=6 duplicates=0`);
    expect(final.insert.WORKFLOW_EXECUTION_STARTED).toBe(1);
    expect(final.cancel.WORKFLOW_EXECUTION_CANCEL_REQUESTED).toBe(1);
    expect(final.delete.WORKFLOW_EXECUTION_TERMINATED).toBe(1);
  }, 120_000);
});
