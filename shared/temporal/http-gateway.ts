/**
 * TemporalGateway over Temporal's HTTP API (the grpc-gateway JSON mapping of WorkflowService, served by the
 * frontend on its HTTP port, e.g. 7243; `temporal server start-dev --http-port`).
 *
 * Runtime-neutral: only fetch, URL, TextEncoder/TextDecoder, atob/btoa, crypto.randomUUID, AbortController.
 * Runs on Supabase Edge Runtime (Deno) and Node.
 *
 * Requests and responses use the content type `application/json+no-payload-shorthand`, so payloads travel in
 * their full protobuf-JSON form `{ metadata: { encoding: base64("json/plain") }, data: base64(JSON) }` instead of
 * the server's default "shorthand" (which rewrites payloads as plain JSON and fails on encodings it cannot show).
 *
 * Endpoints used (all verified against Temporal Server 1.29.1 / CLI 1.5.1):
 * - start:     POST {base}/api/v1/namespaces/{ns}/workflows/{workflowId}
 * - describe:  GET  {base}/api/v1/namespaces/{ns}/workflows/{workflowId}?execution.runId=...
 * - history:   GET  {base}/api/v1/namespaces/{ns}/workflows/{workflowId}/history
 *                   ?execution.runId=...&historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT
 * - cancel:    POST {base}/api/v1/namespaces/{ns}/workflows/{workflowId}/cancel
 * - terminate: POST {base}/api/v1/namespaces/{ns}/workflows/{workflowId}/terminate
 * Errors come back as google.rpc.Status JSON `{ code, message, details: [{ "@type": ..., ... }] }`.
 */
import {
  TemporalRequestError,
  TemporalUnavailableError,
  type StartedWorkflow,
  type StartWorkflowRequest,
  type TemporalGateway,
  type TemporalRunStatus,
  type WorkflowDescription,
} from "./gateway.ts";

export interface HttpTemporalGatewayOptions {
  /** Root of the HTTP API, e.g. `http://127.0.0.1:7243` (a trailing `/api/v1` is accepted too). */
  baseUrl: string;
  namespace: string;
  /** Sent as `Authorization: Bearer <apiKey>` (Temporal Cloud API keys). */
  apiKey?: string;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Per request, including reading the body. Default 10s. */
  timeoutMs?: number;
  /** Recorded by Temporal as the caller of start/cancel/terminate. */
  identity?: string;
}

const CONTENT_TYPE = "application/json+no-payload-shorthand";
const DEFAULT_TIMEOUT_MS = 10_000;

export function createHttpTemporalGateway(options: HttpTemporalGatewayOptions): TemporalGateway {
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const identity = options.identity ?? "execution-tracker/http-gateway";
  const namespace = options.namespace;
  const apiRoot = apiRootOf(options.baseUrl);

  const headers: Record<string, string> = { "content-type": CONTENT_TYPE, accept: CONTENT_TYPE };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  function workflowPath(workflowId: string, suffix = ""): string {
    if (!workflowId) throw new TemporalRequestError("workflowId must not be empty");
    // The HTTP API routes on the decoded path: an id containing "/" (even as %2F) never reaches the handler.
    if (workflowId.includes("/")) {
      throw new TemporalRequestError(`workflowId ${JSON.stringify(workflowId)} contains "/", which Temporal's HTTP API cannot address`);
    }
    return `${apiRoot}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}${suffix}`;
  }

  async function request(method: "GET" | "POST", url: string, body?: unknown): Promise<HttpResult> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const what = `${method} ${redact(url)}`;
    try {
      let response: Response;
      try {
        response = await doFetch(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: controller.signal,
        });
      } catch (err) {
        throw new TemporalUnavailableError(
          controller.signal.aborted ? `Temporal HTTP API ${what} timed out after ${timeoutMs}ms` : `Temporal HTTP API ${what} failed: ${errorMessage(err)}`,
          { cause: err },
        );
      }
      let text: string;
      try {
        text = await response.text();
      } catch (err) {
        throw new TemporalUnavailableError(
          controller.signal.aborted
            ? `Temporal HTTP API ${what} timed out after ${timeoutMs}ms reading the response`
            : `Temporal HTTP API ${what}: reading the response failed: ${errorMessage(err)}`,
          { cause: err },
        );
      }
      let json: unknown = undefined;
      if (text) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      if (response.ok && (json === undefined || !isRecord(json))) {
        throw new TemporalUnavailableError(`Temporal HTTP API ${what}: ${response.status} with a body that is not a JSON object`);
      }
      return { what, status: response.status, ok: response.ok, json: isRecord(json) ? json : {}, text };
    } finally {
      clearTimeout(timer);
    }
  }

  async function describeRun(workflowId: string, runId: string | undefined): Promise<WorkflowDescription | null> {
    const url = new URL(workflowPath(workflowId));
    if (runId) url.searchParams.set("execution.runId", runId);
    const res = await request("GET", url.toString());
    if (!res.ok) {
      if (isWorkflowNotFound(res)) return null;
      throw httpError(res);
    }
    const info = asRecord(res.json.workflowExecutionInfo);
    const execution = asRecord(info.execution);
    const description: WorkflowDescription = {
      workflowId: stringOr(execution.workflowId, workflowId),
      runId: stringOr(execution.runId, runId ?? ""),
      status: mapRunStatus(info.status as string | number | undefined),
      startTime: toDate(info.startTime),
      closeTime: toDate(info.closeTime),
    };
    if (needsCloseEvent(description.status)) {
      const historyUrl = new URL(workflowPath(workflowId, "/history"));
      historyUrl.searchParams.set("execution.runId", description.runId);
      historyUrl.searchParams.set("historyEventFilterType", "HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT");
      const history = await request("GET", historyUrl.toString());
      if (!history.ok) {
        // The run can vanish between describe and history (retention); report what describe said.
        if (isWorkflowNotFound(history)) return description;
        throw httpError(history);
      }
      const events = asArray(asRecord(history.json.history).events);
      const close = events.length > 0 ? asRecord(events[events.length - 1]) : undefined;
      if (close) Object.assign(description, closeEventDetails(close));
    }
    return description;
  }

  return {
    async start(req: StartWorkflowRequest): Promise<StartedWorkflow> {
      const url = workflowPath(req.workflowId);
      const res = await request("POST", url, {
        workflowType: { name: req.workflowType },
        taskQueue: { name: req.taskQueue, kind: "TASK_QUEUE_KIND_NORMAL" },
        input: { payloads: req.args.map((arg) => toWirePayload(encodePayload(arg))) },
        identity,
        // Fresh per call: a repeated request id would make Temporal answer started=true for the old run.
        requestId: crypto.randomUUID(),
        // Never a second run for one workflow id: join the open run, refuse after it closed.
        workflowIdReusePolicy: "WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE",
        workflowIdConflictPolicy: "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING",
      });
      if (res.ok) {
        const runId = res.json.runId;
        if (typeof runId !== "string" || !runId) {
          throw new TemporalUnavailableError(`Temporal HTTP API ${res.what}: response without runId`);
        }
        return { workflowId: req.workflowId, runId, alreadyStarted: res.json.started !== true };
      }
      if (grpcCodeOf(res) === GRPC_ALREADY_EXISTS) {
        // The run with this id already closed and the reuse policy refused a new one: report that run.
        const detail = findDetail(res, "WorkflowExecutionAlreadyStartedFailure");
        const runId = detail && typeof detail.runId === "string" && detail.runId ? detail.runId : undefined;
        if (runId) return { workflowId: req.workflowId, runId, alreadyStarted: true };
        const existing = await describeRun(req.workflowId, undefined);
        if (existing) return { workflowId: req.workflowId, runId: existing.runId, alreadyStarted: true };
      }
      throw httpError(res);
    },

    describe(workflowId: string, runId?: string): Promise<WorkflowDescription | null> {
      return describeRun(workflowId, runId);
    },

    async cancel(workflowId: string, runId?: string, reason?: string): Promise<void> {
      const res = await request("POST", workflowPath(workflowId, "/cancel"), {
        workflowExecution: runId ? { runId } : undefined,
        reason: reason ?? "",
        identity,
        requestId: crypto.randomUUID(),
      });
      if (res.ok || isWorkflowNotFound(res)) return;
      throw httpError(res);
    },

    async terminate(workflowId: string, runId?: string, reason?: string): Promise<void> {
      const res = await request("POST", workflowPath(workflowId, "/terminate"), {
        workflowExecution: runId ? { runId } : undefined,
        reason: reason ?? "",
        identity,
      });
      if (res.ok || isWorkflowNotFound(res)) return;
      throw httpError(res);
    },

    async close(): Promise<void> {},
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP plumbing

interface HttpResult {
  what: string;
  status: number;
  ok: boolean;
  /** The parsed body when it was a JSON object, else {}. */
  json: Record<string, unknown>;
  text: string;
}

const GRPC_ALREADY_EXISTS = 6;

function apiRootOf(baseUrl: string): string {
  const url = new URL(baseUrl);
  let path = url.pathname.replace(/\/+$/, "");
  if (!path.endsWith("/api/v1")) path += "/api/v1";
  url.pathname = path;
  url.search = "";
  url.hash = "";
  return url.toString().replace(/\/+$/, "");
}

function grpcCodeOf(res: HttpResult): number | undefined {
  return typeof res.json.code === "number" ? res.json.code : undefined;
}

function detailTypes(res: HttpResult): string[] {
  return asArray(res.json.details).map((d) => stringOr(asRecord(d)["@type"], ""));
}

function findDetail(res: HttpResult, typeName: string): Record<string, unknown> | undefined {
  for (const detail of asArray(res.json.details)) {
    const record = asRecord(detail);
    if (stringOr(record["@type"], "").endsWith(`.${typeName}`)) return record;
  }
  return undefined;
}

/**
 * The workflow (or run) is unknown or already closed. Only when Temporal itself says so (NOT_FOUND with a
 * NotFoundFailure detail): an unknown namespace or an unrouted path also answer 404, and those are real errors.
 */
function isWorkflowNotFound(res: HttpResult): boolean {
  return res.status === 404 && grpcCodeOf(res) === 5 && isWorkflowNotFoundDetail(detailTypes(res));
}

function httpError(res: HttpResult): Error {
  const code = grpcCodeOf(res);
  const message = typeof res.json.message === "string" && res.json.message ? res.json.message : res.text.slice(0, 300);
  const text = `Temporal HTTP API ${res.what}: ${res.status}${code !== undefined ? ` ${grpcCodeName(code)}` : ""}: ${message}`;
  return isTransient(res.status, code) ? new TemporalUnavailableError(text) : new TemporalRequestError(text, res.status);
}

function redact(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}

// ---------------------------------------------------------------------------------------------------------------
// Shared with sdk-gateway.ts (runtime-neutral helpers; exported for that reason, not part of the gateway API)

const GRPC_CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? `code ${code}`;
}

/** The HTTP status grpc-gateway answers for a gRPC code (runtime.HTTPStatusFromCode). */
export function httpStatusFromGrpcCode(code: number): number {
  switch (code) {
    case 0: return 200;
    case 1: return 499;
    case 3: case 9: case 11: return 400;
    case 4: return 504;
    case 5: return 404;
    case 6: case 10: return 409;
    case 7: return 403;
    case 8: return 429;
    case 12: return 501;
    case 14: return 503;
    case 16: return 401;
    default: return 500; // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

/** Worth retrying later: 5xx, 429 (resource exhausted), 408/499 (timed out / cancelled), or the matching gRPC codes. */
export function isTransient(httpStatus: number, grpcCode?: number): boolean {
  if (grpcCode === 1 || grpcCode === 4 || grpcCode === 8 || grpcCode === 14) return true;
  return httpStatus >= 500 || httpStatus === 429 || httpStatus === 408 || httpStatus === 499;
}

/** Given the detail type names of a NOT_FOUND error: is it about the workflow (not the namespace)? */
export function isWorkflowNotFoundDetail(detailTypeNames: string[]): boolean {
  return detailTypeNames.some((t) => t.endsWith(".NotFoundFailure")) && !detailTypeNames.some((t) => t.endsWith(".NamespaceNotFoundFailure"));
}

/** A payload with its bytes: the shape of temporal.api.common.v1.Payload in the SDK's protobufjs objects. */
export interface BinaryPayload {
  metadata: Record<string, Uint8Array>;
  data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Same as the SDK's default payload converter: undefined → binary/null, anything else → json/plain. */
export function encodePayload(value: unknown): BinaryPayload {
  if (value === undefined) return { metadata: { encoding: encoder.encode("binary/null") }, data: new Uint8Array(0) };
  const json = JSON.stringify(value);
  if (json === undefined) throw new TemporalRequestError(`workflow argument is not JSON-serializable: ${typeof value}`);
  return { metadata: { encoding: encoder.encode("json/plain") }, data: encoder.encode(json) };
}

/**
 * Decodes a payload in either shape (HTTP JSON with base64 strings, or SDK objects with Uint8Arrays).
 * json/plain and json/protobuf → parsed JSON, binary/null → null, binary/plain → Uint8Array, anything else
 * (encrypted, custom codecs) → undefined.
 */
export function decodePayload(payload: unknown): unknown {
  const record = asRecord(payload);
  const metadata = asRecord(record.metadata);
  const encoding = decoder.decode(toBytes(metadata.encoding));
  const data = toBytes(record.data);
  switch (encoding) {
    case "json/plain":
    case "json/protobuf":
      try {
        return JSON.parse(decoder.decode(data));
      } catch {
        return undefined;
      }
    case "binary/null":
      return null;
    case "binary/plain":
      return data;
    default:
      return undefined;
  }
}

/** Temporal's WorkflowExecutionStatus (enum name from JSON or number from protobuf) → ours. */
export function mapRunStatus(status: string | number | null | undefined): TemporalRunStatus {
  const name = typeof status === "number" ? STATUS_BY_NUMBER[status] : typeof status === "string" ? status.replace(/^WORKFLOW_EXECUTION_STATUS_/, "") : undefined;
  switch (name) {
    case "COMPLETED": return "completed";
    case "FAILED": return "failed";
    case "CANCELED": return "cancelled";
    case "TERMINATED": return "terminated";
    case "TIMED_OUT": return "timed_out";
    case "CONTINUED_AS_NEW": return "continued_as_new";
    default: return "running"; // RUNNING, PAUSED (still open), UNSPECIFIED
  }
}

const STATUS_BY_NUMBER: Record<number, string> = {
  1: "RUNNING",
  2: "COMPLETED",
  3: "FAILED",
  4: "CANCELED",
  5: "TERMINATED",
  6: "CONTINUED_AS_NEW",
  7: "TIMED_OUT",
  8: "PAUSED",
};

/** Closed statuses whose close event carries a result or a message worth fetching. */
export function needsCloseEvent(status: TemporalRunStatus): boolean {
  return status === "completed" || status === "failed" || status === "terminated" || status === "timed_out";
}

/** Result / failure message from a workflow's close event (HTTP JSON or SDK protobuf object, same field names). */
export function closeEventDetails(event: Record<string, unknown>): Pick<WorkflowDescription, "result" | "failureMessage"> {
  const completed = asRecordOrNull(event.workflowExecutionCompletedEventAttributes);
  if (completed) {
    const payloads = asArray(asRecord(completed.result).payloads);
    return { result: payloads.length > 0 ? decodePayload(payloads[0]) : null };
  }
  const failed = asRecordOrNull(event.workflowExecutionFailedEventAttributes);
  if (failed) return { failureMessage: failureMessageOf(failed.failure) ?? "workflow failed" };
  const terminated = asRecordOrNull(event.workflowExecutionTerminatedEventAttributes);
  if (terminated) {
    const reason = typeof terminated.reason === "string" && terminated.reason ? terminated.reason : undefined;
    return reason ? { failureMessage: reason } : {};
  }
  if (asRecordOrNull(event.workflowExecutionTimedOutEventAttributes)) return { failureMessage: "workflow execution timed out" };
  return {};
}

/** temporal.api.failure.v1.Failure → "message: cause message: ..." (encoded attributes decoded when json/plain). */
export function failureMessageOf(failure: unknown): string | undefined {
  const parts: string[] = [];
  let current = asRecordOrNull(failure);
  for (let depth = 0; current && depth < 5; depth++) {
    let message = typeof current.message === "string" ? current.message : "";
    const encoded = asRecordOrNull(current.encodedAttributes);
    if (encoded) {
      const attrs = asRecordOrNull(decodePayload(encoded));
      if (attrs && typeof attrs.message === "string") message = attrs.message;
    }
    if (message && !parts.includes(message)) parts.push(message);
    current = asRecordOrNull(current.cause);
  }
  return parts.length > 0 ? parts.join(": ") : undefined;
}

/** google.protobuf.Timestamp as RFC 3339 (JSON) or { seconds: Long|number, nanos } (protobufjs) → Date. */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) || date.getTime() <= 0 ? null : date;
  }
  if (value instanceof Date) return value;
  const record = asRecord(value);
  const seconds = longToNumber(record.seconds);
  const nanos = typeof record.nanos === "number" ? record.nanos : 0;
  if (seconds === undefined || (seconds === 0 && nanos === 0)) return null;
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
}

function longToNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string") return Number(value);
  if (typeof value === "bigint") return Number(value);
  if (value && typeof value === "object" && typeof (value as { toNumber?: unknown }).toNumber === "function") {
    return (value as { toNumber(): number }).toNumber();
  }
  return undefined;
}

/** Bytes from a base64 string (HTTP JSON) or a Uint8Array (SDK). */
export function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return base64ToBytes(value);
  return new Uint8Array(0);
}

export function base64ToBytes(b64: string): Uint8Array {
  const binary = atob(b64.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

function toWirePayload(payload: BinaryPayload): { metadata: Record<string, string>; data: string } {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata)) metadata[key] = bytesToBase64(value);
  return { metadata, data: bytesToBase64(payload.data) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asRecordOrNull(value: unknown): Record<string, unknown> | null {
  return isRecord(value) ? value : null;
}

function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" && value ? value : fallback;
}
