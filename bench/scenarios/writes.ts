/**
 * Create and update, side by side:
 *  - http:     POST /executions-create and /executions-update on the Deno functions server
 *              (real JWT verification, zod, withCaller transaction with RLS, the service's reads);
 *  - service:  the same service calls in-process (no HTTP/JWT), pool like the functions';
 *  - floor:    the repository's own INSERT / UPDATE statement (shared/repository/executions.ts) through
 *              postgres.js as superuser in autocommit: no HTTP, no JWT, no transaction with
 *              role + claims, no RLS; pool = clients;
 *  - pgbench:  the same statements from a custom script (bench/pgbench/*.sql), -M extended.
 * Clients 1, 8, 32; client c writes for seeded user c + 1 over that user's ten workflows
 * ("spread"). At 32 clients also "one owner": every client writes for the heaviest user,
 * over their ten workflows (the per-owner rollup rows are shared), and "hot workflow": every
 * client writes into the heaviest workflow (the same rollup rows for every write).
 * Completions carry durations spread over ~100 histogram bins.
 * Every create is a new running execution with a temporalWorkflowId; every update completes
 * one of them by temporalWorkflowId (as a Temporal worker reports).
 */
import postgres from "postgres";
import { fileURLToPath } from "node:url";
import { createDatabase } from "../../shared/db.ts";
import { createExecutionService } from "../../shared/service.ts";
import * as repo from "../../shared/repository/executions.ts";
import type { Tx } from "../../shared/db.ts";
import { type BenchContext, userCaller } from "../lib/context.ts";
import { log, type Measurement, measure } from "../lib/measure.ts";
import { pgbench } from "../lib/pgbench.ts";
import { call } from "../lib/server.ts";

export interface WritesResult {
  measurements: Measurement[];
  /** ops per concurrency for (warmup, runs). */
  plan: Record<string, { warmup: number; runs: number }>;
  serverPoolSize: number;
  servicePoolSize: number;
}

const pgbenchDir = fileURLToPath(new URL("../pgbench/", import.meta.url));
const input = (i: number) => ({ orderId: i, priority: 1, region: "eu" });
/** Completion of call i: durations spread over ~100 histogram bins, as real runs would be. */
const patchFor = (i: number) => ({ status: "completed" as const, output: { ok: true, items: 3 }, durationMs: 200 + (i * 7919) % 20_000 });

export async function runWrites(ctx: BenchContext, options: { quick?: boolean } = {}): Promise<WritesResult> {
  const plan = options.quick
    ? { 1: { warmup: 50, runs: 300 }, 8: { warmup: 200, runs: 1000 }, 32: { warmup: 320, runs: 2000 } }
    : { 1: { warmup: 300, runs: 3000 }, 8: { warmup: 800, runs: 8000 }, 32: { warmup: 1600, runs: 16000 } };
  const measurements: Measurement[] = [];
  const functions = ctx.server.functionsUrl;
  const servicePool = createDatabase({ url: ctx.db.url, poolSize: ctx.server.poolSize });
  const runId = Date.now().toString(36);

  type Created = { twid: string; userId: string };

  for (const clients of [1, 8, 32] as const) {
    const { warmup, runs } = plan[clients];
    const floorPool = postgres(ctx.db.url, { max: clients, prepare: false, onnotice: () => {}, idle_timeout: 5 });

    for (const mode of clients === 32 ? ["spread", "owner", "hot"] as const : ["spread"] as const) {
      const target = (worker: number, i: number) => {
        if (mode === "hot") return { userId: ctx.heavyWorkflow.owner, workflowId: ctx.heavyWorkflow.id };
        if (mode === "owner") return { userId: ctx.heavyUser.id, workflowId: ctx.workflowsOf(ctx.heavyUser.n)[i % 10] };
        const userN = worker + 1;
        return { userId: ctx.userId(userN), workflowId: ctx.workflowsOf(userN)[i % 10] };
      };
      const tag = `${runId}-${mode}-c${clients}`;
      const label = (method: string, op: string) =>
        `${op} ${method}${mode === "hot" ? " (hot workflow)" : mode === "owner" ? " (one owner)" : ""}`;

      // ---- HTTP without any work: the 401 of a request without a token (routing, CORS, error body)
      if (mode === "spread") {
        measurements.push(await measure(`noop http (401 before JWT and DB)`, () =>
          call(`${functions}/executions-list`, { token: "", expect: [401] }), { concurrency: clients, warmup, runs, cpuOf: ctx.server.pid }));
      }

      // ---- HTTP
      {
        const created: Created[] = [];
        const tokens = await Promise.all(Array.from({ length: clients }, (_, w) => ctx.token(target(w, 0).userId)));
        measurements.push(await measure(label("http", "create"), async (i, w) => {
          const t = target(w, i);
          const twid = `http-${tag}-${i}`;
          await call(`${functions}/executions-create`, { token: tokens[w], body: { workflowId: t.workflowId, temporalWorkflowId: twid, input: input(i), timeoutSeconds: 3600 }, expect: [201] });
          created.push({ twid, userId: t.userId });
        }, { concurrency: clients, warmup, runs, cpuOf: ctx.server.pid }));
        const tokenOf = new Map(await Promise.all(created.map(async (c) => [c.userId, await ctx.token(c.userId)] as const)));
        measurements.push(await measure(label("http", "update"), async (i) => {
          const c = created[i];
          await call(`${functions}/executions-update`, { token: tokenOf.get(c.userId)!, body: { temporalWorkflowId: c.twid, ...patchFor(i) }, expect: [200] });
        }, { concurrency: clients, warmup, runs: Math.min(runs, created.length - warmup), cpuOf: ctx.server.pid }));
      }

      // ---- service in-process
      {
        const created: Created[] = [];
        const services = Array.from({ length: clients }, (_, w) =>
          createExecutionService({ sql: servicePool, caller: userCaller(target(w, 0).userId), temporal: null }));
        measurements.push(await measure(label("service", "create"), async (i, w) => {
          const t = target(w, i);
          const twid = `svc-${tag}-${i}`;
          await services[w].createExecution({ workflowId: t.workflowId, temporalWorkflowId: twid, input: input(i), timeoutSeconds: 3600 });
          created.push({ twid, userId: t.userId });
        }, { concurrency: clients, warmup, runs, cpuOf: ctx.server.pid }));
        const byUser = new Map(created.map((c) => [c.userId, createExecutionService({ sql: servicePool, caller: userCaller(c.userId), temporal: null })]));
        measurements.push(await measure(label("service", "update"), async (i) => {
          const c = created[i];
          await byUser.get(c.userId)!.updateExecution(c.twid, patchFor(i));
        }, { concurrency: clients, warmup, runs: Math.min(runs, created.length - warmup), cpuOf: ctx.server.pid }));
      }

      // ---- floor: the repository's statements, superuser, autocommit
      {
        const created: Created[] = [];
        const tx: Tx = floorPool;
        measurements.push(await measure(label("floor (postgres.js)", "create"), async (i, w) => {
          const t = target(w, i);
          const twid = `floor-${tag}-${i}`;
          const row = await repo.insertExecution(tx, { workflowId: t.workflowId, createdBy: t.userId, temporalWorkflowId: twid, temporalRunId: null, status: "running", input: input(i), timeoutSeconds: 3600 });
          if (!row) throw new Error(`insert of ${twid} returned nothing`);
          created.push({ twid, userId: t.userId });
        }, { concurrency: clients, warmup, runs, cpuOf: ctx.server.pid }));
        measurements.push(await measure(label("floor (postgres.js)", "update"), async (i) => {
          if (!await repo.updateExecution(tx, { temporalWorkflowId: created[i].twid }, patchFor(i))) throw new Error(`update of ${created[i].twid} found nothing`);
        }, { concurrency: clients, warmup, runs: Math.min(runs, created.length - warmup), cpuOf: ctx.server.pid }));
      }

      // ---- pgbench, same statements (spread only: its clients map to users 1..c)
      if (mode === "spread") {
        const perClient = Math.max(1, Math.round(runs / clients));
        const warm = Math.max(1, Math.round(warmup / clients));
        const variables = (t: string) => ({ n: 0, tag: t });
        measurements.push(pgbench(label("pgbench", "create"), ctx.db.url,
          { script: `${pgbenchDir}create.sql`, clients, transactionsPerClient: perClient, variables: variables(`${tag}m`) },
          { script: `${pgbenchDir}create.sql`, clients, transactionsPerClient: warm, variables: variables(`${tag}w`) }));
        measurements.push(pgbench(label("pgbench", "update"), ctx.db.url,
          { script: `${pgbenchDir}update.sql`, clients, transactionsPerClient: perClient, variables: variables(`${tag}m`) },
          { script: `${pgbenchDir}update.sql`, clients, transactionsPerClient: warm, variables: variables(`${tag}w`) }));
      }
      // Every update must have completed a row the same method created.
      const prefixes: Record<string, string> = {
        [label("http", "update")]: `http-${tag}-`,
        [label("service", "update")]: `svc-${tag}-`,
        [label("floor (postgres.js)", "update")]: `floor-${tag}-`,
        [label("pgbench", "update")]: `pgb-${tag}`,
      };
      for (const m of measurements.filter((m) => m.concurrency === clients && m.name in prefixes)) {
        const [{ n }] = await ctx.db.admin`
          select count(*)::int as n from public.workflow_executions
           where temporal_workflow_id like ${prefixes[m.name] + "%"} and status = 'completed'`;
        if (n !== m.runs + m.warmup) throw new Error(`${m.name} c=${clients}: ${n} rows completed, expected ${m.runs + m.warmup}`);
      }
    }
    await floorPool.end({ timeout: 1 });
  }
  await servicePool.end({ timeout: 1 });
  log(`writes done`);
  return { measurements, plan, serverPoolSize: ctx.server.poolSize, servicePoolSize: ctx.server.poolSize };
}
