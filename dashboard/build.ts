/**
 * Builds the dashboard into dashboard/dist (git-ignored): index.html, app.js (the app and preact,
 * bundled and minified by esbuild; nothing is loaded from a CDN), chunks/ (supabase-js, loaded
 * only where Supabase Auth is configured), app.css and config.json (where the API is). The dev server (`npm start`) runs this itself when dist is
 * missing or older than the sources; for a deployment run it with the project's settings:
 *
 *   npm run build:dashboard                                   # config.json: the functions on the same origin
 *   npm run build:dashboard -- --supabase-url https://<ref>.supabase.co --anon-key <anon key> \
 *     [--functions-url <url>] [--temporal-ui-url <url>] [--temporal-namespace <ns>] [--poll-ms 3000] [--out <dir>]
 *
 * Then serve the folder from any static host (dashboard/README.md).
 */
import * as esbuild from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const DASHBOARD_DIR = dirname(fileURLToPath(import.meta.url));
export const DIST_DIR = join(DASHBOARD_DIR, "dist");
/** Written last: its mtime says when the build finished (local/../dashboard/serve.ts compares it with the sources). */
export const STAMP_FILE = ".build-stamp";

/** What the app reads from config.json at start (see src/config.ts). */
export interface DashboardConfig {
  functionsUrl?: string;
  supabaseUrl?: string;
  anonKey?: string;
  temporalUiUrl?: string;
  temporalNamespace?: string;
  pollIntervalMs?: number;
}

export async function buildDashboard(options: { outDir?: string; config?: DashboardConfig } = {}): Promise<string> {
  const outDir = options.outDir ?? DIST_DIR;
  await Deno.mkdir(outDir, { recursive: true });
  try {
    const result = await esbuild.build({
      entryPoints: { app: join(DASHBOARD_DIR, "src", "main.tsx"), styles: join(DASHBOARD_DIR, "src", "styles.css") },
      bundle: true,
      minify: true,
      sourcemap: "linked",
      format: "esm",
      target: ["es2022"],
      jsx: "automatic",
      jsxImportSource: "preact",
      legalComments: "linked",
      write: false,
      outdir: outDir,
      entryNames: "[name]",
      // supabase-js (Supabase Auth sign-in) is a chunk loaded only where it is configured.
      splitting: true,
      chunkNames: "chunks/[name]-[hash]",
      logLevel: "warning",
      // supabase-js mentions Node built-ins behind runtime checks; the browser never takes those paths.
      platform: "browser",
    });
    await Deno.mkdir(join(outDir, "chunks"), { recursive: true });
    for (const file of result.outputFiles) await writeAtomically(file.path.replace(/styles\.css(\.map)?$/, "app.css$1"), file.contents);
    // Chunks of earlier builds (their names carry a content hash) go.
    const current = new Set(result.outputFiles.map((file) => file.path));
    for await (const entry of Deno.readDir(join(outDir, "chunks"))) {
      const path = join(outDir, "chunks", entry.name);
      if (entry.isFile && !entry.name.endsWith(".tmp") && !current.has(path)) await Deno.remove(path).catch(() => {});
    }
  } finally {
    await esbuild.stop();
  }
  await writeAtomically(join(outDir, "index.html"), await Deno.readFile(join(DASHBOARD_DIR, "index.html")));
  const config = options.config ?? {};
  await writeAtomically(join(outDir, "config.json"), new TextEncoder().encode(JSON.stringify(config, null, 2) + "\n"));
  await writeAtomically(join(outDir, STAMP_FILE), new TextEncoder().encode(new Date().toISOString() + "\n"));
  return outDir;
}

/** Two builds at once (two dev servers starting) must never let a reader see half a file. */
async function writeAtomically(path: string, contents: Uint8Array): Promise<void> {
  const temporary = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeFile(temporary, contents);
  await Deno.rename(temporary, path);
}

function parseArgs(args: string[]): { outDir?: string; config: DashboardConfig } {
  const config: DashboardConfig = {};
  let outDir: string | undefined;
  const flags: Record<string, (value: string) => void> = {
    "--out": (v) => (outDir = v),
    "--functions-url": (v) => (config.functionsUrl = v),
    "--supabase-url": (v) => (config.supabaseUrl = v.replace(/\/+$/, "")),
    "--anon-key": (v) => (config.anonKey = v),
    "--temporal-ui-url": (v) => (config.temporalUiUrl = v.replace(/\/+$/, "")),
    "--temporal-namespace": (v) => (config.temporalNamespace = v),
    "--poll-ms": (v) => {
      const ms = Number(v);
      if (!Number.isInteger(ms) || ms < 500) throw new Error(`--poll-ms must be an integer of at least 500, got "${v}"`);
      config.pollIntervalMs = ms;
    },
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const set = flags[flag];
    if (!set) throw new Error(`unknown option ${args[i]} (known: ${Object.keys(flags).join(", ")})`);
    const value = inline ?? args[++i];
    if (value === undefined || value === "") throw new Error(`${flag} needs a value`);
    set(value);
  }
  if ((config.supabaseUrl === undefined) !== (config.anonKey === undefined)) {
    throw new Error("--supabase-url and --anon-key go together (Supabase Auth sign-in needs both)");
  }
  return { outDir, config };
}

if (import.meta.main) {
  try {
    const { outDir, config } = parseArgs(Deno.args);
    const started = performance.now();
    const dir = await buildDashboard({ outDir, config });
    console.log(`dashboard built in ${Math.round(performance.now() - started)} ms: ${dir}`);
    console.log(`config.json: ${JSON.stringify(config)}`);
  } catch (error) {
    console.error(`build:dashboard: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
