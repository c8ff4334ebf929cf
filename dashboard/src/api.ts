/**
 * The functions, called with the signed-in user's token: RLS decides what comes back. Errors
 * keep the API's `{error: {code, message}}` so the page can show the message as given.
 */
import type { ExecutionStats, ExecutionStatsSeries, ExecutionWithWorkflow, StatsSeriesFilter } from "../../shared/types.ts";
import type { ExecutionStatus } from "../../shared/status.ts";
import type { components } from "../../shared/client/api-types.ts";
import { newRequestId } from "./model.ts";

export type Run = ExecutionWithWorkflow;
export type Stats = ExecutionStats;
export type Series = ExecutionStatsSeries;
export type SeriesFilter = StatsSeriesFilter;
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
/** A bulk action (cancel, retry or delete of every run matching a filter) and its progress. */
export type BulkAction = components["schemas"]["BulkAction"];
export type BulkKind = BulkAction["action"];
export type BulkFilter = BulkAction["filter"];
/** How many runs a bulk action would act on (exact up to `limit`; limit + 1 means more). */
export type BulkDryRun = components["schemas"]["BulkDryRun"];

/** A failure-alert endpoint (its secret is shown only at create and rotate), and one delivery of the log. */
export type AlertEndpoint = components["schemas"]["AlertEndpoint"];
export type AlertEndpointWithSecret = components["schemas"]["AlertEndpointWithSecret"];
export type NewAlertEndpoint = components["schemas"]["CreateAlertEndpointRequest"];
export type AlertEndpointPatch = components["schemas"]["UpdateAlertEndpointRequest"];
export type AlertDelivery = components["schemas"]["AlertDelivery"];
export type AlertStatus = AlertEndpoint["statuses"][number];

export interface WorkflowSummary {
  id: string;
  name: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface RunFilter {
  status?: ExecutionStatus[];
  workflowId?: string;
  /** Runs with all of these tags. */
  tags?: string[];
  /** Runs whose metadata has each of these values (as text). */
  metadata?: Record<string, string>;
  /** The retries of this run. */
  retryOf?: string;
  startedAfter?: string;
  startedBefore?: string;
}

export interface Api {
  listRuns(filter: RunFilter, options: { limit: number; cursor?: string | null }): Promise<Page<Run>>;
  getRun(id: string): Promise<Run>;
  stats(filter: Omit<RunFilter, "status" | "retryOf">): Promise<Stats>;
  /** The time series (per UTC hour or day, empty buckets zero-filled), from the same rollups as the stats. */
  series(filter: SeriesFilter): Promise<Series>;
  cancelRun(id: string): Promise<Run>;
  /** A new run with the same input, linked to this one; the same key again answers the same retry. */
  retryRun(id: string, idempotencyKey: string): Promise<Run>;
  deleteRun(id: string): Promise<void>;
  bulkDryRun(action: BulkKind, filter: BulkFilter): Promise<BulkDryRun>;
  /** Starts the action (202); the same requestId again answers the same action and does the work once. */
  startBulk(action: BulkKind, filter: BulkFilter, requestId: string): Promise<BulkAction>;
  getBulk(id: string): Promise<BulkAction>;
  listAlertEndpoints(): Promise<AlertEndpoint[]>;
  createAlertEndpoint(endpoint: NewAlertEndpoint): Promise<AlertEndpointWithSecret>;
  updateAlertEndpoint(id: string, patch: AlertEndpointPatch): Promise<AlertEndpoint>;
  rotateAlertSecret(id: string): Promise<AlertEndpointWithSecret>;
  deleteAlertEndpoint(id: string): Promise<void>;
  /** The delivery log, newest first. */
  listAlertDeliveries(filter: { status?: AlertDelivery["status"] }, options: { limit: number; cursor?: string | null }): Promise<Page<AlertDelivery>>;
  /** The caller's workflows, or null when this deployment has no `workflows` function. */
  listWorkflows(): Promise<WorkflowSummary[] | null>;
}

/** A metadata filter as the API's query parameters: `metadata.<key>=<value>`. */
const metadataQuery = (metadata: Record<string, string> | undefined) =>
  Object.fromEntries(Object.entries(metadata ?? {}).map(([key, value]) => [`metadata.${key}`, value]));

export function createApi(options: { functionsUrl: string; anonKey?: string; token: () => Promise<string>; onUnauthorized?: () => void }): Api {
  const base = options.functionsUrl.replace(/\/+$/, "");

  async function call<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${await options.token()}`);
    if (options.anonKey) headers.set("apikey", options.anonKey);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(init.json);
    }
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, { ...init, headers, body });
    } catch {
      throw new ApiError(0, "network", `could not reach ${base} (offline, or the server is down)`);
    }
    if (response.status === 204) return undefined as T;
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      const error = payload?.error;
      const apiError = new ApiError(
        response.status,
        typeof error?.code === "string" ? error.code : "http_error",
        typeof error?.message === "string" ? error.message : `HTTP ${response.status}`,
      );
      if (response.status === 401) options.onUnauthorized?.();
      throw apiError;
    }
    return payload as T;
  }

  const query = (params: Record<string, string | undefined | null>) => {
    const search = new URLSearchParams();
    // Absent is undefined or null; an empty string is a value (a metadata filter may ask for "").
    for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null) search.set(key, value);
    const text = search.toString();
    return text ? `?${text}` : "";
  };

  return {
    listRuns: (filter, { limit, cursor }) =>
      call(`/executions-list${query({
        status: filter.status?.length ? filter.status.join(",") : undefined,
        workflowId: filter.workflowId,
        tag: filter.tags?.join(","),
        ...metadataQuery(filter.metadata),
        retryOf: filter.retryOf,
        startedAfter: filter.startedAfter,
        startedBefore: filter.startedBefore,
        limit: String(limit),
        cursor,
      })}`),
    getRun: (id) => call(`/executions-list/${encodeURIComponent(id)}`),
    stats: (filter) =>
      call(`/executions-stats${query({ workflowId: filter.workflowId, tag: filter.tags?.join(","), ...metadataQuery(filter.metadata), startedAfter: filter.startedAfter, startedBefore: filter.startedBefore })}`),
    async series(filter) {
      const series = await call<Series>(`/executions-stats${query({
        bucket: filter.bucket,
        workflowId: filter.workflowId,
        tag: filter.tags?.join(","),
        ...metadataQuery(filter.metadata),
        startedAfter: filter.startedAfter,
        startedBefore: filter.startedBefore,
      })}`);
      // An API from before the series answers with the summary (it ignores `bucket`).
      if (!Array.isArray(series?.buckets)) throw new ApiError(200, "no_series", "this API does not serve time series (executions-stats?bucket=)");
      return series;
    },
    cancelRun: (id) => call(`/executions-update`, { method: "POST", json: { id, status: "cancelled" } }),
    retryRun: (id, idempotencyKey) =>
      call(`/executions-retry/${encodeURIComponent(id)}`, { method: "POST", headers: { "idempotency-key": idempotencyKey } }),
    deleteRun: (id) => call(`/executions-update/${encodeURIComponent(id)}`, { method: "DELETE" }),
    // A dry run needs a requestId too (the schema is the action's); it is never stored.
    bulkDryRun: (action, filter) => call(`/executions-bulk`, { method: "POST", json: { action, filter, dryRun: true, requestId: newRequestId() } }),
    startBulk: (action, filter, requestId) => call(`/executions-bulk`, { method: "POST", json: { action, filter, requestId } }),
    getBulk: (id) => call(`/executions-bulk/${encodeURIComponent(id)}`),
    listAlertEndpoints: async () => (await call<{ data: AlertEndpoint[] }>(`/alerts/endpoints`)).data,
    createAlertEndpoint: (endpoint) => call(`/alerts/endpoints`, { method: "POST", json: endpoint }),
    updateAlertEndpoint: (id, patch) => call(`/alerts/endpoints/${encodeURIComponent(id)}`, { method: "PATCH", json: patch }),
    rotateAlertSecret: (id) => call(`/alerts/endpoints/${encodeURIComponent(id)}/rotate-secret`, { method: "POST" }),
    deleteAlertEndpoint: (id) => call(`/alerts/endpoints/${encodeURIComponent(id)}`, { method: "DELETE" }),
    listAlertDeliveries: (filter, { limit, cursor }) => call(`/alerts/deliveries${query({ status: filter.status, limit: String(limit), cursor })}`),
    async listWorkflows() {
      const workflows: WorkflowSummary[] = [];
      let cursor: string | null = null;
      // At most 10 pages of 100: a filter menu longer than that is not a menu.
      for (let page = 0; page < 10; page++) {
        let result: Page<WorkflowSummary>;
        try {
          result = await call<Page<WorkflowSummary>>(`/workflows${query({ limit: "100", cursor })}`);
        } catch (error) {
          if (error instanceof ApiError && error.status === 404 && page === 0) return null;
          throw error;
        }
        workflows.push(...result.data.map(({ id, name }) => ({ id, name })));
        cursor = result.nextCursor;
        if (!cursor) break;
      }
      return workflows;
    },
  };
}
