import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../shared/config.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

function problems(vars: Record<string, string>): string[] {
  try {
    loadConfig(envOf(vars));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    for (const p of problems) expect(message).toContain(p);
    return problems;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("names every missing variable at once", () => {
    const found = problems({});
    expect(found).toHaveLength(2);
    expect(found.join("\n")).toMatch(/SUPABASE_DB_URL.*DATABASE_URL/);
    expect(found.join("\n")).toMatch(/SUPABASE_JWT_SECRET/);
    expect(found.join("\n")).toMatch(/SUPABASE_JWKS_URL/);
    expect(found.join("\n")).toMatch(/SUPABASE_URL/);
  });

  it("treats blank values as missing", () => {
    expect(problems({ DATABASE_URL: "  ", SUPABASE_JWT_SECRET: "" })).toHaveLength(2);
  });

  it("names every malformed variable at once", () => {
    const found = problems({
      DATABASE_URL: "postgres://x",
      SUPABASE_JWT_SECRET: "s",
      DB_POOL_SIZE: "0",
      SUPABASE_JWKS_URL: "not a url",
      TEMPORAL_HTTP_URL: "::",
      EXECUTION_RETENTION_DAYS: "1.5",
    });
    const text = found.join("\n");
    for (const name of ["DB_POOL_SIZE", "SUPABASE_JWKS_URL", "TEMPORAL_HTTP_URL", "EXECUTION_RETENTION_DAYS"]) expect(text).toContain(name);
    expect(found).toHaveLength(4);
    expect(problems({ DATABASE_URL: "x", JWT_SECRET: "s", DB_POOL_SIZE: "101" }).join()).toContain("DB_POOL_SIZE");
    expect(problems({ DATABASE_URL: "x", JWT_SECRET: "s", DB_POOL_SIZE: "ten" }).join()).toContain("DB_POOL_SIZE");
    expect(problems({ DATABASE_URL: "x", JWT_SECRET: "s", EXECUTION_RETENTION_DAYS: "0" }).join()).toContain("EXECUTION_RETENTION_DAYS");
    for (const grace of ["0", "86401", "2.5", "later"]) {
      expect(problems({ DATABASE_URL: "x", JWT_SECRET: "s", STOP_ESCALATE_AFTER_SECONDS: grace }).join()).toContain("STOP_ESCALATE_AFTER_SECONDS");
    }
    for (const budget of ["99", "390001", "1.5", "soon"]) {
      expect(problems({ DATABASE_URL: "x", JWT_SECRET: "s", SWEEP_BUDGET_MS: budget }).join()).toContain("SWEEP_BUDGET_MS");
    }
  });

  it("reads a minimal configuration with defaults", () => {
    expect(loadConfig(envOf({ DATABASE_URL: "postgres://db", SUPABASE_JWT_SECRET: "secret" }))).toEqual({
      databaseUrl: "postgres://db",
      databasePoolSize: 5,
      jwtSecret: "secret",
      jwksUrl: null,
      temporalHttpUrl: null,
      temporalNamespace: "default",
      temporalApiKey: null,
      webhookSecret: null,
      retentionDays: null,
      sweepBudgetMs: 25_000,
      stopEscalateAfterSeconds: 60,
      logLevel: "info",
      alertsLogRetentionDays: 30,
    });
  });

  it("prefers SUPABASE_DB_URL and SUPABASE_JWT_SECRET, and derives the JWKS URL from SUPABASE_URL", () => {
    const config = loadConfig(envOf({
      SUPABASE_DB_URL: "postgres://pooler",
      DATABASE_URL: "postgres://direct",
      SUPABASE_JWT_SECRET: "a",
      JWT_SECRET: "b",
      SUPABASE_URL: "https://ref.supabase.co/",
      DB_POOL_SIZE: "12",
      TEMPORAL_HTTP_URL: "http://temporal:7243",
      TEMPORAL_NAMESPACE: "ns",
      TEMPORAL_API_KEY: "k",
      WEBHOOK_SECRET: "w",
      EXECUTION_RETENTION_DAYS: "30",
      SWEEP_BUDGET_MS: "60000",
      STOP_ESCALATE_AFTER_SECONDS: "90",
      ALERTS_LOG_RETENTION_DAYS: "7",
    }));
    expect(config).toEqual({
      databaseUrl: "postgres://pooler",
      databasePoolSize: 12,
      jwtSecret: "a",
      jwksUrl: "https://ref.supabase.co/auth/v1/.well-known/jwks.json",
      temporalHttpUrl: "http://temporal:7243",
      temporalNamespace: "ns",
      temporalApiKey: "k",
      webhookSecret: "w",
      retentionDays: 30,
      sweepBudgetMs: 60_000,
      stopEscalateAfterSeconds: 90,
      logLevel: "info",
      alertsLogRetentionDays: 7,
    });
  });

  it("ALERTS_LOG_RETENTION_DAYS: 0 keeps the delivery log (null); anything but whole days is refused", () => {
    const base = { DATABASE_URL: "postgres://db", SUPABASE_JWT_SECRET: "secret" };
    expect(loadConfig(envOf({ ...base, ALERTS_LOG_RETENTION_DAYS: "0" })).alertsLogRetentionDays).toBeNull();
    for (const bad of ["-1", "1.5", "thirty", "36501"]) {
      expect(() => loadConfig(envOf({ ...base, ALERTS_LOG_RETENTION_DAYS: bad }))).toThrow(/ALERTS_LOG_RETENTION_DAYS must be a whole number of days/);
    }
  });

  it("accepts a JWKS URL alone (asymmetric signing keys, no HS256 secret)", () => {
    const config = loadConfig(envOf({ DATABASE_URL: "postgres://db", SUPABASE_JWKS_URL: "http://127.0.0.1:1/jwks.json" }));
    expect(config.jwtSecret).toBeNull();
    expect(config.jwksUrl).toBe("http://127.0.0.1:1/jwks.json");
  });
});
