/**
 * One source of truth for dependency versions: package.json. The root deno.json (local dev
 * server, tests, bench) and each function's own import map (supabase/functions/<name>/deno.json,
 * which `supabase functions deploy` uploads with the function) must pin exactly the same
 * versions, and a function's map must list exactly the packages its import graph uses.
 * Every function folder on disk is checked, none is listed here.
 *
 * Fix a failure with: npx deno run --allow-read --allow-write --allow-env scripts/sync-import-maps.ts
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import {
  exactVersion,
  expectedImportMap,
  foldersWithoutEntryPoint,
  functionEntryPoint,
  functionImportMapPath,
  functionNames,
  importGraph,
  importMapStatus,
  packageOf,
  readPackageJson,
  REPO_ROOT,
} from "../../scripts/sync-import-maps.ts";

const pkg = readPackageJson();
const pinned: Record<string, string> = { ...pkg.devDependencies, ...pkg.dependencies };
const rootDeno = JSON.parse(readFileSync(join(REPO_ROOT, "deno.json"), "utf8")) as { imports: Record<string, string> };
const names = functionNames();

/** `npm:name@1.2.3`, `npm:/name@1.2.3/` or `npm:name@1.2.3/sub` -> {name, version}; null for anything else. */
function npmTarget(target: string): { name: string; version: string } | null {
  const match = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)(\/.*)?$/.exec(target);
  return match ? { name: match[1], version: match[2] } : null;
}

function readMap(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(functionImportMapPath(name), "utf8"));
}

describe("dependency versions: package.json, root deno.json and every function's import map", () => {
  it("finds the functions on disk (and every function folder has an index.ts)", () => {
    expect(names.length).toBeGreaterThanOrEqual(6);
    expect(names).toContain("executions-create");
    expect(foldersWithoutEntryPoint(), "folders the CLI would skip: add index.ts, or prefix the folder with _").toEqual([]);
  });

  it("package.json pins exact versions for everything the maps refer to", () => {
    const loose = Object.entries(pkg.dependencies ?? {}).filter(([, version]) => !exactVersion.test(version));
    expect(loose, "dependencies with a range instead of an exact version").toEqual([]);
  });

  it("the root deno.json pins each npm package at package.json's version", () => {
    const problems: string[] = [];
    for (const [key, target] of Object.entries(rootDeno.imports)) {
      const npm = npmTarget(target);
      if (!npm) continue;
      if (packageOf(key.replace(/\/$/, "")) !== npm.name) problems.push(`${key} -> ${target}: key and package differ`);
      if (pinned[npm.name] === undefined) problems.push(`${key} -> ${target}: ${npm.name} is not in package.json`);
      else if (pinned[npm.name] !== npm.version) problems.push(`${key} -> ${target}: package.json has ${npm.name}@${pinned[npm.name]}`);
    }
    expect(problems).toEqual([]);
  });

  describe.each(names)("%s", (name) => {
    const graph = importGraph(functionEntryPoint(name));
    const used = [...graph.packages.keys()].sort();

    it("has a deno.json beside its entry point with nothing but imports (no nodeModulesDir: the platform has no node_modules)", () => {
      expect(existsSync(functionImportMapPath(name)), `${relative(REPO_ROOT, functionImportMapPath(name))} is missing`).toBe(true);
      expect(Object.keys(readMap(name))).toEqual(["imports"]);
    });

    it("imports packages only through its map (no inline npm:/jsr:/https: specifiers)", () => {
      expect(graph.inline).toEqual([]);
    });

    it("maps exactly the packages its import graph uses", () => {
      const imports = readMap(name).imports as Record<string, string>;
      const listed = [...new Set(Object.keys(imports).map((key) => packageOf(key.replace(/\/$/, ""))))].sort();
      expect({ missing: used.filter((p) => !listed.includes(p)), unused: listed.filter((p) => !used.includes(p)) }).toEqual({ missing: [], unused: [] });
      // Never the Node-only or test-only packages, whatever the graph says.
      for (const p of ["@electric-sql/pglite", "@electric-sql/pglite-socket", "@temporalio/client", "@temporalio/worker"]) expect(listed).not.toContain(p);
    });

    it("pins every package at package.json's version", () => {
      const imports = readMap(name).imports as Record<string, string>;
      const drift = Object.entries(imports).flatMap(([key, target]) => {
        const npm = npmTarget(target);
        if (!npm) return [`${key} -> ${target}: not an npm: specifier`];
        return pkg.dependencies?.[npm.name] === npm.version ? [] : [`${key} -> ${target}: package.json "dependencies" has ${npm.name}@${pkg.dependencies?.[npm.name]}`];
      });
      expect(drift).toEqual([]);
    });

    it("agrees with the root deno.json on every entry (local runs resolve what the platform resolves)", () => {
      const imports = readMap(name).imports as Record<string, string>;
      const differ = Object.entries(imports).filter(([key, target]) => rootDeno.imports[key] !== target)
        .map(([key, target]) => `${key}: function ${target}, root ${rootDeno.imports[key] ?? "(missing)"}`);
      expect(differ).toEqual([]);
    });

    it("is byte for byte what scripts/sync-import-maps.ts writes", () => {
      expect(readFileSync(functionImportMapPath(name), "utf8")).toBe(`${JSON.stringify({ imports: expectedImportMap(graph, pkg) }, null, 2)}\n`);
    });
  });

  it("scripts/sync-import-maps.ts --check would find nothing to write", () => {
    const stale = importMapStatus().filter((s) => s.actual !== s.expected).map((s) => s.name);
    expect(stale).toEqual([]);
  });
});

describe("importGraph", () => {
  it("follows shared/ and sees subpath, type-only and re-exported imports, not comments", () => {
    const graph = importGraph(functionEntryPoint("executions-create"));
    const files = graph.files.map((f) => relative(REPO_ROOT, f));
    expect(files[0]).toBe("supabase/functions/executions-create/index.ts");
    expect(files).toContain("shared/http/app.ts");
    expect(files).toContain("shared/db.ts");
    // gateway.ts names ./sdk-gateway.ts (Node only, @temporalio/client) in a comment only.
    expect(files).not.toContain("shared/temporal/sdk-gateway.ts");
    expect([...graph.packages.get("hono")!]).toEqual(expect.arrayContaining(["hono", "hono/body-limit", "hono/utils/url"]));
  });

  it("names packages from specifiers", () => {
    expect(packageOf("hono/utils/http-status")).toBe("hono");
    expect(packageOf("@supabase/supabase-js")).toBe("@supabase/supabase-js");
    expect(packageOf("@scope/name/sub/path")).toBe("@scope/name");
  });
});
