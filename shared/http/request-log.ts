/**
 * Structured logs of the HTTP frame: one JSON object per line on stdout, filtered by LOG_LEVEL
 * (error < warn < info < debug; shared/config.ts validates it). A request line is written when
 * its response is ready: `{"level","time","msg":"request","requestId","function","method",
 * "path","status","durationMs","role"}`; 5xx answers are logged at error, 4xx at warn, the
 * rest at info, so LOG_LEVEL=warn keeps only refused and failed requests. Request ids: a
 * caller's `x-request-id` is kept when it is a plausible id, otherwise a random UUID is made.
 */

export const logLevels = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof logLevels)[number];

export interface LogFields {
  msg: string;
  [field: string]: unknown;
}

export interface StructuredLogger {
  readonly level: LogLevel;
  enabled(level: LogLevel): boolean;
  write(level: LogLevel, fields: LogFields): void;
}

/** Writes JSON lines (default: `standardOutput`) for levels at or above `level`. */
export function createStructuredLogger(level: LogLevel, out: (line: string) => void = standardOutput()): StructuredLogger {
  const rank = logLevels.indexOf(level);
  return {
    level,
    enabled: (candidate) => logLevels.indexOf(candidate) <= rank,
    write(candidate, fields) {
      if (logLevels.indexOf(candidate) > rank) return;
      try {
        out(JSON.stringify({ level: candidate, time: new Date().toISOString(), ...fields }));
      } catch {
        // a log line never breaks a request
      }
    },
  };
}

type DenoStdout = { stdout?: { writeSync?(bytes: Uint8Array): number } };

/**
 * Where log lines go: on plain Deno (the dev server, the e2e and bench servers) one write of
 * the line to stdout, which costs about a third of the CPU of console.log (Deno formats every
 * console.log call: most of a request line's cost). Under Supabase's Edge Runtime, whose logs
 * are what it captures from the console, and on Node: console.log.
 */
export function standardOutput(): (line: string) => void {
  const deno = (globalThis as { Deno?: DenoStdout }).Deno;
  const writeSync = deno?.stdout?.writeSync?.bind(deno.stdout);
  if (!writeSync || "EdgeRuntime" in globalThis) return (line) => console.log(line);
  const encoder = new TextEncoder();
  return (line) => {
    const bytes = encoder.encode(line + "\n");
    for (let written = 0; written < bytes.length;) written += writeSync(bytes.subarray(written));
  };
}

/** The level of a request's line: 5xx error, 4xx warn, otherwise info. */
export function requestLogLevel(status: number): LogLevel {
  return status >= 500 ? "error" : status >= 400 ? "warn" : "info";
}

const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** The caller's request id when it is one (1-128 of A-Z a-z 0-9 . _ : -, starting alphanumeric), else a new UUID. */
export function requestIdOf(header: string | null | undefined): string {
  const given = header?.trim();
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

export const REQUEST_ID_HEADER = "x-request-id";

/** An error's message and stack for a log line (never sent to a client). */
export function errorFields(error: unknown): { error: string; stack?: string } {
  if (error instanceof Error) return { error: `${error.name}: ${error.message}`, ...(error.stack ? { stack: error.stack } : {}) };
  return { error: String(error) };
}
