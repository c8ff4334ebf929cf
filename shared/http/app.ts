/**
 * The HTTP frame every function shares: request ids and request logs, CORS, the 1 MiB body
 * limit, JSON parsing, caller authentication, and the single `onError` that maps typed errors
 * to `{error: {code, message, details?, requestId}}`. Unknown errors become a bare 500: no
 * stack or SQL reaches a client; they are logged with the request id.
 *
 * Every request gets an id (the caller's `x-request-id` when valid, else a new UUID), returned
 * in the `x-request-id` header and in every error body, and one JSON log line when it is
 * answered (shared/http/request-log.ts; LOG_LEVEL).
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getPath } from "hono/utils/url";
import {
  ExecutionError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from "../errors.ts";
import { createExecutionService, type ExecutionService } from "../service.ts";
import { checkBodyDepth } from "../schemas.ts";
import type { Caller } from "../types.ts";
import { createStructuredLogger, errorFields, REQUEST_ID_HEADER, requestIdOf, requestLogLevel } from "./request-log.ts";
import type { Runtime } from "./runtime.ts";

export const maxBodyBytes = 1024 * 1024;

export type FunctionEnv = { Variables: { caller: Caller; service: ExecutionService; requestId: string } };
export type FunctionApp = Hono<FunctionEnv>;

export interface FunctionAppOptions {
  /** "caller" (default): a verified JWT is required and a service is bound to it. "none": the handler authenticates itself. */
  auth?: "caller" | "none";
}

/** A Hono app mounted at `/<name>`, as Supabase routes `/functions/v1/<name>/...` to a function. */
export function createFunctionApp(name: string, runtime: Runtime, options: FunctionAppOptions = {}): FunctionApp {
  const app = new Hono<FunctionEnv>({ getPath: functionPath }).basePath(`/${name}`);
  const logger = createStructuredLogger(runtime.config.logLevel ?? "info");

  app.onError((error, c) => errorResponse(c, error, runtime, logger));
  app.notFound((c) => errorResponse(c, new NotFoundError(`no route for ${c.req.method} ${c.req.path}`), runtime, logger));

  // First: every answer (errors, CORS preflights, 413s) carries the id and the CORS headers,
  // and is logged once. CORS is answered here rather than by hono/cors, which touches `c.res`
  // before the handler ran and so makes Hono copy every header into the handler's response.
  app.use("*", async (c, next) => {
    const started = performance.now();
    const requestId = requestIdOf(c.req.header(REQUEST_ID_HEADER));
    c.set("requestId", requestId);
    let status = 500;
    try {
      if (c.req.method === "OPTIONS") c.res = preflightResponse();
      else await next();
      status = c.res.status;
      setFrameHeaders(c, requestId);
    } finally {
      const level = requestLogLevel(status);
      if (logger.enabled(level)) logger.write(level, requestLine(c, { name, requestId, status, started, debug: logger.enabled("debug") }));
    }
  });

  app.use("*", bodyLimit({ maxSize: maxBodyBytes, onError: () => { throw new PayloadTooLargeError(maxBodyBytes); } }));

  if ((options.auth ?? "caller") === "caller") {
    app.use("*", async (c, next) => {
      const caller = await runtime.verifyCaller(c.req.header("authorization"));
      c.set("caller", caller);
      c.set("service", createExecutionService({ sql: runtime.sql, caller, temporal: runtime.temporal, log: runtime.log }));
      await next();
    });
  }
  return app;
}

/** The request's path (as Hono reads it) without the `/functions/v1` prefix the Supabase gateway and the local router put before a function's name. */
export function functionPath(request: Request): string {
  const path = getPath(request);
  return path.startsWith(gatewayPrefix) ? path.slice(gatewayPrefix.length - 1) : path;
}

const gatewayPrefix = "/functions/v1/";

const corsAllowHeaders = ["authorization", "x-client-info", "apikey", "content-type", "idempotency-key", "x-webhook-secret", REQUEST_ID_HEADER].join(",");
const corsAllowMethods = "GET,POST,PATCH,DELETE,OPTIONS";

/** 204 to a CORS preflight: any origin, the methods and headers the functions accept. */
function preflightResponse(): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-methods": corsAllowMethods,
      "access-control-allow-headers": corsAllowHeaders,
      vary: "Access-Control-Request-Headers",
    },
  });
}

/** The request id and the CORS headers of every answer (a copy when its headers are immutable). */
function setFrameHeaders(c: Context, requestId: string): void {
  try {
    setEach(c.res.headers, requestId);
  } catch {
    c.res = new Response(c.res.body, c.res);
    setEach(c.res.headers, requestId);
  }
}

function setEach(headers: Headers, requestId: string): void {
  headers.set(REQUEST_ID_HEADER, requestId);
  headers.set("access-control-allow-origin", "*");
  headers.set("access-control-expose-headers", REQUEST_ID_HEADER);
}

function requestLine(c: Context, at: { name: string; requestId: string; status: number; started: number; debug: boolean }) {
  const caller: Caller | undefined = c.get("caller");
  const { status } = at;
  return {
    msg: "request",
    requestId: at.requestId,
    function: at.name,
    method: c.req.method,
    path: c.req.path,
    status,
    durationMs: Math.round((performance.now() - at.started) * 10) / 10,
    role: caller?.role ?? (c.req.header("x-webhook-secret") !== undefined && status < 400 ? "webhook_secret" : null),
    ...(caller?.role === "authenticated" ? { userId: caller.userId } : {}),
    ...(at.debug ? { query: new URL(c.req.url).search || undefined, userAgent: c.req.header("user-agent") } : {}),
  };
}

/**
 * The request body as JSON: 415 unless the body is declared JSON, 400 when it does not parse
 * or nests deeper than `maxBodyDepth` (JSON.parse is iterative; the depth is checked before
 * anything recursive, such as validation, sees the value).
 */
export async function readJsonBody(c: Context): Promise<unknown> {
  const contentType = c.req.header("content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim())) throw new UnsupportedMediaTypeError();
  const text = await c.req.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ValidationError("request body is not valid JSON", [{ path: "(body)", message: "malformed JSON" }]);
  }
  checkBodyDepth(body);
  return body;
}

/** The URL's query string as a plain object (the last value wins for a repeated key). */
export function queryObject(c: Context): Record<string, string> {
  const url = c.req.url;
  const start = url.indexOf("?");
  return start < 0 ? {} : Object.fromEntries(new URLSearchParams(url.slice(start + 1)));
}

function errorResponse(c: Context, error: unknown, runtime: Runtime, logger: ReturnType<typeof createStructuredLogger>): Response {
  const requestId: string = c.get("requestId") ?? requestIdOf(c.req.header(REQUEST_ID_HEADER));
  if (error instanceof ExecutionError) {
    const body = {
      error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }), requestId },
    };
    // 503 `unavailable` (shared/db.ts DatabaseUnavailableError): when to try again, in seconds.
    if (error.code === "unavailable") {
      const seconds = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
      c.header("Retry-After", String(typeof seconds === "number" && seconds >= 1 ? Math.ceil(seconds) : 1));
    }
    return c.json(body, error.status as ContentfulStatusCode);
  }
  if (error instanceof HTTPException && error.status < 500) {
    return c.json({ error: { code: "validation_failed", message: "bad request", requestId } }, 400);
  }
  const where = `${c.req.method} ${c.req.path}`;
  runtime.log(`unhandled error in ${where} (request ${requestId})`, error);
  logger.write("error", { msg: "unhandled error", requestId, route: where, ...errorFields(error) });
  return c.json({ error: { code: "internal", message: "internal error", requestId } }, 500);
}
