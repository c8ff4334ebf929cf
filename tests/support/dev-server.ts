/**
 * `npm start` as a child process for tests (Node): the real command of package.json on Deno,
 * on a free port, with the caller's settings; resolves once /health answers 200 and the
 * banner is printed. STOP_ON_STDIN_EOF makes the server exit if this process dies.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { freePort, REPO_ROOT } from "./postgres.ts";

// ---------------------------------------------------------------------------------------------

export interface DevServerProcess {
  url: string;
  pid: number;
  output(): string;
  /** Non-200 statuses /health answered before it turned 200. */
  healthBeforeReady: number[];
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** Sends `signal` (e.g. SIGKILL: a crash) and waits for the exit; resolves to the exit code. */
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** Variables of this process that must not leak into the server's configuration. */
const configVariables = [
  "SUPABASE_DB_URL", "DATABASE_URL", "DB_POOL_SIZE", "SUPABASE_JWT_SECRET", "JWT_SECRET", "SUPABASE_JWKS_URL",
  "SUPABASE_URL", "TEMPORAL_HTTP_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "WEBHOOK_SECRET",
  "EXECUTION_RETENTION_DAYS", "PORT", "HOST", "DATA_DIR", "SEED_DEMO", "PG_NET_POLL_MS", "NODE_OPTIONS",
  "START_TEMPORAL", "LOCAL_WEBHOOKS", "SWEEP_INTERVAL_MS", "SWEEP_RECHECK_SECONDS", "SWEEP_BUDGET_MS",
  "STOP_ESCALATE_AFTER_SECONDS", "LOG_LEVEL", "TEMPORAL_UI_URL", "STOP_ON_STDIN_EOF",
];
const configPrefixes = ["SUPABASE_", "TEMPORAL_", "SWEEP_"];

/**
 * The environment `npm start` gets in a test: this process's, without any of the server's own
 * settings (so nothing of the developer's shell leaks in), plus the quiet defaults and `settings`.
 */
export function devServerEnv(settings: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    const isSetting = configVariables.includes(key) || configPrefixes.some((prefix) => key.startsWith(prefix));
    if (value !== undefined && !isSetting) env[key] = value;
  }
  return { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", STOP_ON_STDIN_EOF: "1", ...settings };
}

/** package.json's "start" script with the local deno binary, as `npm start` runs it. */
export function startCommand(): [string, string[]] {
  const script: string = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).scripts.start;
  const [program, ...args] = script.split(/\s+/);
  if (program !== "deno") throw new Error(`package.json's start script runs ${program}, not deno`);
  return [join(REPO_ROOT, "node_modules", ".bin", "deno"), args];
}

export async function startDevServer(settings: Record<string, string>, timeoutMs = 90_000): Promise<DevServerProcess> {
  const port = await freePort();
  const env = devServerEnv({ PORT: String(port), ...settings });
  const [command, args] = startCommand();
  const child: ChildProcess = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (process.env.ET_TEST_VERBOSE) process.stderr.write(`[dev-server] ${chunk}`);
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

  const kill = async (signal: NodeJS.Signals) => {
    if (exitCode !== undefined) return exitCode;
    child.kill(signal);
    const code = await exited;
    child.stdin!.end();
    return code;
  };

  const healthBeforeReady: number[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`the dev server exited (${exitCode}) before it was ready:\n${output}`);
    let health: { status?: string } | undefined;
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) health = await response.json();
      else healthBeforeReady.push(response.status);
    } catch { /* not listening yet */ }
    if (health) {
      // 200: serving; "degraded" when a part that should run (a configured Temporal) is down.
      expect(["ok", "degraded"]).toContain(health.status);
      break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the dev server did not become ready in ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The banner is printed right after /health turns 200.
  while (!output.includes("Ctrl+C stops the server.") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return { url, pid: child.pid!, output: () => output, healthBeforeReady, stop, kill };
}
