/**
 * Latency measurement: a warm-up that is not recorded, then `runs` timed calls spread over
 * `concurrency` workers (each a loop of sequential calls), and nearest-rank percentiles.
 */

import { cpuSnapshot, type CpuUse, cpuUse } from "./cpu.ts";

export interface Measurement {
  name: string;
  concurrency: number;
  warmup: number;
  runs: number;
  errors: number;
  /** Milliseconds, nearest rank. */
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
  /** Completed calls per second of wall time (measured phase only). */
  throughput: number;
  wallMs: number;
  /** Free-form facts about what was measured (rows returned, depth, ...). */
  note?: string;
  /** CPU per operation during the measured phase (when requested). */
  cpu?: CpuUse;
}

export interface MeasureOptions {
  concurrency?: number;
  warmup?: number;
  runs?: number;
  /** Fewer runs when each call is slow: at most about this much wall time for the measured phase. */
  budgetMs?: number;
  /** Never fewer runs than this (default 3). */
  minRuns?: number;
  note?: string;
  /** Pid of the functions server: account CPU per operation (server, postgres, bench, machine). */
  cpuOf?: number;
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1];
}

export function summarize(name: string, latencies: number[], extra: Omit<Measurement, "name" | "p50" | "p95" | "p99" | "mean" | "min" | "max" | "runs">): Measurement {
  const sorted = Float64Array.from(latencies).sort();
  const sum = latencies.reduce((a, b) => a + b, 0);
  return {
    name,
    runs: latencies.length,
    p50: round3(percentile(sorted, 0.5)),
    p95: round3(percentile(sorted, 0.95)),
    p99: round3(percentile(sorted, 0.99)),
    mean: round3(sum / Math.max(1, latencies.length)),
    min: round3(sorted[0] ?? NaN),
    max: round3(sorted[sorted.length - 1] ?? NaN),
    ...extra,
    throughput: round3(extra.throughput),
    wallMs: round3(extra.wallMs),
  };
}

export const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Runs `call(i, worker)` `warmup` times (not recorded) then `runs` times, `concurrency` at a
 * time. `i` counts calls across both phases (0-based), `worker` is the worker's index.
 * A call that throws counts as an error; the first error is rethrown at the end unless
 * `tolerateErrors`.
 */
export async function measure(
  name: string,
  call: (i: number, worker: number) => Promise<unknown>,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const concurrency = options.concurrency ?? 1;
  const warmup = options.warmup ?? 20;
  let runs = options.runs ?? 200;
  let next = 0;
  let errors = 0;
  let firstError: unknown = null;

  const phase = async (count: number, record: number[] | null) => {
    const end = next + count;
    const worker = async (w: number) => {
      while (next < end) {
        const i = next++;
        const t0 = performance.now();
        try {
          await call(i, w);
          record?.push(performance.now() - t0);
        } catch (error) {
          errors++;
          firstError ??= error;
        }
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, (_, w) => worker(w)));
    return performance.now() - t0;
  };

  const warmupMs = warmup > 0 ? await phase(warmup, null) : 0;
  if (options.budgetMs && warmup > 0) {
    const perCall = warmupMs / warmup * concurrency;
    runs = Math.max(options.minRuns ?? 3, Math.min(runs, Math.floor(options.budgetMs / Math.max(perCall, 0.001) * concurrency)));
  }
  const latencies: number[] = [];
  const cpuBefore = options.cpuOf ? cpuSnapshot(options.cpuOf) : null;
  const wallMs = await phase(runs, latencies);
  const cpu = cpuBefore ? cpuUse(cpuBefore, cpuSnapshot(options.cpuOf!), runs) : undefined;
  if (firstError) {
    throw new Error(`${name}: ${errors} of ${warmup + runs} calls failed; first: ${describe(firstError)}`);
  }
  const m = summarize(name, latencies, { concurrency, warmup, errors, throughput: (latencies.length / wallMs) * 1000, wallMs, note: options.note, cpu });
  log(formatMeasurement(m));
  return m;
}

export function formatMeasurement(m: Measurement): string {
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const cpu = m.cpu ? `  cpu/op: server ${f(m.cpu.serverMsPerOp)} pg ${f(m.cpu.postgresMsPerOp)} client ${f(m.cpu.benchMsPerOp)} ms, machine ${Math.round(m.cpu.machineBusy * 100)}% busy` : "";
  return `${m.name.padEnd(58)} c=${String(m.concurrency).padStart(2)} n=${String(m.runs).padStart(6)}  p50 ${f(m.p50).padStart(7)} ms  p95 ${f(m.p95).padStart(7)}  p99 ${f(m.p99).padStart(7)}  ${f(m.throughput).padStart(8)}/s${cpu}`;
}

export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function log(message: string) {
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** Times one async call; returns [result, milliseconds]. */
export async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const result = await work();
  return [result, performance.now() - t0];
}
