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
  type WorkflowDescription,
} from "./gateway.ts";
import {
  asArray,
  asRecord,
  assertAddressableWorkflowId,
  closeEventDetails,
  encodePayload,
  grpcCodeName,
  isRecord,
  isTransient,
  isWorkflowNotFoundDetail,
  mapRunStatus,
  needsCloseEvent,
  stringOr,
  toDate,
  toWirePayload,
} from "./codec.ts";

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
    // Before the id becomes a path segment: "..", "." and "/" would address another path.
    assertAddressableWorkflowId(workflowId);
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
