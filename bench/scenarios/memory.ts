/**
 * RSS of the Deno process serving the functions over 100,000 requests (8 clients): a mix of
 * list first pages, stats, creates, updates and gets for the 32 heaviest users, sampled
 * every 5,000 requests from /proc/<pid>/status.
 */
import type { BenchContext } from "../lib/context.ts";
import { log, round3 } from "../lib/measure.ts";
import { call } from "../lib/server.ts";
import { rssFlatness } from "../lib/targets.ts";

export interface MemoryResult {
  requests: number;
  clients: number;
  samples: { requests: number; rssMiB: number }[];
  startMiB: number;
  endMiB: number;
  maxMiB: number;
  /** Least-squares slope over the second half, MiB per 10,000 requests. */
  slopeMiBPer10k: number;
  flat: boolean;
  /** Lowest and highest sample over the second half of the requests. */
  secondHalfMiB: { min: number; max: number };
  wallMs: number;
  mix: string;
}

export async function runMemory(ctx: BenchContext, options: { requests?: number } = {}): Promise<MemoryResult> {
  const requests = options.requests ?? 100_000;
  const clients = 8;
  const every = Math.max(1, Math.round(requests / 20));
  const base = ctx.server.functionsUrl;
  const users = Array.from({ length: 32 }, (_, i) => ctx.userId(i + 1));
  const tokens = await Promise.all(users.map((u) => ctx.token(u)));
  const runId = Date.now().toString(36);
  const mib = (bytes: number) => round3(bytes / 1024 / 1024);
  const samples: MemoryResult["samples"] = [{ requests: 0, rssMiB: mib(ctx.server.rssBytes()) }];
  const lastCreated: (string | null)[] = Array(users.length).fill(null);

  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      const u = i % users.length;
      const token = tokens[u];
      switch (i % 10) {
        case 0: case 1: case 2:
          await call(`${base}/executions-list?limit=20`, { token });
          break;
        case 3: case 4:
          await call(`${base}/executions-stats`, { token });
          break;
        case 5: case 6: {
          const twid = `mem-${runId}-${i}`;
          await call(`${base}/executions-create`, { token, body: { workflowId: ctx.workflowsOf(u + 1)[i % 10], temporalWorkflowId: twid, input: { i } }, expect: [201] });
          lastCreated[u] = twid;
          break;
        }
        case 7: {
          const twid = lastCreated[u];
          if (twid) {
            lastCreated[u] = null;
            await call(`${base}/executions-update`, { token, body: { temporalWorkflowId: twid, status: "completed", output: { ok: true }, durationMs: 5 }, expect: [200] });
          } else {
            await call(`${base}/executions-list?limit=5&status=running`, { token });
          }
          break;
        }
        default:
          await call(`${base}/executions-list?limit=1`, { token });
      }
      done++;
      if (done % every === 0) samples.push({ requests: done, rssMiB: mib(ctx.server.rssBytes()) });
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const wallMs = performance.now() - t0;
  if (samples[samples.length - 1].requests !== done) samples.push({ requests: done, rssMiB: mib(ctx.server.rssBytes()) });

  // Start = after the first interval (the process has warmed up: JIT, pool, caches).
  const warm = samples.slice(1);
  const half = warm.slice(Math.floor(warm.length / 2));
  const slope = leastSquaresSlope(half.map((s) => s.requests), half.map((s) => s.rssMiB)) * 10_000;
  const result: MemoryResult = {
    requests: done,
    clients,
    samples,
    startMiB: warm[0].rssMiB,
    endMiB: warm[warm.length - 1].rssMiB,
    maxMiB: Math.max(...samples.map((s) => s.rssMiB)),
    slopeMiBPer10k: round3(slope),
    flat: rssFlatness(samples).flat,
    secondHalfMiB: { min: Math.min(...half.map((x) => x.rssMiB)), max: Math.max(...half.map((x) => x.rssMiB)) },
    wallMs: Math.round(wallMs),
    mix: "30% list (20 rows), 20% stats, 20% create, 10% update (else list running), 20% list (1 row); 32 users",
  };
  log(`memory: RSS ${samples[0].rssMiB} MiB at start, ${result.startMiB} after ${warm[0].requests} requests, ${result.endMiB} at ${done}, max ${result.maxMiB}; ` +
    `slope ${result.slopeMiBPer10k} MiB/10k requests; ${Math.round(done / wallMs * 1000)} req/s`);
  return result;
}

function leastSquaresSlope(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 2) return 0;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (x[i] - mx) * (y[i] - my);
    den += (x[i] - mx) ** 2;
  }
  return den ? num / den : 0;
}
