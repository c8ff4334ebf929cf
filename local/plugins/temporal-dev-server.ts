/**
 * `npm start` plugin: a local Temporal dev server (the Temporal CLI's `server start-dev`, in a
 * SQLite file next to the embedded database) when the CLI is installed and no Temporal is
 * configured. Without the CLI the tracker still serves everything; dispatch then leaves
 * executions pending with a message until Temporal is reachable.
 */
import type { DevServerPlugin } from "../dev-server-plugins.ts";

/** Where scripts/install-temporal.sh puts the CLI. */
export function temporalCliPath(env: (name: string) => string | undefined): string {
  const cache = env("ET_CACHE_DIR") || `${env("HOME") ?? "."}/.cache/execution-tracker`;
  return `${cache}/bin/temporal`;
}

async function portIsFree(port: number): Promise<boolean> {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

async function freePort(preferred: number): Promise<number> {
  if (await portIsFree(preferred)) return preferred;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function waitForHttpApi(url: string, child: Deno.ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.status.then(() => (exited = true));
  while (Date.now() < deadline && !exited) {
    try {
      const response = await fetch(`${url}/api/v1/namespaces/default`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(exited ? "temporal server start-dev exited" : `Temporal's HTTP API did not answer within ${timeoutMs} ms`);
}

export const temporalDevServerPlugin: DevServerPlugin = {
  name: "temporal-dev-server",
  async configure(env) {
    if (env("TEMPORAL_HTTP_URL")) return; // an existing Temporal is configured
    if (/^(0|false|no|off)$/i.test(env("START_TEMPORAL") ?? "true")) return;
    const cli = temporalCliPath(env);
    try {
      await Deno.stat(cli);
    } catch {
      return { banner: [`Temporal    no local dev server: the Temporal CLI is not installed (bash scripts/install-temporal.sh)`] };
    }
    const grpcPort = await freePort(7233);
    const httpPort = await freePort(7243);
    const uiPort = await freePort(8233);
    const dataDir = env("DATA_DIR") ?? ".data/pglite";
    const dbFile = `${dataDir.replace(/\/+$/, "")}-temporal.db`;
    await Deno.mkdir(dbFile.replace(/\/[^/]*$/, "") || ".", { recursive: true });
    const child = new Deno.Command(cli, {
      args: [
        "server", "start-dev", "--ip", "127.0.0.1", "--port", String(grpcPort), "--http-port", String(httpPort),
        "--ui-port", String(uiPort), "--db-filename", dbFile, "--log-level", "error",
        "--disable-config-file", "--disable-config-env",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    const httpUrl = `http://127.0.0.1:${httpPort}`;
    try {
      await waitForHttpApi(httpUrl, child, 60_000);
    } catch (error) {
      try { child.kill("SIGTERM"); } catch { /* already gone */ }
      return { banner: [`Temporal CLI dev server failed to start (${(error as Error).message}); runs stay pending until Temporal is reachable`] };
    }
    return {
      env: { TEMPORAL_HTTP_URL: httpUrl, TEMPORAL_ADDRESS: `127.0.0.1:${grpcPort}`, TEMPORAL_NAMESPACE: "default" },
      banner: [
        `Temporal    dev server: gRPC 127.0.0.1:${grpcPort}, HTTP API ${httpUrl}, UI http://127.0.0.1:${uiPort}`,
        `            run workflows of demo-dispatched with: TEMPORAL_ADDRESS=127.0.0.1:${grpcPort} npm run demo-worker`,
      ],
      stop: async () => {
        try { child.kill("SIGTERM"); } catch { /* already gone */ }
        await child.status;
      },
    };
  },
};
