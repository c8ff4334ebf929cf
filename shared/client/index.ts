/**
 * A typed client of the execution-tracker API for apps (browser, Node, Deno): plain `fetch`, no
 * dependencies, types generated from the OpenAPI document (./api-types.ts, `npm run openapi`).
 *
 *   import { createTrackerClient, TrackerError } from "./shared/client/index.ts";
 *
 *   const tracker = createTrackerClient({
 *     functionsUrl: "https://<ref>.supabase.co/functions/v1",   // locally http://127.0.0.1:54321/functions/v1
 *     accessToken: async () => (await supabase.auth.getSession()).data.session!.access_token,
 *   });
 *   const run = await tracker.executions.create({ workflowId, temporalWorkflowId: "order-1234" });
 *   const page = await tracker.executions.list({ status: ["running", "failed"], limit: 50 });
 *
 * Every method resolves to the answer's body as the document types it, or rejects with a
 * TrackerError carrying the HTTP status and the API's `{code, message, details, requestId}`.
 */
import type { components, operations } from "./api-types.ts";

type Schemas = components["schemas"];
export type Execution = Schemas["Execution"];
export type QueuedExecution = Schemas["QueuedExecution"];
export type ExecutionPage = Schemas["ExecutionPage"];
export type ExecutionStats = Schemas["ExecutionStats"];
export type ExecutionStatsSeries = Schemas["ExecutionStatsSeries"];
export type Workflow = Schemas["Workflow"];
export type WorkflowPage = Schemas["WorkflowPage"];
export type WorkflowType = Schemas["WorkflowType"];
export type SweepReport = Schemas["SweepReport"];
export type ExecutionStatus = Execution["status"];
export type CreateExecutionRequest = Schemas["CreateExecutionRequest"];
export type UpdateExecutionRequest = Schemas["UpdateExecutionRequest"];
export type CreateWorkflowRequest = Schemas["CreateWorkflowRequest"];
export type UpdateWorkflowRequest = Schemas["UpdateWorkflowRequest"];
export type RegisterWorkflowTypeRequest = Schemas["RegisterWorkflowTypeRequest"];
export type SweepOptions = Schemas["SweepOptions"];
/** Every error code of the API (shared/errors.ts). */
export type ErrorCode = Schemas[`Error${400 | 401 | 403 | 404 | 409 | 413 | 415 | 500 | 503}`]["error"]["code"];

type Query<O extends keyof operations> = operations[O]["parameters"]["query"];
/** The list's query, with `status` as an array (sent comma-separated) or a string. */
export type ListExecutionsQuery = Omit<NonNullable<Query<"listExecutions">>, "status"> & { status?: ExecutionStatus[] | string };
/** The summary's query (without `bucket`); `series` takes the bucket. */
export type StatsQuery = Omit<NonNullable<Query<"getExecutionStats">>, "bucket">;
export type StatsSeriesQuery = StatsQuery & { bucket: "hour" | "day" };
export type ListWorkflowsQuery = NonNullable<Query<"listWorkflows">>;

export interface TrackerClientOptions {
  /** The functions' base URL: `https://<ref>.supabase.co/functions/v1`, or `/functions/v1` on the same origin. */
  functionsUrl: string;
  /** A user's access token or the service role key; a function is called before each request (a refreshed session). */
  accessToken: string | (() => string | Promise<string>);
  /** Sent as `apikey` (the project's anon or publishable key), for gateways that want one. */
  apiKey?: string;
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
  /** More headers for every request (x-request-id, x-client-info...). */
  headers?: Record<string, string>;
}

/** A refused request: the HTTP status and the API's error body. */
export class TrackerError extends Error {
  override name = "TrackerError";
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "unknown",
    message: string,
    readonly details?: unknown,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

export type TrackerClient = ReturnType<typeof createTrackerClient>;

export function createTrackerClient(options: TrackerClientOptions) {
  const base = options.functionsUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);

  async function request<T>(method: string, path: string, init: { query?: Record<string, unknown>; body?: unknown } = {}): Promise<T> {
    const token = typeof options.accessToken === "function" ? await options.accessToken() : options.accessToken;
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(init.query ?? {})) {
      if (value === undefined || value === null) continue;
      search.set(key, Array.isArray(value) ? value.join(",") : String(value));
    }
    const headers: Record<string, string> = { ...options.headers, authorization: `Bearer ${token}` };
    if (options.apiKey) headers.apikey = options.apiKey;
    if (init.body !== undefined) headers["content-type"] = "application/json";
    const query = search.size ? `?${search}` : "";
    const response = await doFetch(`${base}${path}${query}`, {
      method,
      headers,
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    const text = await response.text();
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: ErrorCode; message?: string; details?: unknown; requestId?: string } } | null)?.error;
      throw new TrackerError(
        response.status,
        error?.code ?? "unknown",
        error?.message ?? `HTTP ${response.status}`,
        error?.details,
        error?.requestId ?? response.headers.get("x-request-id") ?? undefined,
      );
    }
    return body as T;
  }

  const id = (value: string) => encodeURIComponent(value);

  return {
    executions: {
      /** 201 a new run (running), 200 the existing one of this temporalWorkflowId, 202 queued (pending, with `message`). */
      create: (body: CreateExecutionRequest) => request<Execution | QueuedExecution>("POST", "/executions-create", { body }),
      update: (body: UpdateExecutionRequest) => request<Execution>("POST", "/executions-update", { body }),
      delete: (executionId: string) => request<null>("DELETE", `/executions-update/${id(executionId)}`),
      get: (executionId: string) => request<Execution>("GET", `/executions-list/${id(executionId)}`),
      list: (query: ListExecutionsQuery = {}) => request<ExecutionPage>("GET", "/executions-list", { query }),
      stats: (query: StatsQuery = {}) => request<ExecutionStats>("GET", "/executions-stats", { query }),
      /** Stats per UTC hour or day of the range (default the last 24 hours / 30 days), empty buckets zero-filled, at most 1,000. */
      series: (query: StatsSeriesQuery) => request<ExecutionStatsSeries>("GET", "/executions-stats", { query }),
      /** Every page from `query` on, newest first (follows nextCursor). */
      async *all(query: ListExecutionsQuery = {}): AsyncGenerator<Execution> {
        let cursor = query.cursor;
        do {
          const page: ExecutionPage = await request<ExecutionPage>("GET", "/executions-list", { query: { ...query, cursor } });
          yield* page.data;
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
      },
    },
    workflows: {
      create: (body: CreateWorkflowRequest) => request<Workflow>("POST", "/workflows", { body }),
      get: (workflowId: string) => request<Workflow>("GET", `/workflows/${id(workflowId)}`),
      list: (query: ListWorkflowsQuery = {}) => request<WorkflowPage>("GET", "/workflows", { query }),
      update: (workflowId: string, body: UpdateWorkflowRequest) => request<Workflow>("PATCH", `/workflows/${id(workflowId)}`, { body }),
      delete: (workflowId: string) => request<null>("DELETE", `/workflows/${id(workflowId)}`),
      types: {
        list: () => request<Schemas["WorkflowTypeList"]>("GET", "/workflows/types"),
        /** Service role only. */
        register: (body: RegisterWorkflowTypeRequest) => request<WorkflowType>("POST", "/workflows/types", { body }),
        /** Service role only. */
        unregister: (workflowType: string, taskQueue: string) =>
          request<Schemas["WorkflowTypeRemoved"]>("DELETE", "/workflows/types", { query: { workflowType, taskQueue } }),
      },
    },
    /** One sweeper run (service role only). */
    sweep: (body?: SweepOptions) => request<SweepReport>("POST", "/timeout-sweeper", body === undefined ? {} : { body }),
    /** Any operation of the document, untyped beyond JSON: for what the methods above do not cover. */
    request,
  };
}
