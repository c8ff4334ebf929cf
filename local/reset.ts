/**
 * `npm run reset`: deletes DATA_DIR (default .data), everything `npm start` keeps: the
 * embedded database, Temporal's SQLite file, the lock. Refuses while a dev server uses it; a
 * Temporal dev server left running on its file by a crashed instance is stopped first. Refuses
 * a folder holding anything else than what the dev server keeps (DATA_DIR set to the wrong
 * folder), unless --force.
 *
 *   npm run reset              DATA_DIR=/tmp/et npm run reset
 */
import { existsSync } from "node:fs";
import { dataDirLayout, findProcesses, lockHolder, processAlive } from "./dev-server/data-dir.ts";
import { DEFAULT_DATA_DIR } from "./dev-server/settings.ts";

/** What a DATA_DIR may hold (the current layout, and the files of a PGlite folder of the old one). */
const KNOWN = /^(pglite|pglite-temporal\.db(-shm|-wal|-journal)?|temporal\.db(-shm|-wal|-journal)?|dev-server\.lock(\.\d+\.tmp)?|\.dev-server\.lock|PG_VERSION|base|global|pg_[a-z_]+|postgresql(\.auto)?\.conf|postmaster\.(opts|pid))$/;

export async function reset(dataDirSetting: string, force: boolean, print: (line: string) => void): Promise<number> {
  const layout = dataDirLayout(dataDirSetting);
  if (!existsSync(layout.root)) {
    print(`reset: ${layout.root} does not exist: nothing to delete`);
    return 0;
  }
  const holder = lockHolder(dataDirSetting);
  if (holder) {
    print(`reset: refused: ${layout.root} is in use by a dev server (pid ${holder.pid}${holder.url ? `, serving ${holder.url}` : ""}); stop it first`);
    return 1;
  }
  const unknown = [...Deno.readDirSync(layout.root)].map((entry) => entry.name).filter((name) => !KNOWN.test(name));
  if (unknown.length && !force) {
    print(`reset: refused: ${layout.root} holds files npm start does not keep (${unknown.slice(0, 5).join(", ")}${unknown.length > 5 ? ", ..." : ""}); is DATA_DIR right? (--force deletes anyway)`);
    return 1;
  }
  for (const { pid } of findProcesses(["start-dev", "--db-filename", layout.temporalDbFile])) {
    print(`reset: stopping the Temporal dev server (pid ${pid}) left running on ${layout.temporalDbFile}`);
    try {
      Deno.kill(pid, "SIGTERM");
    } catch { /* gone */ }
    const deadline = Date.now() + 10_000;
    while (processAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await Deno.remove(layout.root, { recursive: true });
  if (layout.legacyLayout && existsSync(layout.temporalDbFile)) await Deno.remove(layout.temporalDbFile);
  print(`reset: deleted ${layout.root}; the next npm start begins with a fresh database`);
  return 0;
}

if (import.meta.main) {
  const force = Deno.args.includes("--force");
  const dataDir = Deno.env.get("DATA_DIR")?.trim() || DEFAULT_DATA_DIR;
  Deno.exit(await reset(dataDir, force, (line) => console.log(line)));
}
