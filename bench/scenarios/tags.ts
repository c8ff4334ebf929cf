/**
 * Tags and metadata (docs/architecture.md §5.1): the first page and a deep page of a list
 * filtered by a tag and by a metadata pair, for the heaviest user (RLS) and the service role,
 * through the service exactly as the function runs it (the side table's keyset index, each
 * entry's row by primary key), the first page also over HTTP. Side by side the naive ways, in
 * the same caller transaction with the same select and keyset cursor:
 *  - "plain filter": `tags @> ...` / `metadata->>key = ...` checked on the rows the owner's (or
 *    everyone's) keyset index returns, no side tables (what the list did before them);
 *  - "GIN": the same on a GIN index (`tags`, `metadata jsonb_path_ops` with `@>`), created for
 *    this scenario and dropped at its end (so no other scenario sees it).
 * Plus the stats of a tag filter, aggregated from the matching rows (exact, not rollup-fast),
 * beside the unfiltered rollup stats. Deep = 100,000 matching rows in, or the deepest page the
 * filter has. The seed (bench/lib/seed.ts) tags 30% of rows and gives half of them metadata:
 * `env:prod` is on 10% of the rows, `priority:high` on 3%, `plan=enterprise` on about 17%.
 */
import { encodeCursor } from "../../shared/cursor.ts";
import { type Tx, withCaller } from "../../shared/db.ts";
import { createExecutionService } from "../../shared/service.ts";
import type { Caller, ExecutionFilter } from "../../shared/types.ts";
import { type BenchContext, serviceCaller, userCaller } from "../lib/context.ts";
import { log, type Measurement, measure, timed } from "../lib/measure.ts";
import { call } from "../lib/server.ts";

export interface TagsResult {
  measurements: Measurement[];
  limit: number;
  /** Matching rows and the depth of the deep page, per case. */
  cases: Record<string, { matching: number; depth: number }>;
  /** Our deep page equals the plain filter's at the same position (same ids, same order). */
  pagesAgree: Record<string, boolean>;
  ginBuildMs: number;
}

const LIMIT = 20;
const TARGET_DEPTH = 100_000;
const TAG = "env:prod"; // 10% of the rows
const RARE_TAG = "priority:high"; // 3%
const METADATA = { plan: "enterprise" } as const;

/** The naive page: the plain filter (or its GIN form) over the executions, keyset after `after`. */
function naivePage(tx: Tx, filter: ExecutionFilter, scope: { userId?: string }, after: { startedAt: string; id: string } | null, gin: boolean) {
  const [key, value] = Object.entries(filter.metadata ?? {})[0] ?? [];
  const condition = filter.tags
    ? (gin ? tx`e.tags @> ${`{${filter.tags.join(",")}}`}::text[]` : tx`${filter.tags[0]}::text = any(e.tags)`)
    : (gin ? tx`e.metadata @> ${tx.json({ [key]: value })}::jsonb` : tx`e.metadata ->> ${key}::text = ${value}::text`);
  return tx`
    select e.id, e.workflow_id, e.created_by, e.status, e.started_at, e.input, e.output, e.tags, e.metadata,
           (select w.name from public.workflows w where w.id = e.workflow_id) as workflow_name
      from public.workflow_executions e
     where ${condition}
       ${scope.userId ? tx`and e.created_by = ${scope.userId}::uuid` : tx``}
       ${after ? tx`and (e.started_at, e.id) < (${after.startedAt}::text::timestamptz, ${after.id}::uuid)` : tx``}
     order by e.started_at desc, e.id desc
     limit ${LIMIT + 1}`;
}

export async function runTags(ctx: BenchContext, options: { quick?: boolean } = {}): Promise<TagsResult> {
  const measurements: Measurement[] = [];
  const cases: TagsResult["cases"] = {};
  const pagesAgree: TagsResult["pagesAgree"] = {};
  const runs = options.quick ? 100 : 400;
  const naiveRuns = { runs: options.quick ? 20 : 50, warmup: 3, budgetMs: 20_000, cpuOf: ctx.server.pid };
  const admin = ctx.db.admin;
  const scopes: { key: string; label: string; caller: Caller; userId?: string; token: () => Promise<string> }[] = [
    { key: "user", label: "heaviest user", caller: userCaller(ctx.heavyUser.id), userId: ctx.heavyUser.id, token: () => ctx.token(ctx.heavyUser.id) },
    { key: "all", label: "all (service role)", caller: serviceCaller, token: () => ctx.serviceToken() },
  ];
  const filters: { key: string; label: string; filter: ExecutionFilter; query: string }[] = [
    { key: "tag", label: `tag=${TAG}`, filter: { tags: [TAG] }, query: `tag=${encodeURIComponent(TAG)}` },
    { key: "rare tag", label: `tag=${RARE_TAG}`, filter: { tags: [RARE_TAG] }, query: `tag=${encodeURIComponent(RARE_TAG)}` },
    { key: "metadata", label: `metadata.plan=${METADATA.plan}`, filter: { metadata: { ...METADATA } }, query: `metadata.plan=${METADATA.plan}` },
  ];

  // Where a client paging `depth` rows into a filter stands: the position of the row before it.
  async function positionAt(filter: ExecutionFilter, userId: string | undefined) {
    const where = filter.tags
      ? admin`t.tag = ${filter.tags[0]}`
      : admin`t.key = ${Object.keys(filter.metadata!)[0]} and t.value = ${Object.values(filter.metadata!)[0]}`;
    const table = filter.tags ? admin`public.execution_tags t` : admin`public.execution_metadata_entries t`;
    const [{ n }] = await admin`select count(*)::int as n from ${table} where ${where} ${userId ? admin`and t.created_by = ${userId}` : admin``}`;
    const depth = Math.max(1, Math.min(TARGET_DEPTH, n - LIMIT - 1));
    const [row] = await admin`
      select to_char(t.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as started_at, t.execution_id as id
        from ${table} where ${where} ${userId ? admin`and t.created_by = ${userId}` : admin``}
       order by t.started_at desc, t.execution_id desc offset ${depth - 1} limit 1`;
    return { matching: n, depth, position: { startedAt: row.started_at as string, id: row.id as string } };
  }

  const measureAll = async (gin: boolean) => {
    for (const scope of scopes) {
      const service = createExecutionService({ sql: ctx.sql, caller: scope.caller, temporal: null });
      for (const f of filters) {
        const name = `${f.label}, ${scope.label}`;
        const { matching, depth, position } = await positionAt(f.filter, scope.userId);
        cases[`${f.key} ${scope.key}`] = { matching, depth };
        const cursor = encodeCursor(position);
        const naive = gin ? "GIN index" : "plain filter";
        if (!gin) {
          measurements.push(await measure(`tags list first page, ${name}: ours (service)`, () => service.listExecutions({ limit: LIMIT, ...f.filter }), { runs, warmup: 50, cpuOf: ctx.server.pid }));
          const token = await scope.token();
          measurements.push(await measure(`tags list first page, ${name}: ours (HTTP)`, () => call(`${ctx.server.functionsUrl}/executions-list?limit=${LIMIT}&${f.query}`, { token }), { runs: Math.round(runs / 2), warmup: 20, cpuOf: ctx.server.pid }));
          measurements.push(await measure(`tags list page ${depth.toLocaleString("en")} deep, ${name}: ours (service)`, () => service.listExecutions({ limit: LIMIT, ...f.filter, cursor }), { runs, warmup: 50, note: `depth ${depth} of ${matching}`, cpuOf: ctx.server.pid }));
          const ours = await service.listExecutions({ limit: LIMIT, ...f.filter, cursor });
          const plain = await withCaller(ctx.sql, scope.caller, (tx) => naivePage(tx, f.filter, scope, position, false));
          pagesAgree[`${f.key} ${scope.key}`] = ours.data.map((e) => e.id).join() === plain.slice(0, LIMIT).map((r) => r.id).join();
          if (!pagesAgree[`${f.key} ${scope.key}`]) log(`WARNING: the side-table page and the plain filter's page differ for ${name}`);
        }
        measurements.push(await measure(`tags list first page, ${name}: naive (${naive})`, () => withCaller(ctx.sql, scope.caller, (tx) => naivePage(tx, f.filter, scope, null, gin)), naiveRuns));
        measurements.push(await measure(`tags list page ${depth.toLocaleString("en")} deep, ${name}: naive (${naive})`, () => withCaller(ctx.sql, scope.caller, (tx) => naivePage(tx, f.filter, scope, position, gin)), { ...naiveRuns, note: `depth ${depth} of ${matching}` }));
      }
    }
  };

  await measureAll(false);

  // Stats of a tag filter: exact, from the matching rows through the side table (not rollup-fast).
  const heavy = createExecutionService({ sql: ctx.sql, caller: userCaller(ctx.heavyUser.id), temporal: null });
  const statsRuns = { runs: options.quick ? 10 : 30, warmup: 2, budgetMs: 30_000, cpuOf: ctx.server.pid };
  measurements.push(await measure(`tags stats, tag=${TAG}, heaviest user: ours (rows through the side table)`, () => heavy.getStats({ tags: [TAG] }), statsRuns));
  measurements.push(await measure(`tags stats, tag=${TAG}, heaviest user, last 7 days: ours (rows through the side table)`, () => heavy.getStats({ tags: [TAG], startedAfter: new Date(Date.now() - 7 * 86_400_000).toISOString() }), statsRuns));
  measurements.push(await measure(`tags stats, no filter, heaviest user: rollups (for comparison)`, () => heavy.getStats({}), { ...statsRuns, runs: runs }));

  // The GIN way: build the indexes (timed), measure, drop them.
  let ginBuildMs = 0;
  try {
    [, ginBuildMs] = await timed(async () => {
      await admin`create index bench_gin_tags on public.workflow_executions using gin (tags)`;
      await admin`create index bench_gin_metadata on public.workflow_executions using gin (metadata jsonb_path_ops)`;
      await admin`analyze public.workflow_executions`;
    });
    log(`built the GIN indexes in ${(ginBuildMs / 1000).toFixed(1)} s`);
    await measureAll(true);
  } finally {
    await admin`drop index if exists public.bench_gin_tags`;
    await admin`drop index if exists public.bench_gin_metadata`;
  }
  return { measurements, limit: LIMIT, cases, pagesAgree, ginBuildMs };
}
