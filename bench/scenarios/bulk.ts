/**
 * Bulk cancel by filter (issue 11, "Bulk actions by filter"): N matching running executions
 * (min(100,000, 10% of the seed): 100,000 at 1M and 10M, 10,000 at 100k; 5,000 with --quick)
 * the tracker acts on in Temporal, cancelled
 *
 *   bulk:  POST /executions-bulk over HTTP (the snapshot, and its inline second of work), then
 *          the processor (shared/bulk/processor.ts, as POST /executions-bulk/process runs it:
 *          batches of 1000, each a transaction as the owner with `skip locked`) beside the
 *          sweeper's stop phase (shared/stops.ts, no Temporal configured: every stop confirms at
 *          once as `no_temporal`), until every row is terminal;
 *   naive: one `update ... set status = 'cancelled' where <the filter>` as the owner (as a
 *          client through PostgREST would), then the same stop phase until every row is terminal;
 *
 * each on its own rows (a workflow of its own of the heaviest user), while 4 writers create
 * executions over HTTP for other users the whole time. Reports the time until all rows are
 * terminal, and the writers' latency (max and p50) before and during each.
 *
 * Before that, the count a bulk request (and its dry run) makes for a tag and a metadata
 * filter over the heaviest user's rows: `countMatches` (driven from the side table's index)
 * side by side with the same count checking every row of the owner (the naive way), the
 * median of 5 each, as the owner.
 */
import { ownerCaller, processBulkActions } from "../../shared/bulk/processor.ts";
import { withCaller } from "../../shared/db.ts";
import { countMatches } from "../../shared/repository/bulk.ts";
import { executionFilterCondition } from "../../shared/repository/executions.ts";
import type { ExecutionFilter } from "../../shared/types.ts";
import { processStopRequests } from "../../shared/stops.ts";
import type { BenchContext } from "../lib/context.ts";
import { log, type Measurement, summarize, timed } from "../lib/measure.ts";
import { call } from "../lib/server.ts";

export interface BulkResult {
  matched: number;
  insertMs: number;
  bulk: {
    /** The POST: count, snapshot, one second of inline work. */
    acceptMs: number;
    /** Until the action is done (every row cancelled or its stop requested). */
    processedMs: number;
    /** Until every row is terminal (the stop phase confirmed each). */
    allTerminalMs: number;
    batches: number;
    writers: Measurement;
  };
  naive: { updateMs: number; allTerminalMs: number; writers: Measurement };
  writersBefore: Measurement;
  writers: number;
  /** The bulk count of a tag / metadata filter over the heaviest user's rows (median ms of 5). */
  counts: { filter: string; matched: number; sideTableMs: number; everyRowMs: number }[];
}

const WRITERS = 4;
const quiet = (message: string, error?: unknown) => log(`${message} ${error ?? ""}`);

export async function runBulk(ctx: BenchContext, opts: { quick?: boolean }): Promise<BulkResult> {
  const matched = opts.quick ? 5_000 : Math.min(100_000, Math.floor(ctx.rows / 10));
  const owner = ctx.heavyUser.id;
  const counts = await measureCounts(ctx, owner);
  const [bulkWorkflow, naiveWorkflow] = await Promise.all(["bench-bulk", "bench-bulk-naive"].map(async (name) => {
    const [row] = await ctx.db.admin`
      insert into public.workflows (name, created_by) values (${`${name}-${Date.now().toString(36)}`}, ${owner}) returning id`;
    return row.id as string;
  }));
  const [, insertMs] = await timed(() => Promise.all([bulkWorkflow, naiveWorkflow].map((workflowId) => ctx.db.admin`
    insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at)
    select ${workflowId}, ${owner}, 'bulk-' || ${workflowId}::text || '-' || g, 'running', now() - interval '1 hour' + g * interval '1 millisecond'
      from generate_series(1, ${matched}::int) g`)));
  await ctx.db.admin`analyze public.workflow_executions`;
  log(`inserted 2 x ${matched} running executions (acted on: registered) in ${(insertMs / 1000).toFixed(1)} s`);

  // Writers: HTTP creates for the next-heaviest users, in a loop, until told to stop.
  const users = Array.from({ length: WRITERS }, (_, w) => w + 2);
  const tokens = await Promise.all(users.map((n) => ctx.token(ctx.userId(n))));
  let seq = 0;
  const runId = Date.now().toString(36);
  const writers = (until: () => boolean, latencies: number[]) => Promise.all(users.map(async (userN, w) => {
    while (!until()) {
      const i = seq++;
      const t0 = performance.now();
      await call(`${ctx.server.functionsUrl}/executions-create`, {
        token: tokens[w], body: { workflowId: ctx.workflowsOf(userN)[i % 10], temporalWorkflowId: `bulkw-${runId}-${i}` }, expect: [201],
      });
      latencies.push(performance.now() - t0);
    }
  }));
  const measured = (name: string, latencies: number[], wallMs: number) =>
    summarize(name, latencies, { concurrency: WRITERS, warmup: 0, errors: 0, throughput: latencies.length / wallMs * 1000, wallMs });

  const before: number[] = [];
  const beforeStart = performance.now();
  await writers(() => performance.now() - beforeStart > 5000, before);
  const writersBefore = measured("writers (HTTP create) alone", before, performance.now() - beforeStart);

  const live = async (workflowId: string) => (await ctx.db.admin`
    select count(*)::int as n from public.workflow_executions where workflow_id = ${workflowId} and status in ('pending', 'running')`)[0].n as number;
  /** The sweeper's stop phase, again and again, until no row of the workflow is live. */
  const drainStops = async (workflowId: string, done: () => boolean) => {
    while (!done() || (await live(workflowId)) > 0) {
      const report = await processStopRequests({ sql: ctx.sql, temporal: null, log: quiet }, { batchSize: 500, maxBatches: 1000, concurrency: 16 });
      if (report.claimed === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  // The bulk action.
  const during: number[] = [];
  let acting = true;
  const duringStart = performance.now();
  const writing = writers(() => !acting, during);
  const started = performance.now();
  const token = await ctx.token(owner);
  const action = await call(`${ctx.server.functionsUrl}/executions-bulk`, {
    token, body: { action: "cancel", filter: { workflowId: bulkWorkflow }, requestId: `bench-${runId}` }, expect: [202],
  }) as { id: string; matched: number };
  const acceptMs = performance.now() - started;
  let processedMs = 0;
  let batches = 0;
  let processed = false;
  await Promise.all([
    (async () => {
      for (;;) {
        const report = await processBulkActions({ sql: ctx.sql, temporal: null, log: quiet }, { actionId: action.id, requestMoreWhenLeft: false });
        batches += report.batches;
        const [row] = await ctx.db.admin`select status from public.execution_bulk_actions where id = ${action.id}`;
        if (row.status === "done" || row.status === "failed") break;
      }
      processedMs = performance.now() - started;
      processed = true;
    })(),
    drainStops(bulkWorkflow, () => processed),
  ]);
  const allTerminalMs = performance.now() - started;
  acting = false;
  await writing;
  const bulkWriters = measured("writers (HTTP create) during the bulk cancel", during, performance.now() - duringStart);
  log(`bulk: ${action.matched} accepted in ${acceptMs.toFixed(0)} ms, processed in ${(processedMs / 1000).toFixed(2)} s (${batches} batches), ` +
    `all terminal in ${(allTerminalMs / 1000).toFixed(2)} s; writers max ${bulkWriters.max.toFixed(0)} ms (p50 ${bulkWriters.p50.toFixed(1)})`);

  // The naive way: one statement over the filter, then the same stop phase.
  const naiveDuring: number[] = [];
  let naiveActing = true;
  const naiveStart = performance.now();
  const naiveWriting = writers(() => !naiveActing, naiveDuring);
  const t0 = performance.now();
  let updated = false;
  const [, updateMs] = await timed(async () => {
    await ctx.db.admin.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${JSON.stringify({ sub: owner, role: "authenticated", aud: "authenticated" })}, true)`;
      await tx`update public.workflow_executions set status = 'cancelled' where workflow_id = ${naiveWorkflow} and status in ('pending', 'running')`;
    });
    updated = true;
  });
  await drainStops(naiveWorkflow, () => updated);
  const naiveTerminalMs = performance.now() - t0;
  naiveActing = false;
  await naiveWriting;
  const naiveWriters = measured("writers (HTTP create) during the naive update", naiveDuring, performance.now() - naiveStart);
  log(`naive: one update in ${(updateMs / 1000).toFixed(2)} s, all terminal in ${(naiveTerminalMs / 1000).toFixed(2)} s; ` +
    `writers max ${naiveWriters.max.toFixed(0)} ms (p50 ${naiveWriters.p50.toFixed(1)})`);

  return {
    matched: action.matched,
    insertMs: Math.round(insertMs),
    bulk: { acceptMs: Math.round(acceptMs), processedMs: Math.round(processedMs), allTerminalMs: Math.round(allTerminalMs), batches, writers: bulkWriters },
    naive: { updateMs: Math.round(updateMs), allTerminalMs: Math.round(naiveTerminalMs), writers: naiveWriters },
    writersBefore,
    writers: WRITERS,
    counts,
  };
}

const countFilters: { name: string; filter: ExecutionFilter }[] = [
  { name: "tag=priority:high", filter: { tags: ["priority:high"] } },
  { name: "metadata.plan=enterprise + status=running", filter: { metadata: { plan: "enterprise" }, status: ["running"] } },
];

/** countMatches (side table) vs the count over every row of the owner, up to the bulk bound, as the owner. */
async function measureCounts(ctx: BenchContext, owner: string): Promise<BulkResult["counts"]> {
  const cap = 100_001;
  const asOwner = <T>(work: Parameters<typeof withCaller<T>>[2]) => withCaller(ctx.sql, ownerCaller(owner), work);
  const median = async (work: () => Promise<number>) => {
    const times: number[] = [];
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const [result, ms] = await timed(work);
      value = result;
      times.push(ms);
    }
    return { value, ms: Math.round(times.sort((a, b) => a - b)[2] * 10) / 10 };
  };
  const results: BulkResult["counts"] = [];
  for (const { name, filter } of countFilters) {
    const side = await median(() => asOwner((tx) => countMatches(tx, filter, owner, cap)));
    const everyRow = await median(() => asOwner(async (tx) => (await tx`
      select count(*)::int as n from (
        select 1 from public.workflow_executions e
         where e.created_by = ${owner}::uuid and ${executionFilterCondition(tx, filter)}
         limit ${cap}) m`)[0].n as number));
    if (side.value !== everyRow.value) throw new Error(`bulk count of ${name}: side table ${side.value}, every row ${everyRow.value}`);
    log(`bulk count ${name}: ${side.value} matched; side table ${side.ms} ms, every row of the owner ${everyRow.ms} ms`);
    results.push({ filter: name, matched: side.value, sideTableMs: side.ms, everyRowMs: everyRow.ms });
  }
  return results;
}
