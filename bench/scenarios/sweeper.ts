/**
 * The timeout sweeper (shared/sweeper.ts `sweep()`, temporal: null) over 100,000 overdue
 * running executions spread over users and workflows like the seed, while writer loops keep
 * creating and completing executions over HTTP for the heaviest users (the rows whose
 * rollup keys the sweeper's batches also lock). Reports the sweep's time and batches, and
 * the writers' latency before and during the sweep.
 */
import postgres from "postgres";
import { sweep, type SweepReport } from "../../shared/sweeper.ts";
import type { BenchContext } from "../lib/context.ts";
import { log, type Measurement, round3, summarize, timed } from "../lib/measure.ts";
import { insertOverdue } from "../lib/seed.ts";
import { call } from "../lib/server.ts";

export interface SweeperResult {
  overdue: number;
  insertOverdueMs: number;
  sweepMs: number;
  batches: number;
  batchSize: number;
  batchMs: { p50: number; max: number };
  report: SweepReport;
  remainingOverdue: number;
  writersBefore: Measurement;
  writersDuring: Measurement;
  writers: number;
}

const OVERDUE = 100_000;
const BATCH = 1000;

export async function runSweeper(ctx: BenchContext): Promise<SweeperResult> {
  const insertOverdueMs = await insertOverdue(ctx.db.admin, OVERDUE);
  await ctx.db.admin`analyze public.workflow_executions`;
  log(`inserted ${OVERDUE} overdue executions in ${(insertOverdueMs / 1000).toFixed(1)} s`);

  // Writers: each creates a running execution then completes it, over HTTP, in a loop.
  const writers = 4;
  const users = Array.from({ length: writers }, (_, w) => w + 1);
  const tokens = await Promise.all(users.map((n) => ctx.token(ctx.userId(n))));
  let seq = 0;
  const runId = Date.now().toString(36);
  const writerLoop = async (w: number, until: () => boolean, latencies: number[]) => {
    const userN = users[w];
    while (!until()) {
      const i = seq++;
      const twid = `sweepw-${runId}-${i}`;
      const t0 = performance.now();
      await call(`${ctx.server.functionsUrl}/executions-create`, { token: tokens[w], body: { workflowId: ctx.workflowsOf(userN)[i % 10], temporalWorkflowId: twid, timeoutSeconds: 3600 }, expect: [201] });
      latencies.push(performance.now() - t0);
      const t1 = performance.now();
      await call(`${ctx.server.functionsUrl}/executions-update`, { token: tokens[w], body: { temporalWorkflowId: twid, status: "completed", durationMs: 10 }, expect: [200] });
      latencies.push(performance.now() - t1);
    }
  };

  // Baseline: the same writers for 5 s without the sweeper.
  const before: number[] = [];
  const beforeStart = performance.now();
  await Promise.all(users.map((_, w) => writerLoop(w, () => performance.now() - beforeStart > 5000, before)));
  const beforeWall = performance.now() - beforeStart;

  // The sweep, with its batch statements timed through postgres.js's debug hook.
  const batchStarts: number[] = [];
  const sweeperSql = postgres(ctx.db.url, {
    max: 2, prepare: false, onnotice: () => {},
    debug: (_connection, query) => { if (query.includes("set status = 'timed_out'")) batchStarts.push(performance.now()); },
  });
  let sweeping = true;
  const during: number[] = [];
  const duringStart = performance.now();
  const writing = Promise.all(users.map((_, w) => writerLoop(w, () => !sweeping, during)));
  const [report, sweepMs] = await timed(() => sweep({ sql: sweeperSql, temporal: null, log: (message, error) => log(`${message} ${error ?? ""}`) }, { batchSize: BATCH, budgetMs: 390_000 }));
  const sweepEnd = performance.now();
  sweeping = false;
  await writing;
  const duringWall = performance.now() - duringStart;
  await sweeperSql.end({ timeout: 1 });

  const gaps = batchStarts.map((t, i) => (batchStarts[i + 1] ?? sweepEnd) - t).sort((a, b) => a - b);
  const [{ n: remaining }] = await ctx.db.admin`
    select count(*)::int as n from public.workflow_executions
     where status in ('pending', 'running') and timeout_at < now()`;
  const result: SweeperResult = {
    overdue: OVERDUE,
    insertOverdueMs: Math.round(insertOverdueMs),
    sweepMs: Math.round(sweepMs),
    batches: batchStarts.length,
    batchSize: BATCH,
    batchMs: { p50: round3(gaps[Math.floor(gaps.length / 2)] ?? 0), max: round3(gaps[gaps.length - 1] ?? 0) },
    report,
    remainingOverdue: remaining,
    writers,
    writersBefore: summarize("writers (HTTP create/update) without the sweeper", before, { concurrency: writers, warmup: 0, errors: 0, throughput: before.length / beforeWall * 1000, wallMs: beforeWall }),
    writersDuring: summarize("writers (HTTP create/update) during the sweep", during, { concurrency: writers, warmup: 0, errors: 0, throughput: during.length / duringWall * 1000, wallMs: duringWall }),
  };
  log(`sweep: ${report.deadlines.timedOut} timed out in ${(sweepMs / 1000).toFixed(2)} s, ${result.batches} batches (p50 ${result.batchMs.p50.toFixed(0)} ms, max ${result.batchMs.max.toFixed(0)} ms); ` +
    `writers p50 ${result.writersBefore.p50.toFixed(1)} -> ${result.writersDuring.p50.toFixed(1)} ms, max ${result.writersBefore.max.toFixed(0)} -> ${result.writersDuring.max.toFixed(0)} ms; ${remaining} still overdue`);
  return result;
}
