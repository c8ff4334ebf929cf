/**
 * Retention (issue 11, "Retention that keeps history"): pruning old terminal executions with
 * the sweeper's retention step (shared/sweeper.ts `sweep()`, bounded batches of 1,000 through
 * idx_workflow_executions_started, each its own transaction, `for update skip locked`, the stats
 * keeping the pruned runs) side by side with the naive way: one
 * `delete ... where started_at < x` statement (also under `execution_tracker.prune`, so both
 * keep the history and differ only in how they delete).
 *
 * Each side prunes its own set of old rows (1,000,000 at 1M and 10M; all of a 100k seed's size
 * at 100k; 20,000 with --quick), inserted first, started 400 to 430 days ago (the seed is the
 * last 60 days, so it is never touched), with 4 writers creating executions over HTTP for the
 * whole time. Reports rows/s, per-batch p50/max (the delete statement of each batch), and the
 * writers' latency before and during each.
 */
import postgres from "postgres";
import { sweep, type SweepReport } from "../../shared/sweeper.ts";
import type { BenchContext } from "../lib/context.ts";
import { log, type Measurement, round3, summarize, timed } from "../lib/measure.ts";
import { call } from "../lib/server.ts";

export interface RetentionResult {
  pruned: number;
  retentionDays: number;
  insertMs: number;
  batched: {
    ms: number;
    rowsPerSecond: number;
    sweeps: number;
    batches: number;
    batchSize: number;
    batchMs: { p50: number; max: number };
    /** Rows per second of the delete statements alone (the sweeps also fold deltas, and run their other phases). */
    deleteRowsPerSecond: number;
    /** The pruned runs' deltas folded by the sweeps' stats phase. */
    folded: number;
    left: number;
    reports: Pick<SweepReport, "complete" | "elapsedMs" | "retention">[];
    writers: Measurement;
  };
  naive: { ms: number; rowsPerSecond: number; left: number; writers: Measurement };
  writersBefore: Measurement;
  writers: number;
}

const RETENTION_DAYS = 365;
const BATCH = 1000;
const WRITERS = 4;

/**
 * `count` terminal executions started 400 to 430 days ago, over the seed's workflows, inserted
 * with the triggers off (session_replication_role = replica): they never enter the statistics,
 * so once pruned (which keeps them there) the rollups still equal a direct aggregate of the rows
 * (the bench's end-of-run check), and the sweeps fold only what pruning itself appends.
 */
async function insertOld(sql: postgres.Sql, count: number): Promise<number> {
  const [, ms] = await timed(() => sql.begin((tx) => [tx`set local session_replication_role = replica`, tx.unsafe(`
    insert into public.workflow_executions
      (workflow_id, created_by, temporal_workflow_id, status, started_at, completed_at, duration_ms, created_at, updated_at)
    select w.id, w.owner, 'old-' || x.g || '-' || $2::text, (array['completed', 'completed', 'completed', 'failed', 'cancelled', 'timed_out'])[1 + x.g % 6],
           x.started_at, x.started_at + interval '2 seconds', 2000, x.started_at, x.started_at
      from (select g, 1 + ((g::bigint * 7919) % (select count(*) from bench.wf))::int as wf_n,
                   now() - interval '400 days' - random() * interval '30 days' as started_at
              from generate_series(1, $1::int) g) x
      join bench.wf w on w.n = x.wf_n`, [count, Date.now().toString(36)])]));
  await sql`analyze public.workflow_executions`;
  return ms;
}

const countOld = async (sql: postgres.Sql) =>
  (await sql`select count(*)::int as n from public.workflow_executions where started_at < now() - make_interval(days => ${RETENTION_DAYS})`)[0].n as number;

export async function runRetention(ctx: BenchContext, opts: { quick?: boolean }): Promise<RetentionResult> {
  const prune = opts.quick ? 20_000 : Math.min(1_000_000, ctx.rows);

  // Writers: HTTP creates in loops, for the heaviest users, the whole time.
  const users = Array.from({ length: WRITERS }, (_, w) => w + 1);
  const tokens = await Promise.all(users.map((n) => ctx.token(ctx.userId(n))));
  const runId = Date.now().toString(36);
  let seq = 0;
  const writeWhile = async (busy: () => boolean) => {
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(users.map(async (userN, w) => {
      while (busy()) {
        const i = seq++;
        const t0 = performance.now();
        await call(`${ctx.server.functionsUrl}/executions-create`, {
          token: tokens[w], body: { workflowId: ctx.workflowsOf(userN)[i % 10], temporalWorkflowId: `retw-${runId}-${i}` }, expect: [201],
        });
        latencies.push(performance.now() - t0);
      }
    }));
    return { latencies, wallMs: performance.now() - started };
  };
  const measurement = (name: string, { latencies, wallMs }: { latencies: number[]; wallMs: number }) =>
    summarize(name, latencies, { concurrency: WRITERS, warmup: 0, errors: 0, throughput: latencies.length / wallMs * 1000, wallMs });

  const beforeStart = performance.now();
  const writersBefore = measurement("creates (HTTP) without pruning", await writeWhile(() => performance.now() - beforeStart < 5000));

  // --- Batched: the sweeper, invoked back to back until retention has nothing left (pg_cron: once a minute).
  let insertMs = await insertOld(ctx.db.admin, prune);
  log(`inserted ${prune.toLocaleString("en")} old executions in ${(insertMs / 1000).toFixed(1)} s`);
  const batchMs: number[] = [];
  const deleteStarted = new Map<number, number>();
  const sweeperSql = postgres(ctx.db.url, {
    max: 2, prepare: false, onnotice: () => {},
    // A batch: from its delete statement to the next statement on that connection (its commit).
    debug: (connection, query) => {
      const now = performance.now();
      const started = deleteStarted.get(connection);
      if (started !== undefined) batchMs.push(now - started), deleteStarted.delete(connection);
      if (query.includes("delete from public.workflow_executions e")) deleteStarted.set(connection, now);
    },
  });
  const reports: SweepReport[] = [];
  let sweeping = true;
  const writingBatched = writeWhile(() => sweeping);
  const [, batchedMs] = await timed(async () => {
    for (let i = 0; i < 1000; i++) {
      const report = await sweep({ sql: sweeperSql, temporal: null, log: (message, error) => log(`${message} ${error ?? ""}`) }, { retentionDays: RETENTION_DAYS, batchSize: BATCH });
      reports.push(report);
      // Done when retention left nothing (the stats phase may still be folding the pruned runs' deltas: not timed here).
      if (report.retention.stoppedBy === null) break;
    }
  });
  sweeping = false;
  const batchedWriters = measurement("creates (HTTP) during batched pruning (the sweeper)", await writingBatched);
  await sweeperSql.end({ timeout: 1 });
  const deleted = reports.reduce((n, r) => n + r.retention.deleted, 0);
  const batchedLeft = await countOld(ctx.db.admin);
  const sorted = [...batchMs].sort((a, b) => a - b);

  // --- Naive: one statement.
  insertMs += await insertOld(ctx.db.admin, prune);
  let deleting = true;
  const writingNaive = writeWhile(() => deleting);
  const [, naiveMs] = await timed(() =>
    ctx.db.admin.begin(async (tx) => {
      await tx`select set_config('execution_tracker.prune', 'on', true)`;
      await tx`delete from public.workflow_executions
                where started_at < now() - make_interval(days => ${RETENTION_DAYS})
                  and status in ('completed', 'failed', 'cancelled', 'timed_out')`;
    })
  );
  deleting = false;
  const naiveWriters = measurement("creates (HTTP) during the naive delete (one statement)", await writingNaive);
  const naiveLeft = await countOld(ctx.db.admin);

  const result: RetentionResult = {
    pruned: prune,
    retentionDays: RETENTION_DAYS,
    insertMs: Math.round(insertMs),
    batched: {
      ms: Math.round(batchedMs),
      rowsPerSecond: Math.round(deleted / batchedMs * 1000),
      sweeps: reports.length,
      batches: batchMs.length,
      batchSize: BATCH,
      batchMs: { p50: round3(sorted[Math.floor(sorted.length / 2)] ?? 0), max: round3(sorted[sorted.length - 1] ?? 0) },
      deleteRowsPerSecond: Math.round(deleted / sorted.reduce((sum, ms) => sum + ms, 0) * 1000),
      folded: reports.reduce((n, r) => n + r.stats.folded, 0),
      left: batchedLeft,
      reports: reports.map(({ complete, elapsedMs, retention }) => ({ complete, elapsedMs, retention })),
      writers: batchedWriters,
    },
    naive: { ms: Math.round(naiveMs), rowsPerSecond: Math.round(prune / naiveMs * 1000), left: naiveLeft, writers: naiveWriters },
    writersBefore,
    writers: WRITERS,
  };
  log(`retention: ${deleted.toLocaleString("en")} rows in ${(batchedMs / 1000).toFixed(1)} s by ${reports.length} sweeps ` +
    `(${result.batched.rowsPerSecond}/s, ${result.batched.deleteRowsPerSecond}/s in the deletes; ${result.batched.batches} batches, p50 ${result.batched.batchMs.p50.toFixed(1)} ms, max ${result.batched.batchMs.max.toFixed(1)} ms; ` +
    `creates max ${batchedWriters.max.toFixed(0)} ms) vs one statement ${(naiveMs / 1000).toFixed(1)} s (${result.naive.rowsPerSecond}/s; creates max ${naiveWriters.max.toFixed(0)} ms); ` +
    `creates before: p50 ${writersBefore.p50.toFixed(1)} ms, max ${writersBefore.max.toFixed(0)} ms; left ${batchedLeft} / ${naiveLeft}`);
  return result;
}
