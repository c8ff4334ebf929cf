/**
 * A stand-in for the Supabase Management API on 127.0.0.1, answering exactly what
 * `supabase functions deploy <name> --use-api` (CLI 2.117.0) calls, and keeping what it uploads:
 *
 *   POST /v1/projects/{ref}/functions/deploy?slug=<name>[&bundleOnly=true]
 *        multipart/form-data: `metadata` (JSON: name, entrypoint_path, import_map_path,
 *        static_patterns, verify_jwt) and one `file` part per uploaded file, named by its
 *        path relative to the project root. Answered 201 with the function's record.
 *   GET  /v1/projects/{ref}/functions      the deployed functions (the CLI lists them when a
 *        function's verify_jwt is not in config.toml, to keep the platform's value): [].
 *   PUT  /v1/projects/{ref}/functions      bulk update after a multi-function deploy: 200.
 *   GET  /v1/projects/{ref}                read after the command (telemetry's project
 *        groups): 404, so nothing about a project is cached anywhere.
 *
 * Anything else is answered 404 and recorded in `unexpected`, so a CLI that starts calling
 * something new fails the test instead of passing by accident.
 *
 * The CLI is pointed here with `--profile <yaml>` (see writeProfile): its `api_url` replaces
 * https://api.supabase.com.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface DeployMetadata {
  name?: string;
  entrypoint_path: string;
  import_map_path?: string;
  static_patterns?: string[];
  verify_jwt?: boolean;
  [key: string]: unknown;
}

export interface Upload {
  ref: string;
  slug: string;
  bundleOnly: boolean;
  authorization: string | undefined;
  userAgent: string | undefined;
  metadata: DeployMetadata;
  /** Uploaded files by the name the CLI gave them (a path relative to the project root), in upload order. */
  files: Map<string, Buffer>;
}

export interface ApiCall {
  method: string;
  path: string;
  status: number;
}

export interface ManagementApi {
  url: string;
  uploads: Upload[];
  calls: ApiCall[];
  unexpected: ApiCall[];
  /** Bodies of PUT /v1/projects/{ref}/functions (the records of a multi-function deploy). */
  bulkUpdates: { slug: string; [key: string]: unknown }[][];
  stop(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A multipart body as the platform reads it (the standard parser of fetch's Response). */
async function parseMultipart(body: Buffer, contentType: string): Promise<{ metadata: DeployMetadata; files: Map<string, Buffer> }> {
  const form = await new Response(new Uint8Array(body), { headers: { "content-type": contentType } }).formData();
  const metadataText = form.get("metadata");
  if (typeof metadataText !== "string") throw new Error("no metadata field in the upload");
  const files = new Map<string, Buffer>();
  for (const part of form.getAll("file")) {
    if (typeof part === "string") throw new Error("a file part without a filename");
    if (files.has(part.name)) throw new Error(`file uploaded twice: ${part.name}`);
    files.set(part.name, Buffer.from(await part.arrayBuffer()));
  }
  return { metadata: JSON.parse(metadataText), files };
}

export async function startManagementApi(): Promise<ManagementApi> {
  const uploads: Upload[] = [];
  const calls: ApiCall[] = [];
  const unexpected: ApiCall[] = [];
  const bulkUpdates: ManagementApi["bulkUpdates"] = [];

  const server: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://stand-in");
    const method = request.method ?? "GET";
    const send = (status: number, body: unknown) => {
      calls.push({ method, path: url.pathname, status });
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    try {
      const body = await readBody(request);
      let match: RegExpExecArray | null;
      if (method === "POST" && (match = /^\/v1\/projects\/([a-z]{20})\/functions\/deploy$/.exec(url.pathname))) {
        const slug = url.searchParams.get("slug") ?? "";
        const { metadata, files } = await parseMultipart(body, request.headers["content-type"] ?? "");
        uploads.push({
          ref: match[1],
          slug,
          bundleOnly: url.searchParams.get("bundleOnly") === "true",
          authorization: request.headers.authorization,
          userAgent: request.headers["user-agent"],
          metadata,
          files,
        });
        const now = Date.now();
        return send(201, {
          id: randomUUID(),
          slug,
          name: metadata.name ?? slug,
          version: 1,
          status: "ACTIVE",
          created_at: now,
          updated_at: now,
          entrypoint_path: metadata.entrypoint_path,
          import_map_path: metadata.import_map_path,
          ...(metadata.verify_jwt === undefined ? {} : { verify_jwt: metadata.verify_jwt }),
        });
      }
      if (method === "GET" && /^\/v1\/projects\/[a-z]{20}\/functions$/.test(url.pathname)) return send(200, []);
      if (method === "PUT" && /^\/v1\/projects\/[a-z]{20}\/functions$/.test(url.pathname)) {
        const records = JSON.parse(body.toString() || "[]");
        bulkUpdates.push(records);
        return send(200, { functions: records });
      }
      if (method === "GET" && /^\/v1\/projects\/[a-z]{20}$/.test(url.pathname)) return send(404, { message: "stand-in: no project details" });
      unexpected.push({ method, path: url.pathname, status: 404 });
      return send(404, { message: `stand-in: ${method} ${url.pathname} is not an endpoint the deploy test expects` });
    } catch (error) {
      unexpected.push({ method, path: url.pathname, status: 400 });
      return send(400, { message: `stand-in: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    uploads,
    calls,
    unexpected,
    bulkUpdates,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A CLI profile (YAML, the fields of the CLI's `Profile`: name, api_url, dashboard_url,
 * project_host are required) whose Management API is the stand-in.
 */
export function writeProfile(path: string, apiUrl: string): void {
  writeFileSync(path, [
    "name: deploy-test",
    `api_url: ${apiUrl}`,
    `dashboard_url: ${apiUrl}/dashboard`,
    "project_host: supabase.invalid",
    "",
  ].join("\n"));
}
