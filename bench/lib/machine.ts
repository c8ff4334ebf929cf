/** The machine the bench ran on. */
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

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

/** The product code measured: HEAD, and whether shared/ or the migrations differ from it. */
export function codeVersion() {
  const git = (...args: string[]) => spawnSync("git", args, { encoding: "utf8", cwd: new URL("../../", import.meta.url).pathname }).stdout?.trim() ?? "";
  const dirty = git("status", "--porcelain", "--", "shared", "supabase/migrations", "supabase/functions", "local/functions-router.ts")
    .split("\n").filter(Boolean);
  return { commit: git("rev-parse", "--short", "HEAD"), subject: git("log", "-1", "--format=%s"), uncommittedProductFiles: dirty };
}
