/**
 * `npm start` plugin: runs the timeout sweeper on an interval (on Supabase, pg_cron calls the
 * timeout-sweeper function every minute). SWEEP_INTERVAL_MS, default 10 s; 0 turns it off.
 * SWEEP_RECHECK_SECONDS (default 5 here, 30 in production) is how soon a running execution is
 * compared with Temporal, so a finished demo run shows up as completed within seconds. Both are
 * validated at start (local/dev-server/settings.ts). GET /health shows when it last ran and
 * its report.
 */
import { sweep, type SweepReport } from "../../shared/sweeper.ts";
import type { DevServerPlugin } from "../dev-server/types.ts";

interface LastRun {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  ok: boolean;
  report?: SweepReport;
  error?: string;
}

export const sweeperIntervalPlugin: DevServerPlugin = {
  name: "sweeper-interval",
  healthKey: "sweeper",
  start(ctx) {
    const intervalMs = ctx.settings.sweepIntervalMs;
    const recheckAfterSeconds = ctx.settings.sweepRecheckSeconds;
    if (intervalMs <= 0) {
      return {
        banner: ["Sweeper     off (SWEEP_INTERVAL_MS=0): overdue runs are not timed out, pending ones not re-dispatched"],
        health: () => ({ status: "off", reason: "SWEEP_INTERVAL_MS=0" }),
      };
    }
    let running = false;
    let runs = 0;
    let failures = 0;
    let last: LastRun | null = null;
    const timer = setInterval(async () => {
      if (running || ctx.signal.aborted) return; // never two runs of this process at once
      running = true;
      const started = new Date();
      const startedMs = performance.now();
      const finish = (fields: Pick<LastRun, "ok" | "report" | "error">) => {
        runs++;
        last = { startedAt: started.toISOString(), finishedAt: new Date().toISOString(), durationMs: Math.round(performance.now() - startedMs), ...fields };
      };
      try {
        const { config } = ctx.runtime;
        const report = await sweep(ctx.runtime, { retentionDays: config.retentionDays, budgetMs: config.sweepBudgetMs, recheckAfterSeconds });
        finish({ ok: true, report });
        const { deadlines, reconcile, redispatch, stops, retention } = report;
        const changed = deadlines.timedOut + deadlines.stopRequested + reconcile.completed + reconcile.failed + reconcile.cancelled + reconcile.timed_out +
          redispatch.started + redispatch.rejected + stops.sent + retention.deleted;
        const failed = [deadlines, reconcile, redispatch, stops, retention].reduce((n, phase) => n + phase.failures, 0);
        if (changed || failed || !report.complete) ctx.log(`sweeper: ${JSON.stringify(report)}`);
      } catch (error) {
        failures++;
        finish({ ok: false, error: error instanceof Error ? error.message : String(error) });
        ctx.log("sweeper run failed", error);
      } finally {
        running = false;
      }
    }, intervalMs);
    return {
      stop: () => clearInterval(timer),
      banner: [`Sweeper     every ${intervalMs >= 1000 && intervalMs % 1000 === 0 ? `${intervalMs / 1000} s` : `${intervalMs} ms`} (SWEEP_INTERVAL_MS), Temporal rechecked after ${recheckAfterSeconds} s`],
      health: () => ({
        // Down when its last run failed; up otherwise (also before the first run).
        status: last && !last.ok ? "down" : "up",
        intervalMs,
        runs,
        failures,
        running,
        lastRun: last,
      }),
    };
  },
};
