/**
 * `npm start` plugin: sends failure alerts (on Supabase, pg_cron calls the alerts-deliver
 * function every minute). Every ALERTS_DELIVERY_INTERVAL_MS (default 1000; 0 turns it off) one
 * deliverer run sends what is due and returns. It also sets ALERTS_ALLOW_PRIVATE_URLS=1 for the
 * functions unless the environment says otherwise, so endpoints on localhost work locally.
 * GET /health shows its runs and the last report.
 */
import { deliverDueAlerts } from "../../shared/alerts/deliver.ts";
import type { DeliverReport } from "../../shared/alerts/schemas.ts";
import type { DevServerPlugin } from "../dev-server/types.ts";

let intervalMs = 1_000;

export const alertsDeliveryPlugin: DevServerPlugin = {
  name: "alerts-delivery",
  healthKey: "alerts",
  configure({ env }) {
    const text = env("ALERTS_DELIVERY_INTERVAL_MS")?.trim() || "1000";
    intervalMs = Number(text);
    if (!Number.isInteger(intervalMs) || intervalMs < 0) throw new Error(`ALERTS_DELIVERY_INTERVAL_MS must be whole milliseconds (0: off), got "${text}"`);
    return env("ALERTS_ALLOW_PRIVATE_URLS")?.trim() ? undefined : { env: { ALERTS_ALLOW_PRIVATE_URLS: "1" } };
  },
  start(ctx) {
    if (intervalMs === 0) {
      return {
        banner: ["Alerts      off (ALERTS_DELIVERY_INTERVAL_MS=0): failure alerts wait in the outbox"],
        health: () => ({ status: "off", reason: "ALERTS_DELIVERY_INTERVAL_MS=0" }),
      };
    }
    const allowPrivateUrls = ctx.runtime.config.alertsAllowPrivateUrls ?? false;
    let running = false;
    let runs = 0;
    let failures = 0;
    let last: { at: string; ok: boolean; report?: DeliverReport; error?: string } | null = null;
    const timer = setInterval(async () => {
      if (running || ctx.signal.aborted) return;
      running = true;
      try {
        const report = await deliverDueAlerts(ctx.runtime, { allowPrivateUrls, budgetMs: 10_000, logRetentionDays: ctx.runtime.config.alertsLogRetentionDays });
        last = { at: new Date().toISOString(), ok: true, report };
        if (report.claimed) ctx.log(`alerts: ${JSON.stringify(report)}`);
      } catch (error) {
        failures++;
        last = { at: new Date().toISOString(), ok: false, error: error instanceof Error ? error.message : String(error) };
        ctx.log("alerts delivery run failed", error);
      } finally {
        runs++;
        running = false;
      }
    }, intervalMs);
    return {
      stop: () => clearInterval(timer),
      banner: [`Alerts      sent every ${intervalMs} ms (ALERTS_DELIVERY_INTERVAL_MS)${allowPrivateUrls ? ", private URLs allowed (ALERTS_ALLOW_PRIVATE_URLS)" : ""}`],
      health: () => ({ status: last && !last.ok ? "down" : "up", intervalMs, runs, failures, running, lastRun: last }),
    };
  },
};
