/**
 * GET /health of the dev server: 503 `{status: "starting", phase}` until every part is up,
 * then 200 with what runs and whether it works:
 *
 *   {"status": "ok" | "degraded", "startedAt", "uptimeSeconds",
 *    "database": {"status": "up", "kind", "latencyMs"},
 *    "temporal": {"status": "up" | "down" | "off", "url", "namespace", ...},
 *    "sweeper":  {"status", "intervalMs", "runs", "failures", "lastRun": {"startedAt", "finishedAt", "durationMs", "ok", "report"}},
 *    "pgNet": {...}, "webhooks": {...}}
 *
 * "degraded" (still 200: the server serves) when a part that should run is down. Each probe
 * has 2 s; a probe that takes longer is reported down.
 */
import type { Config } from "../../shared/config.ts";
import type { Sql } from "../../shared/db.ts";
import type { HealthPart, HealthProbe } from "./types.ts";

export type ServerState = "starting" | "ready" | "stopping";

export interface HealthSource {
  state(): ServerState;
  /** What start-up is doing (while starting). */
  phase(): string;
  startedAt: Date;
  probes(): Map<string, HealthProbe>;
}

const PROBE_TIMEOUT_MS = 2000;

export async function healthResponse(source: HealthSource): Promise<Response> {
  const state = source.state();
  if (state !== "ready") {
    return Response.json({ status: state, ...(state === "starting" ? { phase: source.phase() } : {}) }, {
      status: 503,
      headers: { "retry-after": "1", "cache-control": "no-store" },
    });
  }
  const entries = await Promise.all([...source.probes()].map(async ([name, probe]) => [name, await runProbe(probe)] as const));
  const parts = Object.fromEntries(entries);
  const degraded = entries.some(([, part]) => part.status === "down");
  return Response.json({
    status: degraded ? "degraded" : "ok",
    startedAt: source.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - source.startedAt.getTime()) / 1000),
    ...parts,
  }, { headers: { "cache-control": "no-store" } });
}

async function runProbe(probe: HealthProbe): Promise<HealthPart> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(probe),
      new Promise<HealthPart>((resolve) => (timer = setTimeout(() => resolve({ status: "down", error: `no answer within ${PROBE_TIMEOUT_MS} ms` }), PROBE_TIMEOUT_MS))),
    ]);
  } catch (error) {
    return { status: "down", error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export function databaseProbe(sql: Sql, kind: "embedded" | "external"): HealthProbe {
  return async () => {
    const started = performance.now();
    await sql`select 1`;
    return { status: "up", kind, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  };
}

/** Temporal's HTTP API: the namespace answers (the same call the dev server's start waits for). */
export function temporalProbe(config: Config, localDevServer: boolean): HealthProbe {
  return async () => {
    if (!config.temporalHttpUrl) return { status: "off", reason: "TEMPORAL_HTTP_URL is not set: runs are recorded, not dispatched" };
    const where = { url: config.temporalHttpUrl, namespace: config.temporalNamespace, localDevServer };
    try {
      const response = await fetch(`${config.temporalHttpUrl.replace(/\/+$/, "")}/api/v1/namespaces/${encodeURIComponent(config.temporalNamespace)}`, {
        headers: config.temporalApiKey ? { authorization: `Bearer ${config.temporalApiKey}` } : {},
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS - 200),
      });
      await response.body?.cancel();
      return response.ok ? { status: "up", ...where } : { status: "down", ...where, error: `HTTP ${response.status}` };
    } catch (error) {
      return { status: "down", ...where, error: error instanceof Error ? error.message : String(error) };
    }
  };
}
