/**
 * Configuration, read from the environment in one place and validated once. A missing or
 * malformed setting stops start-up with one message that names every problem.
 */
import { type LogLevel, logLevels } from "./http/request-log.ts";

export interface Config {
  /** Postgres URL (on Supabase: SUPABASE_DB_URL, the pooler). */
  databaseUrl: string;
  /** Max connections of this process's pool. */
  databasePoolSize: number;
  /** HS256 secret of the project's legacy JWTs (SUPABASE_JWT_SECRET or JWT_SECRET). */
  jwtSecret: string | null;
  /** JWKS of the project's asymmetric signing keys (SUPABASE_JWKS_URL, or derived from SUPABASE_URL). */
  jwksUrl: string | null;
  /** Temporal HTTP API base URL; null when the tracker does not dispatch to Temporal. */
  temporalHttpUrl: string | null;
  temporalNamespace: string;
  temporalApiKey: string | null;
  /** Shared secret of internal callers: database webhooks and pg_cron (header x-webhook-secret). */
  webhookSecret: string | null;
  /** The sweeper deletes terminal executions older than this many days; null keeps them. */
  retentionDays: number | null;
  /**
   * Wall-clock budget of one sweeper invocation in ms (SWEEP_BUDGET_MS, default 25,000): it
   * stops itself in time and the next one resumes. Edge Functions are stopped at 150 s (free)
   * or 400 s (paid) of wall clock, and at 2 s of CPU.
   */
  sweepBudgetMs: number;
  /**
   * A cancel that Temporal has not honoured this many seconds after accepting it (a workflow
   * that ignores cancellation) is escalated to terminate (STOP_ESCALATE_AFTER_SECONDS, default 60).
   */
  stopEscalateAfterSeconds: number;
  /** Structured logs kept (LOG_LEVEL: error, warn, info or debug; default info); see shared/http/request-log.ts. */
  logLevel: LogLevel;
  /**
   * Alert endpoints may be http and private/loopback addresses (ALERTS_ALLOW_PRIVATE_URLS=1;
   * `npm start` and the tests set it). Off (absent) by default: https to public addresses only (shared/alerts/url-policy.ts).
   */
  alertsAllowPrivateUrls?: true;
  /**
   * Delivered and dead alert deliveries older than this many days are deleted by the deliverer
   * (ALERTS_LOG_RETENTION_DAYS, default 30; 0 keeps the log for ever: null).
   */
  alertsLogRetentionDays: number | null;
}

/** Reads one variable; the environment source is injectable for tests and the dev server. */
export type EnvSource = (name: string) => string | undefined;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`execution-tracker is not configured: ${problems.join("; ")}`);
  }
}

/** The process environment on Deno or Node. */
export const processEnv: EnvSource = (name) => {
  const deno = (globalThis as { Deno?: { env: { get(n: string): string | undefined } } }).Deno;
  if (deno) return deno.env.get(name);
  return (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];
};

export function loadConfig(env: EnvSource = processEnv): Config {
  const problems: string[] = [];
  const read = (...names: string[]) => {
    for (const name of names) {
      const value = env(name)?.trim();
      if (value) return value;
    }
    return null;
  };

  const databaseUrl = read("SUPABASE_DB_URL", "DATABASE_URL");
  if (!databaseUrl) problems.push("SUPABASE_DB_URL (or DATABASE_URL) is not set");

  const poolText = read("DB_POOL_SIZE") ?? "5";
  const databasePoolSize = Number(poolText);
  if (!Number.isInteger(databasePoolSize) || databasePoolSize < 1 || databasePoolSize > 100) {
    problems.push(`DB_POOL_SIZE must be an integer from 1 to 100, got "${poolText}"`);
  }

  const jwtSecret = read("SUPABASE_JWT_SECRET", "JWT_SECRET");
  const supabaseUrl = read("SUPABASE_URL");
  const jwksUrl = read("SUPABASE_JWKS_URL") ??
    (supabaseUrl ? `${supabaseUrl.replace(/\/+$/, "")}/auth/v1/.well-known/jwks.json` : null);
  if (!jwtSecret && !jwksUrl) {
    problems.push("no way to verify tokens: set SUPABASE_JWT_SECRET (or JWT_SECRET), SUPABASE_JWKS_URL or SUPABASE_URL");
  }
  for (const [name, url] of [["SUPABASE_JWKS_URL", jwksUrl], ["TEMPORAL_HTTP_URL", read("TEMPORAL_HTTP_URL")]]) {
    if (url && !URL.canParse(url)) problems.push(`${name} is not a URL: "${url}"`);
  }

  const retentionText = read("EXECUTION_RETENTION_DAYS");
  const retentionDays = retentionText === null ? null : Number(retentionText);
  if (retentionDays !== null && (!Number.isInteger(retentionDays) || retentionDays < 1)) {
    problems.push(`EXECUTION_RETENTION_DAYS must be a whole number of days, got "${retentionText}"`);
  }

  const budgetText = read("SWEEP_BUDGET_MS") ?? "25000";
  const sweepBudgetMs = Number(budgetText);
  if (!Number.isInteger(sweepBudgetMs) || sweepBudgetMs < 100 || sweepBudgetMs > 390_000) {
    problems.push(`SWEEP_BUDGET_MS must be whole milliseconds from 100 to 390000 (under the Edge Runtime's 400 s wall clock), got "${budgetText}"`);
  }

  const escalateText = read("STOP_ESCALATE_AFTER_SECONDS") ?? "60";
  const stopEscalateAfterSeconds = Number(escalateText);
  if (!Number.isInteger(stopEscalateAfterSeconds) || stopEscalateAfterSeconds < 1 || stopEscalateAfterSeconds > 86_400) {
    problems.push(`STOP_ESCALATE_AFTER_SECONDS must be a whole number of seconds from 1 to 86400, got "${escalateText}"`);
  }

  const levelText = read("LOG_LEVEL")?.toLowerCase() ?? "info";
  const logLevel = logLevels.find((level) => level === levelText);
  if (!logLevel) problems.push(`LOG_LEVEL must be one of ${logLevels.join(", ")}, got "${read("LOG_LEVEL")}"`);

  const allowPrivateText = read("ALERTS_ALLOW_PRIVATE_URLS")?.toLowerCase() ?? "0";
  if (!["0", "1", "true", "false"].includes(allowPrivateText)) {
    problems.push(`ALERTS_ALLOW_PRIVATE_URLS must be 1 or 0, got "${read("ALERTS_ALLOW_PRIVATE_URLS")}"`);
  }

  const logRetentionText = read("ALERTS_LOG_RETENTION_DAYS") ?? "30";
  const logRetentionDays = Number(logRetentionText);
  if (!Number.isInteger(logRetentionDays) || logRetentionDays < 0 || logRetentionDays > 36_500) {
    problems.push(`ALERTS_LOG_RETENTION_DAYS must be a whole number of days (0 keeps the log), got "${logRetentionText}"`);
  }

  if (problems.length) throw new ConfigError(problems);
  return {
    databaseUrl: databaseUrl!,
    databasePoolSize,
    jwtSecret,
    jwksUrl,
    temporalHttpUrl: read("TEMPORAL_HTTP_URL"),
    temporalNamespace: read("TEMPORAL_NAMESPACE") ?? "default",
    temporalApiKey: read("TEMPORAL_API_KEY"),
    webhookSecret: read("WEBHOOK_SECRET"),
    retentionDays,
    sweepBudgetMs,
    stopEscalateAfterSeconds,
    logLevel: logLevel!,
    ...(allowPrivateText === "1" || allowPrivateText === "true" ? { alertsAllowPrivateUrls: true as const } : {}),
    alertsLogRetentionDays: logRetentionDays === 0 ? null : logRetentionDays,
  };
}
