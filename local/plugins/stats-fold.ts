/**
 * `npm start` plugin: folds the stat deltas into the rollups on an interval (on Supabase,
 * pg_cron runs private.fold_execution_stat_deltas every few seconds: migration
 * 20261202000200). Stats are exact without it; folding keeps reads cheap, since every read adds
 * the deltas not yet folded. STATS_FOLD_INTERVAL_MS, default 2000; 0 turns it off. GET /health
 * shows how many deltas it folded and when it last ran.
 */
import { foldStatDeltas } from "../../shared/repository/stats.ts";
import type { DevServerPlugin } from "../dev-server/types.ts";

const defaultIntervalMs = 2000;
/** Deltas per fold transaction; a run folds batches until the table is drained. */
const batchSize = 10_000;

function intervalFrom(raw: string | undefined): number {
  if (raw === undefined || raw === "") return defaultIntervalMs;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`STATS_FOLD_INTERVAL_MS must be a whole number of milliseconds (0 = off), not ${JSON.stringify(raw)}`);
  }
  return value;
}

let intervalMs = defaultIntervalMs;

export const statsFoldPlugin: DevServerPlugin = {
  name: "stats-fold",
  healthKey: "statsFold",
  configure(ctx) {
    intervalMs = intervalFrom(ctx.env("STATS_FOLD_INTERVAL_MS"));
  },
  start(ctx) {
    if (intervalMs <= 0) {
      return {
        banner: ["Stats fold  off (STATS_FOLD_INTERVAL_MS=0): reads add every unfolded delta (exact, slower)"],
        health: () => ({ status: "off", reason: "STATS_FOLD_INTERVAL_MS=0" }),
      };
    }
    let running = false;
    let folded = 0;
    let lastRunAt: string | null = null;
    let lastError: string | null = null;
    const timer = setInterval(async () => {
      if (running || ctx.signal.aborted) return;
      running = true;
      try {
        for (let n = batchSize; n === batchSize && !ctx.signal.aborted;) {
          n = await foldStatDeltas(ctx.runtime.sql, batchSize);
          folded += n;
        }
        lastError = null;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        ctx.log("stats fold failed", error);
      } finally {
        lastRunAt = new Date().toISOString();
        running = false;
      }
    }, intervalMs);
    return {
      stop: () => clearInterval(timer),
      banner: [`Stats fold  every ${intervalMs} ms (STATS_FOLD_INTERVAL_MS)`],
      health: () => ({ status: lastError ? "down" : "up", intervalMs, folded, lastRunAt, ...(lastError ? { error: lastError } : {}) }),
    };
  },
};
