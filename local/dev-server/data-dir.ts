/**
 * DATA_DIR: everything the dev server keeps, so deleting the folder (`npm run reset`) resets
 * the local state.
 *
 *   <DATA_DIR>/pglite/          the embedded database (PGlite); not used with DATABASE_URL
 *   <DATA_DIR>/temporal.db      the Temporal dev server's SQLite file
 *   <DATA_DIR>/dev-server.lock  JSON: the pid (and process start time) of the instance using it
 *
 * A folder that is itself a PGlite data folder (the layout before DATA_DIR held more than the
 * database) is used as the database folder, its Temporal file next to it as before.
 *
 * The lock is taken before anything starts. A lock whose process is alive refuses the start;
 * a lock left by a process that is gone (killed, crashed) is taken over, and what that process
 * recorded (its Temporal dev server) is handed to this start as `previous`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface LockRecord {
  pid: number;
  /** Linux: the process's start time in clock ticks since boot (/proc/<pid>/stat), against pid reuse. */
  processStart?: string;
  startedAt: string;
  url?: string;
  /** The Temporal dev server this instance started. */
  temporal?: { pid: number; grpcPort: number; httpPort: number; uiPort: number };
}

export interface DataDir {
  /** Absolute DATA_DIR. */
  root: string;
  databaseDir: string;
  temporalDbFile: string;
  lockFile: string;
  /** DATA_DIR is itself a PGlite data folder (the old layout). */
  legacyLayout: boolean;
  /** The lock of a process that is gone, taken over by this start. */
  previous: LockRecord | null;
  /** Adds facts to this instance's lock (e.g. its Temporal dev server). */
  record(fields: Partial<LockRecord>): void;
  /** Removes the lock (only if it is still ours). Idempotent. */
  release(): void;
}

export class DataDirInUseError extends Error {
  override readonly name = "DataDirInUseError";
  constructor(readonly dataDir: string, readonly holder: LockRecord) {
    super(
      `${dataDir} is in use by another dev server (pid ${holder.pid}, started ${holder.startedAt}${holder.url ? `, serving ${holder.url}` : ""}); ` +
        `stop it, or set DATA_DIR to another folder`,
    );
  }
}

/** Paths of a DATA_DIR (nothing is created). */
export function dataDirLayout(dataDir: string): Pick<DataDir, "root" | "databaseDir" | "temporalDbFile" | "lockFile" | "legacyLayout"> {
  const root = resolve(dataDir);
  const legacyLayout = existsSync(join(root, "PG_VERSION"));
  return {
    root,
    legacyLayout,
    databaseDir: legacyLayout ? root : join(root, "pglite"),
    temporalDbFile: legacyLayout ? `${root.replace(/\/+$/, "")}-temporal.db` : join(root, "temporal.db"),
    lockFile: join(root, "dev-server.lock"),
  };
}

/** The lock's holder when a live process holds it, else null (no lock, or a stale one). */
export function lockHolder(dataDir: string): LockRecord | null {
  const record = readLock(dataDirLayout(dataDir).lockFile);
  return record && record.pid !== Deno.pid && processAlive(record.pid, record.processStart) ? record : null;
}

/** Locks DATA_DIR for this process (creating the folder); throws DataDirInUseError when a live instance holds it. */
export function lockDataDir(dataDir: string, fields: Partial<LockRecord> = {}): DataDir {
  const layout = dataDirLayout(dataDir);
  Deno.mkdirSync(layout.root, { recursive: true });
  const mine: LockRecord = { pid: Deno.pid, processStart: processStartOf(Deno.pid), startedAt: new Date().toISOString(), ...fields };
  let previous: LockRecord | null = null;
  for (let attempt = 0;; attempt++) {
    // Created with its content in one step (a hard link of a written file fails when the lock
    // exists), so no reader ever sees an empty lock.
    const draft = `${layout.lockFile}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(draft, JSON.stringify(mine) + "\n");
    try {
      Deno.linkSync(draft, layout.lockFile);
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists) || attempt >= 3) throw error;
    } finally {
      Deno.removeSync(draft);
    }
    const holder = readLock(layout.lockFile);
    if (holder && holder.pid !== Deno.pid && processAlive(holder.pid, holder.processStart)) {
      throw new DataDirInUseError(layout.root, holder);
    }
    previous = holder ?? previous;
    try {
      Deno.removeSync(layout.lockFile); // stale: its process is gone
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  let released = false;
  return {
    ...layout,
    previous,
    record(more) {
      if (released) return;
      Object.assign(mine, more);
      // Atomically (a reader never sees a half-written lock and takes it for a stale one).
      const next = `${layout.lockFile}.${Deno.pid}.tmp`;
      Deno.writeTextFileSync(next, JSON.stringify(mine) + "\n");
      Deno.renameSync(next, layout.lockFile);
    },
    release() {
      if (released) return;
      released = true;
      if (readLock(layout.lockFile)?.pid === Deno.pid) {
        try {
          Deno.removeSync(layout.lockFile);
        } catch { /* gone already */ }
      }
    },
  };
}

function readLock(path: string): LockRecord | null {
  try {
    const record = JSON.parse(readFileSync(path, "utf8"));
    return typeof record?.pid === "number" ? record : { pid: -1, startedAt: "unknown" };
  } catch (error) {
    if (error instanceof Error && (error as { code?: string }).code === "ENOENT") return null;
    return { pid: -1, startedAt: "unknown" }; // unreadable or not JSON: treated as stale
  }
}

/** Linux: field 22 of /proc/<pid>/stat (start time); undefined elsewhere or when gone. */
export function processStartOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

/** True when `pid` runs (not a zombie) and, where known, is the same process as when recorded. */
export function processAlive(pid: number, recordedStart?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (existsSync("/proc/self/stat")) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z" || fields[0] === "X") return false;
      return recordedStart === undefined || fields[19] === recordedStart;
    } catch {
      return false;
    }
  }
  try {
    return new Deno.Command("kill", { args: ["-0", String(pid)], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** Linux: processes whose command line contains every one of `parts` (e.g. a Temporal dev server on our file). */
export function findProcesses(parts: string[]): { pid: number; args: string[] }[] {
  const found: { pid: number; args: string[] }[] = [];
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync("/proc");
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (pid === Deno.pid) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (parts.every((part) => args.includes(part)) && processAlive(pid)) found.push({ pid, args });
    } catch { /* gone meanwhile */ }
  }
  return found;
}

