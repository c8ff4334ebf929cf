/**
 * The dashboard inside the local dev server (`npm start`): builds dashboard/dist when it is
 * missing or older than its sources (a subprocess running dashboard/build.ts, so esbuild never
 * enters the server's own module graph), then serves its files at `/` ahead of the functions.
 * `/config.json` is answered here instead of the built file: the functions on this origin, the
 * Temporal Web UI when TEMPORAL_UI_URL is known, and a demo user's token for the sign-in page
 * (local only: a deployed dashboard never offers a token).
 */
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

type FetchHandler = (request: Request) => Response | Promise<Response>;

const DASHBOARD_DIR = dirname(fileURLToPath(import.meta.url));
const DIST_DIR = join(DASHBOARD_DIR, "dist");
const STAMP = join(DIST_DIR, ".build-stamp");
/** The only files served: no directory listing, no path from the request reaches the file system. */
const FILES: Record<string, string> = {
  "/": "index.html",
  "/index.html": "index.html",
  "/app.js": "app.js",
  "/app.js.map": "app.js.map",
  "/app.css": "app.css",
  "/app.css.map": "app.css.map",
  "/app.js.LEGAL.txt": "app.js.LEGAL.txt",
};
/** esbuild's chunks (build.ts chunkNames): a fixed shape, so no request path can leave dist/. */
const CHUNK = /^\/chunks\/[\w-]+\.js(\.map)?$/;
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

export interface DashboardOptions {
  /** A signed-in demo user's token for the sign-in page (local only), minted per request. */
  demoToken?: () => Promise<string>;
  /** The Temporal Web UI (links from a run page), e.g. http://127.0.0.1:8233. */
  temporalUiUrl?: string;
  temporalNamespace?: string;
  print?: (line: string) => void;
}

/** `handler` with the dashboard served in front of it (GET/HEAD of the dashboard's files and /config.json). */
export async function withDashboard(handler: FetchHandler, options: DashboardOptions = {}): Promise<FetchHandler> {
  const print = options.print ?? console.log;
  const built = await ensureBuilt(print);
  return async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") return handler(request);
    const { pathname } = new URL(request.url);
    if (pathname === "/config.json") {
      const token = options.demoToken ? await options.demoToken() : undefined;
      return Response.json({
        functionsUrl: "/functions/v1",
        ...(options.temporalUiUrl ? { temporalUiUrl: options.temporalUiUrl.replace(/\/+$/, "") } : {}),
        ...(options.temporalNamespace ? { temporalNamespace: options.temporalNamespace } : {}),
        ...(token ? { demo: { token, label: "the demo user (npm start seeds its workflows)" } } : {}),
      }, { headers: { "cache-control": "no-store" } });
    }
    const file = FILES[pathname] ?? (CHUNK.test(pathname) ? pathname.slice(1) : undefined);
    if (!file) return handler(request);
    if (!built) {
      return new Response("The dashboard is not built: run npm run build:dashboard (see the dev server's output).\n", {
        status: 503,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    try {
      const body = await Deno.readFile(join(DIST_DIR, file));
      return new Response(request.method === "HEAD" ? null : body, {
        headers: { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache" },
      });
    } catch {
      return handler(request);
    }
  };
}

/** Builds dist when a source is newer than the last build; false when no build is available. */
async function ensureBuilt(print: (line: string) => void): Promise<boolean> {
  const builtAt = await mtime(STAMP);
  const sourcesAt = await newestMtime([join(DASHBOARD_DIR, "src"), join(DASHBOARD_DIR, "index.html"), join(DASHBOARD_DIR, "build.ts")]);
  if (builtAt !== null && builtAt >= sourcesAt) return true;
  const started = performance.now();
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(DASHBOARD_DIR, "..", "deno.json"), join(DASHBOARD_DIR, "build.ts")],
    cwd: join(DASHBOARD_DIR, ".."),
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stderr } = await command.output();
  if (code === 0) {
    print(`[dev-server] dashboard built in ${Math.round(performance.now() - started)} ms (dashboard/dist)`);
    return true;
  }
  print(`[dev-server] could not build the dashboard (${new TextDecoder().decode(stderr).trim()}); ${builtAt !== null ? "serving the previous build" : "/ answers 503"}`);
  return builtAt !== null;
}

async function mtime(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? null;
  } catch {
    return null;
  }
}

async function newestMtime(paths: string[]): Promise<number> {
  let newest = 0;
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      continue;
    }
    if (info.isDirectory) {
      const children: string[] = [];
      for await (const entry of Deno.readDir(path)) children.push(join(path, entry.name));
      newest = Math.max(newest, await newestMtime(children));
    } else {
      newest = Math.max(newest, info.mtime?.getTime() ?? 0);
    }
  }
  return newest;
}
