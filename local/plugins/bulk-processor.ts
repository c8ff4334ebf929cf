/**
 * `npm start` plugin: works on unfinished bulk actions on an interval (on Supabase, pg_net
 * kicks `POST /executions-bulk/process` and pg_cron backs it up every minute; the pg_net
 * stand-in delivers those kicks locally too, this is the backstop). Every 2 s, only when an
 * action is unfinished; never two runs of this process at once. GET /health shows its last run.
 */
import { processBulkActions } from "../../shared/bulk/processor.ts";
import type { BulkProcessReport } from "../../shared/bulk/schemas.ts";
import { withCaller } from "../../shared/db.ts";
import { serviceCaller } from "../../shared/identity.ts";
import { hasUnfinishedActions } from "../../shared/repository/bulk.ts";
import type { DevServerPlugin } from "../dev-server/types.ts";

const intervalMs = 2_000;

export const bulkProcessorPlugin: DevServerPlugin = {
  name: "bulk-processor",
  healthKey: "bulkProcessor",
  start(ctx) {
    let running = false;
    let runs = 0;
    let failures = 0;
    let last: { at: string; ok: boolean; report?: BulkProcessReport; error?: string } | null = null;
    const timer = setInterval(async () => {
      if (running || ctx.signal.aborted) return;
      running = true;
      try {
        if (!(await withCaller(ctx.runtime.sql, serviceCaller, hasUnfinishedActions))) return;
        const report = await processBulkActions(ctx.runtime, { budgetMs: 10_000, requestMoreWhenLeft: false });
        runs++;
        last = { at: new Date().toISOString(), ok: true, report };
        if (report.batches) ctx.log(`bulk actions: ${JSON.stringify(report)}`);
      } catch (error) {
        failures++;
        last = { at: new Date().toISOString(), ok: false, error: error instanceof Error ? error.message : String(error) };
        ctx.log("bulk-action processing failed", error);
      } finally {
        running = false;
      }
    }, intervalMs);
    return {
      stop: () => clearInterval(timer),
      banner: [`Bulk        unfinished bulk actions processed every ${intervalMs / 1000} s (besides pg_net's kicks)`],
      health: () => ({ status: last && !last.ok ? "down" : "up", intervalMs, runs, failures, running, lastRun: last }),
    };
  },
};
