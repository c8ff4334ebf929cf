/**
 * CPU accounting from /proc: the functions server process, every `postgres` process (the
 * server's backends and helpers), this bench process (the load generator), and the machine.
 */
import { readdirSync, readFileSync } from "node:fs";

const ticksPerSecond = 100; // USER_HZ on Linux

export interface CpuSnapshot {
  at: number;
  serverMs: number;
  postgresMs: number;
  benchMs: number;
  machineBusyMs: number;
  machineTotalMs: number;
}

export interface CpuUse {
  /** CPU milliseconds per operation. */
  serverMsPerOp: number;
  postgresMsPerOp: number;
  benchMsPerOp: number;
  /** Share of all cores busy during the interval (0..1). */
  machineBusy: number;
}

function processMs(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 (1-based) of the whole line: 11 and 12 after the comm.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond * 1000;
  } catch {
    return 0;
  }
}

let postmasterPid: number | null = null;

/** The bench's PostgreSQL server (its postmaster); without it, PostgreSQL CPU is not measured. */
export function setPostmasterPid(pid: number | null) {
  postmasterPid = pid;
}

function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/**
 * CPU of the server: the postmaster, its live children, and (cutime + cstime) the children it
 * has already reaped, so backends that exit during the interval still count.
 */
function postgresMs(): number {
  if (postmasterPid === null) return NaN;
  const own = statFields(postmasterPid);
  if (!own) return NaN;
  // After the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    if (fields && Number(fields[1]) === postmasterPid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / ticksPerSecond * 1000;
}

function machineMs(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] ?? 0);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / ticksPerSecond * 1000, total: total / ticksPerSecond * 1000 };
}

export function cpuSnapshot(serverPid: number): CpuSnapshot {
  const m = machineMs();
  return { at: performance.now(), serverMs: processMs(serverPid), postgresMs: postgresMs(), benchMs: processMs(process.pid), machineBusyMs: m.busy, machineTotalMs: m.total };
}

export function cpuUse(before: CpuSnapshot, after: CpuSnapshot, ops: number): CpuUse {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    serverMsPerOp: r((after.serverMs - before.serverMs) / ops),
    postgresMsPerOp: r((after.postgresMs - before.postgresMs) / ops),
    benchMsPerOp: r((after.benchMs - before.benchMs) / ops),
    machineBusy: r((after.machineBusyMs - before.machineBusyMs) / Math.max(1, after.machineTotalMs - before.machineTotalMs)),
  };
}
