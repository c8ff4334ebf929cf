/** pgbench with a custom script: per-transaction latencies from its log, throughput from its report. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Measurement, summarize, log, formatMeasurement } from "./measure.ts";
import { cpuSnapshot, cpuUse } from "./cpu.ts";

const PG_BIN = process.env["PG_BIN"] ?? "/usr/lib/postgresql/15/bin";

export interface PgbenchRun {
  script: string;
  clients: number;
  transactionsPerClient: number;
  variables: Record<string, string | number>;
}

export function pgbenchCommand(url: string, run: PgbenchRun, logPrefix?: string): string[] {
  return [
    join(PG_BIN, "pgbench"), "-n", "-M", "extended", "-c", String(run.clients), "-j", String(Math.min(run.clients, 2)),
    "-t", String(run.transactionsPerClient), "-f", run.script,
    ...Object.entries(run.variables).flatMap(([k, v]) => ["-D", `${k}=${v}`]),
    ...(logPrefix ? ["-l", `--log-prefix=${logPrefix}`] : []),
    url,
  ];
}

/** Runs pgbench once; with `record`, reads every transaction's latency. */
export function pgbench(name: string, url: string, run: PgbenchRun, warmup: PgbenchRun | null): Measurement {
  if (warmup) exec(pgbenchCommand(url, warmup));
  const dir = mkdtempSync(join(tmpdir(), "bench-pgbench-"));
  try {
    const before = cpuSnapshot(process.pid);
    const out = exec(pgbenchCommand(url, run, join(dir, "tx")), dir);
    const cpu = cpuUse(before, cpuSnapshot(process.pid), run.clients * run.transactionsPerClient);
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
    const latencies: number[] = [];
    for (const file of readdirSync(dir)) {
      for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
        const fields = line.trim().split(/\s+/);
        if (fields.length >= 3) latencies.push(Number(fields[2]) / 1000);
      }
    }
    const wallMs = latencies.length / tps * 1000;
    const m = summarize(name, latencies, {
      concurrency: run.clients,
      warmup: warmup ? warmup.clients * warmup.transactionsPerClient : 0,
      errors: failed,
      throughput: tps,
      wallMs,
      // pgbench's own CPU (the client) and the functions server are not part of this run.
      cpu: { ...cpu, serverMsPerOp: NaN, benchMsPerOp: NaN },
    });
    log(formatMeasurement(m));
    return m;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function exec(command: string[], cwd?: string): string {
  const result = spawnSync(command[0], command.slice(1), { encoding: "utf8", cwd, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command.join(" ")} failed: ${result.stderr}\n${result.stdout}`);
  return result.stdout + result.stderr;
}
