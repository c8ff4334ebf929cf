/**
 * What the webhook fault tests (tests/faults/webhooks-*.test.ts) share: `npm start` on a fixed
 * port (so the webhook URL in Vault stays right across a restart) and a database, Temporal dev
 * server and worker of their own; the pg_net stand-in's queue and delivery record as counts.
 * The dev server's sweeper is off (SWEEP_INTERVAL_MS=0), so every effect counted is the
 * webhook's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, freePort, REPO_ROOT, type Sql } from "../support/postgres.ts";
import { startTemporalDevServer, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";
import { devServerEnv, startCommand } from "../support/dev-server.ts";
import { TEST_JWT_SECRET } from "../support/tokens.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";

export interface WebhookRig {
  sql: Sql;
  temporalServer: TemporalDevServer;
  temporal: TemporalGateway;
  taskQueue: string;
  user: string;
  /** Workflows of `user`: one the tracker starts (completesWorkflow), one that runs for hours. */
  workflows: { completes: string; longRunning: string };
  port: number;
  /** Starts `npm start` on the rig's port; resolves once /health answers 200. */
  startServer(): Promise<NpmStart>;
  close(): Promise<void>;
}

export interface NpmStart {
  /** Non-200 statuses /health answered before it turned 200. */
  healthBeforeReady: number[];
  output(): string;
  stop(): Promise<number | null>;
}

export async function startWebhookRig(name: string): Promise<WebhookRig> {
  const dbName = `et_${name}_${randomUUID().slice(0, 8)}`;
  const url = await createMigratedDatabase(databaseUrl(), dbName);
  const sql = connect(url);
  const temporalServer = await startTemporalDevServer();
  const taskQueue = `${name}-${randomUUID().slice(0, 8)}`;
  const worker: TestWorker = await startTestWorker({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue });
  const temporal = createHttpTemporalGateway({ baseUrl: temporalServer.httpUrl, namespace: temporalServer.namespace });
  const user = await createUser(sql);
  const workflows = {
    completes: await createWorkflow(sql, user, { temporalWorkflowType: "completesWorkflow", taskQueue }),
    longRunning: await createWorkflow(sql, user, { temporalWorkflowType: "longRunningWorkflow", taskQueue }),
  };
  const port = await freePort();
  // Fixed, so the secret in the requests queued while the server is down is still the right one.
  const webhookSecret = `whsec-${randomUUID()}`;
  const servers: NpmStart[] = [];

  const startServer = async (): Promise<NpmStart> => {
    const env = devServerEnv({
      PORT: String(port),
      DATABASE_URL: url,
      DB_POOL_SIZE: "8",
      SUPABASE_JWT_SECRET: TEST_JWT_SECRET,
      WEBHOOK_SECRET: webhookSecret,
      TEMPORAL_HTTP_URL: temporalServer.httpUrl,
      TEMPORAL_NAMESPACE: temporalServer.namespace,
      SWEEP_INTERVAL_MS: "0",
      PG_NET_POLL_MS: "500",
      SEED_DEMO: "false",
    });
    const [command, args] = startCommand();
    const child: ChildProcess = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 400_000) output = output.slice(-200_000);
      if (process.env.ET_TEST_VERBOSE) process.stderr.write(`[npm start] ${chunk}`);
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve((exitCode = code))));
    const stop = async () => {
      if (exitCode !== undefined) return exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(timer);
      child.stdin!.end();
      return code;
    };
    const healthBeforeReady: number[] = [];
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`npm start exited (${exitCode}) before it was ready:\n${output}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
        await response.text();
        if (response.ok) break;
        healthBeforeReady.push(response.status);
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`npm start was not ready in time:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const server = { healthBeforeReady, output: () => output, stop };
    servers.push(server);
    return server;
  };

  return {
    sql, temporalServer, temporal, taskQueue, user, workflows, port, startServer,
    async close() {
      for (const server of servers) await server.stop().catch(() => {});
      await worker.stop();
      await temporalServer.stop();
      await sql.end({ timeout: 1 });
      await dropDatabase(databaseUrl(), dbName);
    },
  };
}

/** A run the way an app's backend registers one: started in Temporal, then recorded by the service role (superuser here). */
export async function registeredRun(rig: WebhookRig): Promise<{ id: string; workflowId: string }> {
  const workflowId = `registered-${randomUUID()}`;
  await rig.temporal.start({ workflowId, workflowType: "longRunningWorkflow", taskQueue: rig.taskQueue, args: [null] });
  const [row] = await rig.sql`
    insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status)
    values (${rig.workflows.longRunning}, ${rig.user}, ${workflowId}, 'running') returning id`;
  return { id: row.id, workflowId };
}

/** A pending row inserted directly (no dispatch lease: its INSERT webhook dispatches it). */
export async function directPending(rig: WebhookRig): Promise<{ id: string; workflowId: string }> {
  const [row] = await rig.sql`
    insert into public.workflow_executions (workflow_id, created_by, status, input)
    values (${rig.workflows.completes}, ${rig.user}, 'pending', ${rig.sql.json({ sleepMs: 0 })}) returning id, temporal_workflow_id`;
  return { id: row.id, workflowId: row.temporal_workflow_id };
}

/** The stand-in's queue and delivery record: requests still queued, responses by status. */
export async function deliveries(sql: Sql): Promise<{ queued: number; responses: Record<string, number> }> {
  const [{ queued }] = await sql`select count(*)::int as queued from net.http_request_queue`;
  const rows = await sql`select coalesce(status_code::text, 'error') as status, count(*)::int as n from net._http_response group by 1`;
  return { queued, responses: Object.fromEntries(rows.map((row) => [row.status, row.n])) };
}
