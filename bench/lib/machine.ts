/** The machine the bench ran on. */
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import type { Sql } from "../../tests/support/postgres.ts";

export function machineInfo() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const nproc = spawnSync("nproc", [], { encoding: "utf8" }).stdout.trim();
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  return {
    nproc: Number(nproc),
    memoryGiB: Math.round(memKb / 1024 / 1024 * 10) / 10,
    cpuModel: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    /** 1/5/15-minute load average when the run started (other work on the machine skews results). */
    loadAverageAtStart: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
    deno: process.versions.deno ?? "?",
    v8: process.versions.v8,
  };
}

/**
 * Fixed work timed on this machine when a run starts (best of 3, ms), so runs on different
 * days or hosts compare: hosts of the same VM type have differed several-fold for the same work.
 * `postgres`: PostgreSQL summing 10M generated integers (one backend, no I/O); `v8`: 20M steps
 * of an integer hash in the bench process.
 */
export async function cpuProbe(admin: Sql): Promise<{ postgresMs: number; v8Ms: number }> {
  const best = async (work: () => unknown) => {
    let min = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await work();
      min = Math.min(min, performance.now() - t0);
    }
    return Math.round(min);
  };
  const postgresMs = await best(() => admin`select sum(g) from generate_series(1, 10000000) g`);
  const v8Ms = await best(() => {
    let h = 0;
    for (let i = 0; i < 20_000_000; i++) h = Math.imul(h ^ i, 0x9e3779b1) >>> 0;
    return h;
  });
  return { postgresMs, v8Ms };
}

/** The product code measured: HEAD, and whether shared/ or the migrations differ from it. */
export function codeVersion() {
  const git = (...args: string[]) => spawnSync("git", args, { encoding: "utf8", cwd: new URL("../../", import.meta.url).pathname }).stdout?.trim() ?? "";
  const dirty = git("status", "--porcelain", "--", "shared", "supabase/migrations", "supabase/functions", "local/functions-router.ts")
    .split("\n").filter(Boolean);
  return { commit: git("rev-parse", "--short", "HEAD"), subject: git("log", "-1", "--format=%s"), uncommittedProductFiles: dirty };
}
