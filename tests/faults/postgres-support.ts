/**
 * What the PostgreSQL fault tests (tests/faults/postgres-*.test.ts) share: `npm start` on a
 * database of their own, with its exit code watched; a create request with every wait
 * bounded; and the outcome tally the tests print and check.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { freePort, REPO_ROOT } from "../support/postgres.ts";
import { devServerEnv, startCommand } from "../support/dev-server.ts";
import { TEST_JWT_SECRET } from "../support/tokens.ts";

export interface ServerProcess {
  url: string;
  functionsUrl: string;
  /** undefined while it runs; the exit code (or null for a signal) once it has died. */
  exitCode(): number | null | undefined;
  output(): string;
  stop(): Promise<number | null>;
}

/** `npm start` (package.json's start script, local deno) with DATABASE_URL; resolves when /health answers 200. */
export async function startNpmStart(databaseUrl: string, settings: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const env = devServerEnv({
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    DB_POOL_SIZE: "8",
    SUPABASE_JWT_SECRET: TEST_JWT_SECRET,
    SEED_DEMO: "false",
    // No Temporal dev server, so nothing is kept in (or locks) the repository's DATA_DIR.
    START_TEMPORAL: "false",
    ...settings,
  });
  const [command, args] = startCommand();
  const child: ChildProcess = spawn(command, args, {
    cwd: REPO_ROOT,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 400_000) output = output.slice(-200_000);
    if (process.env.ET_TEST_VERBOSE) process.stderr.write(`[npm start] ${chunk}`);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve((exitCode = code))));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exitCode !== undefined) return exitCode;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const code = await exited;
    clearTimeout(timer);
    child.stdin!.end();
    return code;
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`npm start exited (${exitCode}) before it was ready:\n${output}`);
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`npm start was not ready in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, functionsUrl: `${url}/functions/v1`, exitCode: () => exitCode, output: () => output, stop };
}

export interface Outcome {
  /** HTTP status; 0 = no answer (connection refused or reset, or the bound below passed). */
  status: number;
  retryAfter: string | null;
  code: string | null;
  ms: number;
  error?: string;
}

/** One request with its wait bounded (a hang counts as no answer). */
export async function request(url: string, init: RequestInit, boundMs = 10_000): Promise<Outcome> {
  const started = performance.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(boundMs) });
    const text = await response.text();
    let code: string | null = null;
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
    } catch { /* not JSON */ }
    return { status: response.status, retryAfter: response.headers.get("retry-after"), code, ms: performance.now() - started };
  } catch (error) {
    return { status: 0, retryAfter: null, code: null, ms: performance.now() - started, error: String(error) };
  }
}

export const createRequest = (token: string, body: unknown): RequestInit => ({
  method: "POST",
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** A clean 503: code `unavailable` and a Retry-After of whole seconds >= 1. */
export const isClean503 = (o: Outcome) => o.status === 503 && o.code === "unavailable" && /^[1-9]\d*$/.test(o.retryAfter ?? "");

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
