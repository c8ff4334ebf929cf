/**
 * Every setting of `npm start`, read and validated once, before anything starts: one
 * ConfigError names every problem (the dev server's own settings and the functions'
 * configuration, shared/config.ts, together). A typo never silently turns a part off: a
 * boolean is true/false/1/0/yes/no/on/off, numbers are checked against their range.
 */
import { ConfigError, type Config, type EnvSource, loadConfig } from "../../shared/config.ts";
import { LOCAL_JWT_SECRET } from "../mint-token.ts";

export const DEFAULT_PORT = 54321;
export const DEFAULT_DATA_DIR = ".data";

export interface DevSettings {
  port: number;
  host: string;
  /** DATA_DIR: everything the dev server keeps (the embedded database, Temporal's SQLite file, the lock). */
  dataDir: string;
  /** SUPABASE_DB_URL or DATABASE_URL; null: the embedded database in DATA_DIR. */
  externalDatabaseUrl: string | null;
  jwtSecret: string;
  jwtSecretIsDefault: boolean;
  seedDemo: boolean;
  /** Period of the pg_net stand-in's queue sweep (PG_NET_POLL_MS; 0: notifications only). */
  pgNetPollMs: number;
  /** Period of the timeout sweeper (SWEEP_INTERVAL_MS; 0: off). */
  sweepIntervalMs: number;
  /** How soon the sweeper compares a running execution with Temporal (SWEEP_RECHECK_SECONDS). */
  sweepRecheckSeconds: number;
  /** LOCAL_WEBHOOKS: point the database webhooks at this server. */
  localWebhooks: boolean;
  /** START_TEMPORAL: start a Temporal dev server when TEMPORAL_HTTP_URL is not set. */
  startTemporal: boolean;
  temporalUiUrl: string | null;
  stopOnStdinEof: boolean;
  /** The functions' configuration as validated now (the database URL a placeholder when embedded). */
  config: Config;
}

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

/** Validates every setting; `overrides` (plugins' settings, e.g. TEMPORAL_HTTP_URL) win over `env`. */
export function loadDevSettings(env: EnvSource, overrides: Record<string, string> = {}): DevSettings {
  const problems: string[] = [];
  const read = (name: string) => overrides[name]?.trim() || env(name)?.trim() || undefined;

  const integer = (name: string, fallback: number, min: number, max: number, what: string): number => {
    const text = read(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name} must be ${what}, got "${text}"`);
      return fallback;
    }
    return value;
  };
  const boolean = (name: string, fallback: boolean): boolean => {
    const text = read(name);
    if (text === undefined) return fallback;
    if (TRUE.test(text)) return true;
    if (FALSE.test(text)) return false;
    problems.push(`${name} must be true or false (also 1/0, yes/no, on/off), got "${text}"`);
    return fallback;
  };

  const port = integer("PORT", DEFAULT_PORT, 0, 65535, "a port number from 0 (any free port) to 65535");
  const host = read("HOST") ?? "127.0.0.1";
  if (/\s|\/|^:\d+$/.test(host)) problems.push(`HOST must be a host name or address to listen on, got "${host}"`);
  const dataDir = read("DATA_DIR") ?? DEFAULT_DATA_DIR;
  const externalDatabaseUrl = read("SUPABASE_DB_URL") ?? read("DATABASE_URL") ?? null;
  if (externalDatabaseUrl !== null && !/^postgres(ql)?:\/\//i.test(externalDatabaseUrl)) {
    problems.push(`${read("SUPABASE_DB_URL") ? "SUPABASE_DB_URL" : "DATABASE_URL"} must be a postgres:// or postgresql:// URL, got "${redact(externalDatabaseUrl)}"`);
  }
  const jwtSecret = read("SUPABASE_JWT_SECRET") ?? read("JWT_SECRET") ?? LOCAL_JWT_SECRET;
  const seedDemo = boolean("SEED_DEMO", true);
  const pgNetPollMs = integer("PG_NET_POLL_MS", 2000, 0, 3_600_000, "whole milliseconds from 0 (notifications only) to 3600000");
  const sweepIntervalText = read("SWEEP_INTERVAL_MS");
  let sweepIntervalMs = integer("SWEEP_INTERVAL_MS", 10_000, 0, 86_400_000, "whole milliseconds: 0 (off) or 100 to 86400000");
  if (sweepIntervalText !== undefined && sweepIntervalMs > 0 && sweepIntervalMs < 100) {
    problems.push(`SWEEP_INTERVAL_MS must be whole milliseconds: 0 (off) or 100 to 86400000, got "${sweepIntervalText}"`);
    sweepIntervalMs = 10_000;
  }
  const recheckText = read("SWEEP_RECHECK_SECONDS");
  let sweepRecheckSeconds = 5;
  if (recheckText !== undefined) {
    sweepRecheckSeconds = Number(recheckText);
    if (!/^\d+(\.\d+)?$/.test(recheckText) || sweepRecheckSeconds > 86_400) {
      problems.push(`SWEEP_RECHECK_SECONDS must be seconds from 0 to 86400, got "${recheckText}"`);
      sweepRecheckSeconds = 5;
    }
  }
  const localWebhooks = boolean("LOCAL_WEBHOOKS", true);
  const startTemporal = boolean("START_TEMPORAL", true);
  const stopOnStdinEof = boolean("STOP_ON_STDIN_EOF", false);
  const temporalUiUrl = read("TEMPORAL_UI_URL") ?? null;
  if (temporalUiUrl !== null && !/^https?:\/\//i.test(temporalUiUrl)) problems.push(`TEMPORAL_UI_URL is not an http(s) URL: "${temporalUiUrl}"`);

  // The functions' own settings, with the database this server will give them.
  let config: Config | undefined;
  try {
    config = loadConfig((name) =>
      ({
        SUPABASE_DB_URL: externalDatabaseUrl ?? "postgres://embedded",
        DATABASE_URL: externalDatabaseUrl ?? "postgres://embedded",
        SUPABASE_JWT_SECRET: jwtSecret,
        DB_POOL_SIZE: externalDatabaseUrl ? undefined : "1",
      })[name] ?? read(name)
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }

  if (problems.length) throw new ConfigError(problems);
  return {
    port,
    host,
    dataDir,
    externalDatabaseUrl,
    jwtSecret,
    jwtSecretIsDefault: jwtSecret === LOCAL_JWT_SECRET,
    seedDemo,
    pgNetPollMs,
    sweepIntervalMs,
    sweepRecheckSeconds,
    localWebhooks,
    startTemporal,
    temporalUiUrl,
    stopOnStdinEof,
    config: config!,
  };
}

/** A ConfigError as lines for the terminal: one problem a line. */
export function describeConfigError(error: ConfigError): string {
  const count = error.problems.length;
  return [`${count} setting${count === 1 ? " is" : "s are"} wrong:`, ...error.problems.map((problem) => `  - ${problem}`)].join("\n");
}

export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]+@/, ":****@");
  }
}
