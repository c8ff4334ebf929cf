/**
 * EXPLAIN (ANALYZE, BUFFERS) of the product's own statements as the service sends them:
 * auto_explain is loaded into the one session of a pool that the service then uses, so the
 * plans are those of the real SQL (and, nested, of the statement inside
 * execution_stats_summary), with the caller's role and claims in force.
 */
import postgres from "postgres";
import { encodeCursor } from "../../shared/cursor.ts";
import { withCaller } from "../../shared/db.ts";
import { createExecutionService } from "../../shared/service.ts";
import type { Caller, StatsFilter } from "../../shared/types.ts";
import { type BenchContext, serviceCaller, userCaller } from "../lib/context.ts";
import { log } from "../lib/measure.ts";
import { naiveStats } from "./stats.ts";

export type Plans = Record<string, string>;

export async function capturePlans(ctx: BenchContext, depths: Record<string, number>): Promise<Plans> {
  const notices: string[] = [];
  const sql = postgres(ctx.db.url, {
    max: 1, prepare: false, idle_timeout: 0,
    onnotice: (notice) => notices.push(notice.message),
  });
  const plans: Plans = {};
  const session = async (minDurationMs: number, nested: boolean) => {
    await sql.unsafe(`load 'auto_explain';
      set auto_explain.log_min_duration = ${minDurationMs};
      set auto_explain.log_analyze = on;
      set auto_explain.log_buffers = on;
      set auto_explain.log_nested_statements = ${nested ? "on" : "off"};
      set auto_explain.log_level = notice;
      set client_min_messages = notice;`);
  };
  const capture = async (name: string, work: () => Promise<unknown>) => {
    await work(); // warm
    notices.length = 0;
    await work();
    const kept = notices.filter((n) => n.includes("plan:") && !/set_config\('role'/.test(n));
    plans[name] = kept
      .map((n) => n.replace(/^duration: /, "-- duration: ").replace(/\n\s*\n/g, "\n"))
      .join("\n");
  };

  try {
    const heavy = userCaller(ctx.heavyUser.id);
    const svc = (caller: Caller) => createExecutionService({ sql, caller, temporal: null });
    await session(0, false);
    await capture("list first page, heaviest user (keyset)", () => svc(heavy).listExecutions({ limit: 20 }));
    await capture("list first page, all (service role)", () => svc(serviceCaller).listExecutions({ limit: 20 }));
    for (const [key, caller, userId] of [["user", heavy, ctx.heavyUser.id], ["all", serviceCaller, null]] as const) {
      const depth = depths[key];
      if (!depth) continue;
      const [position] = await ctx.db.admin`
        select to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as started_at, id
          from public.workflow_executions where true ${userId ? ctx.db.admin`and created_by = ${userId}` : ctx.db.admin``}
         order by started_at desc, id desc offset ${depth - 1} limit 1`;
      const cursor = encodeCursor({ startedAt: position.started_at, id: position.id });
      await capture(`list ${depth} deep, ${key === "user" ? "heaviest user" : "all"} (keyset)`, () => svc(caller).listExecutions({ limit: 20, cursor }));
      await capture(`list ${depth} deep, ${key === "user" ? "heaviest user" : "all"} (LIMIT/OFFSET)`, () =>
        withCaller(sql, caller, (tx) => tx`
          select e.id, w.name from public.workflow_executions e join public.workflows w on w.id = e.workflow_id
           where true ${userId ? tx`and e.created_by = ${userId}` : tx``}
           order by e.started_at desc, e.id desc limit 21 offset ${depth}`));
    }

    // Stats: nested statements (the query inside execution_stats_summary). The 1 ms floor
    // (auto_explain's unit) hides the thousands of per-row calls of the small SQL functions,
    // whose plans would otherwise flood the session.
    await session(1, true);
    const day = new Date(Date.now() - 24 * 3600_000).toISOString();
    const week = new Date(Date.now() - 7 * 24 * 3600_000).toISOString();
    const statsCases: [string, Caller, StatsFilter][] = [
      ["stats heaviest user", heavy, {}],
      ["stats heaviest workflow (owner)", userCaller(ctx.heavyWorkflow.owner), { workflowId: ctx.heavyWorkflow.id }],
      ["stats heaviest workflow (service role)", serviceCaller, { workflowId: ctx.heavyWorkflow.id }],
      ["stats all (service role)", serviceCaller, {}],
      ["stats heaviest user, last 24h", heavy, { startedAfter: day }],
      ["stats heaviest user, last 7 days", heavy, { startedAfter: week }],
      ["stats all, last 7 days", serviceCaller, { startedAfter: week }],
    ];
    for (const [name, caller, filter] of statsCases) await capture(name, () => svc(caller).getStats(filter));
    await session(0, false);
    await capture("naive stats heaviest user (the fetch)", () => naiveStats({ ...ctx, sql }, heavy, {}));
  } finally {
    await sql.end({ timeout: 1 });
  }
  log(`captured ${Object.keys(plans).length} plans`);
  return plans;
}
