/**
 * The API's document and an interactive reference page, for the local dev server (`npm start`,
 * local/plugins/api-reference.ts) in front of the functions:
 *
 *   GET /openapi.json        the whole OpenAPI 3.1 document (servers: /functions/v1 on this origin)
 *   GET /api                 Swagger UI over it ("Try it out" calls the functions here; the demo
 *                            user's token from /config.json is filled in when the dashboard offers one)
 *   GET /api/swagger-ui/...  its files, from the swagger-ui-dist npm package (no CDN)
 *
 * Only the files listed below are served; no path from a request reaches the file system.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "./document.ts";

type FetchHandler = (request: Request) => Response | Promise<Response>;

const SWAGGER_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "node_modules", "swagger-ui-dist");
const FILES: Record<string, string> = {
  "/api/swagger-ui/swagger-ui.css": "text/css; charset=utf-8",
  "/api/swagger-ui/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "/api/swagger-ui/favicon-32x32.png": "image/png",
};

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>execution-tracker API</title>
  <link rel="icon" href="/api/swagger-ui/favicon-32x32.png">
  <link rel="stylesheet" href="/api/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="ui"></div>
  <script src="/api/swagger-ui/swagger-ui-bundle.js"></script>
  <script>
    const ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#ui", deepLinking: true, persistAuthorization: true, tryItOutEnabled: true });
    // Locally the dashboard's config offers the demo user's token: authorize with it.
    fetch("/config.json").then((r) => (r.ok ? r.json() : {})).then((c) => {
      if (c && c.demo && c.demo.token) ui.preauthorizeApiKey("bearerAuth", c.demo.token);
    }).catch(() => {});
  </script>
</body>
</html>
`;

/** `next` with /openapi.json, /api and the reference page's files answered in front of it. */
export function withApiReference(next: FetchHandler): FetchHandler {
  let document: string | null = null;
  return async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") return next(request);
    const { pathname } = new URL(request.url);
    const body = (content: BodyInit | null, type: string, status = 200) =>
      new Response(request.method === "HEAD" ? null : content, { status, headers: { "content-type": type, "cache-control": "no-cache" } });
    if (pathname === "/openapi.json") {
      document ??= JSON.stringify(openApiDocument());
      return body(document, "application/json");
    }
    if (pathname === "/api" || pathname === "/api/") return body(page, "text/html; charset=utf-8");
    const type = FILES[pathname];
    if (!type) return next(request);
    try {
      return body(new Uint8Array(await readFile(join(SWAGGER_DIR, pathname.slice("/api/swagger-ui/".length)))), type);
    } catch {
      return body("swagger-ui-dist is not installed: run npm install\n", "text/plain; charset=utf-8", 503);
    }
  };
}
