/**
 * List: the first page and a page deep in the history, for the heaviest user (RLS) and for
 * the service role (everything), through the service exactly as the function runs it
 * (withCaller + the repository's keyset SQL), the first page also over HTTP; side by side
 * LIMIT/OFFSET at the same depth with the same select, in the same caller transaction.
 * Depth: 1,000,000 rows, or the deepest page the scope has when it holds fewer.
 */
import { encodeCursor } from "../../shared/cursor.ts";
import { type Tx, withCaller } from "../../shared/db.ts";
import { createExecutionService } from "../../shared/service.ts";
import type { Caller } from "../../shared/types.ts";
import { type BenchContext, serviceCaller, userCaller } from "../lib/context.ts";
import { log, type Measurement, measure } from "../lib/measure.ts";
import { call } from "../lib/server.ts";

export interface ListResult {
  measurements: Measurement[];
  depths: Record<string, number>;
  limit: number;
  /** The keyset page at depth equals the OFFSET page at depth (same ids, same order). */
  deepPagesAgree: Record<string, boolean>;
  /** p50 (ms) of the list query after each fresh ANALYZE. */
  stability: { sample: number; case: string; p50: number }[];
}

const LIMIT = 20;
const TARGET_DEPTH = 1_000_000;

/** The repository's select with OFFSET instead of a cursor (what a naive API would run). */
const offsetPage = (tx: Tx, depth: number, scope: { userId?: string }) => tx`
  select e.id, e.workflow_id, e.created_by, e.temporal_workflow_id, e.temporal_run_id, e.status,
         e.started_at, e.completed_at, e.duration_ms, e.timeout_at, e.input, e.output,
         e.error_message, e.activities_executed, e.created_at, e.updated_at,
         w.name as workflow_name,
         to_char(e.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as position_started_at
    from public.workflow_executions e
    join public.workflows w on w.id = e.workflow_id
   where true ${scope.userId ? tx`and e.created_by = ${scope.userId}` : tx``}
   order by e.started_at desc, e.id desc
   limit ${LIMIT + 1} offset ${depth}`;

export async function runList(ctx: BenchContext, options: { quick?: boolean } = {}): Promise<ListResult> {
  const measurements: Measurement[] = [];
  const depths: Record<string, number> = {};
  const deepPagesAgree: Record<string, boolean> = {};
  const runs = options.quick ? 100 : 500;
  const scopes: { key: string; label: string; caller: Caller; rows: number; userId?: string; token: () => Promise<string> }[] = [
    { key: "user", label: "heaviest user", caller: userCaller(ctx.heavyUser.id), rows: ctx.heavyUser.rows, userId: ctx.heavyUser.id, token: () => ctx.token(ctx.heavyUser.id) },
    { key: "all", label: "all (service role)", caller: serviceCaller, rows: await countAll(ctx), token: () => ctx.serviceToken() },
  ];

  for (const scope of scopes) {
    const service = createExecutionService({ sql: ctx.sql, caller: scope.caller, temporal: null });
    measurements.push(await measure(`list first page, ${scope.label}: keyset (service)`, () => service.listExecutions({ limit: LIMIT }), { runs, warmup: 50, cpuOf: ctx.server.pid }));
    const token = await scope.token();
    measurements.push(await measure(`list first page, ${scope.label}: keyset (HTTP)`, () =>
      call(`${ctx.server.functionsUrl}/executions-list?limit=${LIMIT}`, { token }), { runs, warmup: 50, cpuOf: ctx.server.pid }));

    // The cursor of the row just before `depth` (computed once, as a client paging there would hold it).
    const depth = Math.max(0, Math.min(TARGET_DEPTH, scope.rows - LIMIT - 1));
    depths[scope.key] = depth;
    const [position] = await ctx.db.admin`
      select to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as started_at, id
        from public.workflow_executions
       where true ${scope.userId ? ctx.db.admin`and created_by = ${scope.userId}` : ctx.db.admin``}
       order by started_at desc, id desc offset ${depth - 1} limit 1`;
    const cursor = encodeCursor({ startedAt: position.started_at, id: position.id });
    measurements.push(await measure(`list page ${depth.toLocaleString("en")} deep, ${scope.label}: keyset (service)`,
      () => service.listExecutions({ limit: LIMIT, cursor }), { runs, warmup: 50, note: `depth ${depth}`, cpuOf: ctx.server.pid }));
    measurements.push(await measure(`list page ${depth.toLocaleString("en")} deep, ${scope.label}: keyset (HTTP)`,
      () => call(`${ctx.server.functionsUrl}/executions-list?limit=${LIMIT}&cursor=${cursor}`, { token }), { runs: Math.round(runs / 2), warmup: 20, note: `depth ${depth}`, cpuOf: ctx.server.pid }));
    measurements.push(await measure(`list page ${depth.toLocaleString("en")} deep, ${scope.label}: LIMIT/OFFSET`,
      () => withCaller(ctx.sql, scope.caller, (tx) => offsetPage(tx, depth, scope)), { runs: 50, warmup: 3, budgetMs: 20_000, note: `depth ${depth}`, cpuOf: ctx.server.pid }));

    const keyset = await service.listExecutions({ limit: LIMIT, cursor });
    const offset = await withCaller(ctx.sql, scope.caller, (tx) => offsetPage(tx, depth, scope));
    deepPagesAgree[scope.key] = keyset.data.map((e) => e.id).join() === offset.slice(0, LIMIT).map((r) => r.id).join();
    if (!deepPagesAgree[scope.key]) log(`WARNING: keyset and OFFSET pages at depth ${depth} differ for ${scope.label}`);
  }

  // Server CPU per request under a steady load of one kind (8 clients, the heaviest user): the
  // list's first page and the stats over HTTP (bench/lib/targets.ts: under 0.4 ms each; the
  // writes scenario gives create and update). docs/profiling.md says where the time goes.
  const steadyToken = await ctx.token(ctx.heavyUser.id);
  for (const [kind, path] of [["list first page", "executions-list?limit=20"], ["stats", "executions-stats"]]) {
    measurements.push(await measure(steadyLoadName(kind), () => call(`${ctx.server.functionsUrl}/${path}`, { token: steadyToken }),
      { concurrency: 8, runs: runs * 10, warmup: 200, cpuOf: ctx.server.pid }));
  }

  // Filtered first pages (their own indexes): the heaviest workflow, the heaviest user's
  // smallest workflow, and a status filter.
  const owner = userCaller(ctx.heavyWorkflow.owner);
  const ownerService = createExecutionService({ sql: ctx.sql, caller: owner, temporal: null });
  const [smallest] = await ctx.db.admin`
    select w.id, count(e.id)::int as n from public.workflows w left join public.workflow_executions e on e.workflow_id = w.id
     where w.created_by = ${ctx.heavyUser.id} group by w.id order by n, w.id limit 1`;
  const heavyCaller = userCaller(ctx.heavyUser.id);
  const heavy = createExecutionService({ sql: ctx.sql, caller: heavyCaller, temporal: null });
  const filtered: [string, ReturnType<typeof createExecutionService>, { workflowId?: string; status?: ("failed")[] }][] = [
    ["heaviest workflow (owner)", ownerService, { workflowId: ctx.heavyWorkflow.id }],
    [`heaviest user's smallest workflow (${smallest.n} rows)`, heavy, { workflowId: smallest.id }],
    ["heaviest user, status=failed", heavy, { status: ["failed"] }],
  ];
  for (const [label, service, filter] of filtered) {
    measurements.push(await measure(`list first page, ${label}: keyset (service)`, () => service.listExecutions({ limit: LIMIT, ...filter }), { runs, warmup: 50, cpuOf: ctx.server.pid }));
  }
  // Plan stability: the p50 of the same first pages after each of several fresh ANALYZE
  // samples (the planner's choice for these queries has hinged on the statistics before).
  const stability: ListResult["stability"] = [];
  const cases: [string, ReturnType<typeof createExecutionService>, { workflowId?: string; status?: ("failed")[] }][] = [
    ["heaviest user, first page", heavy, {}],
    ...filtered.slice(1),
  ];
  for (let sample = 1; sample <= 4; sample++) {
    await ctx.db.admin`analyze public.workflow_executions, public.workflows`;
    for (const [label, service, filter] of cases) {
      const quick = { runs: 10, warmup: 2, budgetMs: 5_000, minRuns: 3 };
      const m = await measure(`stability #${sample} ${label}`, () => service.listExecutions({ limit: LIMIT, ...filter }), quick);
      stability.push({ sample, case: label, p50: m.p50 });
    }
  }
  return { measurements, depths, limit: LIMIT, deepPagesAgree, stability };
}

/** The measurement of one request kind under steady load (targets.ts reads it by this name). */
export const steadyLoadName = (kind: string) => `server CPU: ${kind} over HTTP, heaviest user, steady load`;

async function countAll(ctx: BenchContext): Promise<number> {
  const [{ n }] = await ctx.db.admin`select count(*)::float8 as n from public.workflow_executions`;
  return n;
}
