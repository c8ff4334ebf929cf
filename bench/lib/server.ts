/**
 * The edge functions on real Deno (tests/support/functions-server.ts: every function through
 * local/functions-router.ts, real HS256 JWTs from tests/support/tokens.ts), plus what the
 * bench needs around it: the serving process's pid and RSS, and a small JSON HTTP client.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { type FunctionsServer, startFunctionsServer } from "../../tests/support/functions-server.ts";
import { serviceToken, userToken } from "../../tests/support/tokens.ts";

export interface BenchServer extends FunctionsServer {
  pid: number;
  poolSize: number;
  rssBytes(): number;
}

export async function startBenchServer(databaseUrl: string, poolSize: number): Promise<BenchServer> {
  // PgBouncer (transaction mode) in front, as Supavisor is on Supabase, with as many server
  // connections as the functions' pool: the tests' default of 2 would make the pooler, not the
  // server, the bottleneck at 8 and 32 clients.
  const server = await startFunctionsServer({ databaseUrl, poolerSize: poolSize, env: { DB_POOL_SIZE: String(poolSize) } });
  const port = new URL(server.url).port;
  const pid = listenerPid(port);
  return { ...server, pid, poolSize, rssBytes: () => rssOf(pid) };
}

/** The pid listening on 127.0.0.1:<port> (the Deno process serving the functions). */
function listenerPid(port: string): number {
  const out = spawnSync("ss", ["-Hltnp", `sport = :${port}`], { encoding: "utf8" }).stdout ?? "";
  const match = /pid=(\d+)/.exec(out);
  if (!match) throw new Error(`no process listens on port ${port}: ${out}`);
  return Number(match[1]);
}

export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

export { serviceToken, userToken };

/** fetch + JSON, failing on an unexpected status. */
export async function call(
  url: string,
  init: { method?: string; token: string; body?: unknown; expect?: number[] },
): Promise<unknown> {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      authorization: `Bearer ${init.token}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  if (!(init.expect ?? [200, 201]).includes(response.status)) {
    throw new Error(`${init.method ?? "GET"} ${url} -> ${response.status}: ${text.slice(0, 300)}`);
  }
  return text ? JSON.parse(text) : null;
}
