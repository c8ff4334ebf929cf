/** HTTP helpers of the dev server: listening, request ids and log lines for what no function answers. */
import { REQUEST_ID_HEADER } from "../../shared/http/request-log.ts";
import type { FetchHandler } from "./types.ts";

/**
 * The request without Deno.serve's abort signal (the functions router copies requests, and
 * reading that signal makes Deno 2.9 print a warning about its legacy abort behaviour), with
 * the request id the functions then use.
 */
export function forwardedRequest(request: Request, requestId: string): Request {
  const hasBody = request.body !== null && request.method !== "GET" && request.method !== "HEAD";
  const headers = new Headers(request.headers);
  headers.set(REQUEST_ID_HEADER, requestId);
  return new Request(request.url, {
    method: request.method,
    headers,
    body: hasBody ? request.body : undefined,
    redirect: request.redirect,
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
}

/** `response` with the x-request-id header (copied when its headers are immutable). */
export function withRequestId(response: Response, requestId: string): Response {
  if (response.headers.get(REQUEST_ID_HEADER) === requestId) return response;
  try {
    response.headers.set(REQUEST_ID_HEADER, requestId);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set(REQUEST_ID_HEADER, requestId);
    return copy;
  }
}

export function serve(hostname: string, port: number, handler: FetchHandler): Deno.HttpServer<Deno.NetAddr> {
  try {
    return Deno.serve({ hostname, port, onListen: () => {} }, handler);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(`port ${port} is in use (another dev server, or a Supabase stack?): set PORT`);
    }
    throw error;
  }
}

export function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}
