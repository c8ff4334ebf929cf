/**
 * The per-process runtime of the functions: configuration, the database pool, the token
 * verifier and the Temporal gateway, built once and shared by every request (an Edge
 * Function isolate serves many requests).
 */
import { type Config, loadConfig } from "../config.ts";
import { createDatabase, type Sql } from "../db.ts";
import { createCallerVerifier, type VerifyCaller } from "../identity.ts";
import type { TemporalGateway } from "../temporal/gateway.ts";
import { createHttpTemporalGateway } from "../temporal/http-gateway.ts";

export type Logger = (message: string, error?: unknown) => void;

export interface Runtime {
  config: Config;
  sql: Sql;
  verifyCaller: VerifyCaller;
  /** Null when TEMPORAL_HTTP_URL is not set: runs are only recorded, never dispatched. */
  temporal: TemporalGateway | null;
  log: Logger;
}

const defaultLog: Logger = (message, error) => {
  console.error(`[execution-tracker] ${message}`, error instanceof Error ? error.message : error ?? "");
};

/** Builds a runtime; parts can be replaced (tests, the dev server, a Node deployment with the SDK gateway). */
export function createRuntime(config: Config, parts: Partial<Omit<Runtime, "config">> = {}): Runtime {
  return {
    config,
    sql: parts.sql ?? createDatabase({ url: config.databaseUrl, poolSize: config.databasePoolSize }),
    verifyCaller: parts.verifyCaller ?? createCallerVerifier(config),
    temporal: parts.temporal !== undefined
      ? parts.temporal
      : config.temporalHttpUrl
      ? createHttpTemporalGateway({ baseUrl: config.temporalHttpUrl, namespace: config.temporalNamespace, apiKey: config.temporalApiKey ?? undefined })
      : null,
    log: parts.log ?? defaultLog,
  };
}

let processRuntime: Runtime | undefined;

/** The runtime of this process, from its environment (validated on first use). */
export function runtimeFromEnv(): Runtime {
  processRuntime ??= createRuntime(loadConfig());
  return processRuntime;
}
