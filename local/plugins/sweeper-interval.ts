/**
 * `npm start` plugin: runs the timeout sweeper on an interval (on Supabase, pg_cron calls the
 * timeout-sweeper function every minute). SWEEP_INTERVAL_MS, default 10 s; 0 turns it off.
 * SWEEP_RECHECK_SECONDS (default 5 here, 30 in production) is how soon a running execution is
 * compared with Temporal, so a finished demo run shows up as completed within seconds.
 */
import { sweep } from "../../shared/sweeper.ts";
import type { DevServerPlugin } from "../dev-server-plugins.ts";

export const sweeperIntervalPlugin: DevServerPlugin = {
  name: "sweeper-interval",
  start(ctx) {
    const intervalMs = Number(Deno.env.get("SWEEP_INTERVAL_MS") ?? 10_000);
    const recheckAfterSeconds = Number(Deno.env.get("SWEEP_RECHECK_SECONDS") ?? 5);
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) return;
    let running = false;
    const timer = setInterval(async () => {
      if (running || ctx.signal.aborted) return; // never two runs of this process at once
      running = true;
      try {
        const { config } = ctx.runtime;
        const report = await sweep(ctx.runtime, { retentionDays: config.retentionDays, budgetMs: config.sweepBudgetMs, recheckAfterSeconds });
        const { deadlines, reconcile, redispatch, stops, retention } = report;
        const changed = deadlines.timedOut + deadlines.stopRequested + reconcile.completed + reconcile.failed + reconcile.cancelled + reconcile.timed_out +
          redispatch.started + redispatch.rejected + stops.sent + retention.deleted;
        const failures = [deadlines, reconcile, redispatch, stops, retention].reduce((n, phase) => n + phase.failures, 0);
        if (changed || failures || !report.complete) ctx.log(`sweeper: ${JSON.stringify(report)}`);
      } catch (error) {
        ctx.log("sweeper run failed", error);
      } finally {
        running = false;
      }
    }, intervalMs);
    return () => clearInterval(timer);
  },
};
