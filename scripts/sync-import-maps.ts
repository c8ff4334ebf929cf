/**
 * The per-function import maps (`supabase/functions/<name>/deno.json`), written from two
 * sources of truth: the versions pinned in package.json and the import graph of each
 * function's entry point (through shared/). The Supabase CLI uploads that deno.json with the
 * function (`functions deploy` takes the deno.json beside the entry point as the function's
 * import map), so the platform resolves the bare imports of the uploaded code with it.
 *
 *   npx deno run --allow-read --allow-write --allow-env scripts/sync-import-maps.ts          # write the maps
 *   npx deno run --allow-read --allow-env scripts/sync-import-maps.ts --check                # exit 1 when out of sync
 *
 * tests/unit/dependency-versions.test.ts runs the same functions and fails when a map, the
 * root deno.json and package.json disagree. A map holds only `imports` (no `nodeModulesDir`:
 * the platform has no node_modules; npm packages come from the registry).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const FUNCTIONS_DIR = join(REPO_ROOT, "supabase", "functions");

/**
 * The functions on disk, as `supabase functions deploy` finds them: every folder of
 * supabase/functions with an index.ts, except `_shared`-style folders (a leading `_` or `.`,
 * which are not valid function slugs).
 */
export function functionNames(root = REPO_ROOT): string[] {
  const dir = join(root, "supabase", "functions");
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !/^[_.]/.test(entry.name))
    .map((entry) => entry.name)
    .filter((name) => existsSync(join(dir, name, "index.ts")))
    .sort();
}

/** Folders of supabase/functions that look like functions but have no index.ts (the CLI skips them silently). */
export function foldersWithoutEntryPoint(root = REPO_ROOT): string[] {
  const dir = join(root, "supabase", "functions");
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !/^[_.]/.test(entry.name) && !existsSync(join(dir, entry.name, "index.ts")))
    .map((entry) => entry.name);
}

export interface ImportGraph {
  /** Local files reached from the entry point (absolute paths), entry point first. */
  files: string[];
  /** Bare specifiers by the package they name: "hono" -> ["hono", "hono/cors", ...]. */
  packages: Map<string, Set<string>>;
  /** Specifiers that bypass the import map (npm:, jsr:, http(s):): versions must come from the map. */
  inline: { file: string; specifier: string }[];
}

/** The package a bare specifier names: `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * Every import, export-from and literal dynamic import (type-only ones included: Deno resolves
 * them to type-check), read with the TypeScript scanner so comments and strings never count.
 */
export function importGraph(entryPoint: string): ImportGraph {
  const files: string[] = [];
  const packages = new Map<string, Set<string>>();
  const inline: ImportGraph["inline"] = [];
  const pending = [resolve(entryPoint)];
  const seen = new Set<string>();
  while (pending.length) {
    const file = pending.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    files.push(file);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    for (const { fileName: specifier } of importedFiles) {
      if (specifier.startsWith("./") || specifier.startsWith("../")) {
        pending.push(resolve(dirname(file), specifier));
      } else if (specifier.startsWith("node:")) {
        // Node built-ins: provided by the runtime, nothing to map.
      } else if (/^[a-z][a-z0-9+.-]*:/i.test(specifier) || specifier.startsWith("/")) {
        inline.push({ file: relative(REPO_ROOT, file), specifier });
      } else {
        const name = packageOf(specifier);
        if (!packages.has(name)) packages.set(name, new Set());
        packages.get(name)!.add(specifier);
      }
    }
  }
  return { files, packages, inline };
}

export interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

export function readPackageJson(root = REPO_ROOT): PackageJson {
  return JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
}

/** An exact version (what a map can pin): 1.2.3 or 1.2.3-pre.1, no range. */
export const exactVersion = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

export type ImportMap = Record<string, string>;

/**
 * The import map a function needs: for each package its graph imports, `name` ->
 * `npm:name@<package.json version>`, plus `name/` -> `npm:/name@<version>/` when it imports a
 * subpath (hono/cors). Keys sorted. Throws when a package is not a pinned dependency.
 */
export function expectedImportMap(graph: ImportGraph, pkg: PackageJson = readPackageJson()): ImportMap {
  const imports: ImportMap = {};
  for (const name of [...graph.packages.keys()].sort()) {
    const version = pkg.dependencies?.[name];
    if (version === undefined) {
      throw new Error(`${name} is imported by a function but is not in package.json "dependencies"`);
    }
    if (!exactVersion.test(version)) {
      throw new Error(`package.json pins ${name} to "${version}": a function's map needs an exact version`);
    }
    imports[name] = `npm:${name}@${version}`;
    if ([...graph.packages.get(name)!].some((specifier) => specifier !== name)) {
      imports[`${name}/`] = `npm:/${name}@${version}/`;
    }
  }
  return imports;
}

export function functionImportMapPath(name: string, root = REPO_ROOT): string {
  return join(root, "supabase", "functions", name, "deno.json");
}

export function functionEntryPoint(name: string, root = REPO_ROOT): string {
  return join(root, "supabase", "functions", name, "index.ts");
}

/** The file as the script writes it. */
export function renderImportMap(imports: ImportMap): string {
  return `${JSON.stringify({ imports }, null, 2)}\n`;
}

/** `{name, path, expected, actual}` per function; actual is null when the file is missing. */
export function importMapStatus(root = REPO_ROOT) {
  const pkg = readPackageJson(root);
  return functionNames(root).map((name) => {
    const path = functionImportMapPath(name, root);
    const expected = renderImportMap(expectedImportMap(importGraph(functionEntryPoint(name, root)), pkg));
    const actual = existsSync(path) ? readFileSync(path, "utf8") : null;
    return { name, path, expected, actual };
  });
}

function main(args: string[]) {
  const check = args.includes("--check");
  let stale = 0;
  for (const { name, path, expected, actual } of importMapStatus()) {
    if (actual === expected) continue;
    stale++;
    if (check) {
      console.error(`${relative(REPO_ROOT, path)} is ${actual === null ? "missing" : "out of sync"} (function ${name})`);
    } else {
      writeFileSync(path, expected);
      console.log(`wrote ${relative(REPO_ROOT, path)}`);
    }
  }
  if (check && stale) {
    console.error("run: npx deno run --allow-read --allow-write --allow-env scripts/sync-import-maps.ts");
    return 1;
  }
  if (!stale) console.log("every function's import map is in sync with package.json and its imports");
  return 0;
}

const isMain = (() => {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (typeof meta.main === "boolean") return meta.main; // Deno
  const argv1 = (globalThis as { process?: { argv?: string[] } }).process?.argv?.[1];
  return argv1 !== undefined && resolve(argv1) === fileURLToPath(import.meta.url);
})();

if (isMain) {
  const deno = (globalThis as { Deno?: { args: string[]; exit(code: number): never } }).Deno;
  const args = deno?.args ?? (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
  const code = main(args);
  if (code) deno ? deno.exit(code) : ((globalThis as unknown as { process: { exitCode: number } }).process.exitCode = code);
}
