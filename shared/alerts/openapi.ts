/**
 * The alerts functions' part of the OpenAPI document (shared/openapi/document.ts spreads these
 * into its operations and component schemas): the same shapes as its `Operation`, kept here
 * so that the alerts' API is described next to its schemas.
 */
import type { z } from "zod";
import * as s from "./schemas.ts";

interface AlertOperation {
  fn: "alerts" | "alerts-deliver";
  method: "get" | "post" | "patch" | "delete";
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  auth: "caller" | "internal";
  query?: z.ZodObject;
  queryNotes?: Record<string, string>;
  pathId?: string;
  body?: { schema: string; required: boolean; description?: string };
  ok: Record<number, { description: string; schema: string | null }>;
  errors?: number[];
}

const signing =
  "Each delivery is a POST of `{id, event, createdAt, execution}` with `x-execution-tracker-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`, " +
  "`x-execution-tracker-delivery: <delivery id>` (dedupe on it: sending is at-least-once) and `x-execution-tracker-event: <status>`. " +
  "Verify with `verifyAlertSignature(secret, header, rawBody, toleranceSeconds)` (shared/alerts/signing.ts).";

export function alertOperations(): AlertOperation[] {
  return [
    {
      fn: "alerts", method: "post", path: "/endpoints", operationId: "createAlertEndpoint", auth: "caller",
      summary: "Register a failure-alert endpoint (the answer shows its secret, once)",
      description: "When an execution of the owner enters one of `statuses` (optionally only of `workflowId`), a signed JSON POST is sent to `url`, retried with backoff, " +
        "dead after 8 attempts. " + signing + " At most 20 endpoints per user (409 beyond).",
      body: { schema: "CreateAlertEndpointRequest", required: true },
      ok: { 201: { description: "Created, with its secret (not shown again).", schema: "AlertEndpointWithSecret" } },
      errors: [403, 404, 409],
    },
    {
      fn: "alerts", method: "get", path: "/endpoints", operationId: "listAlertEndpoints", auth: "caller",
      summary: "The caller's alert endpoints (never their secrets)",
      ok: { 200: { description: "Every endpoint of the caller, oldest first.", schema: "AlertEndpointList" } },
    },
    {
      fn: "alerts", method: "get", path: "/endpoints/{id}", operationId: "getAlertEndpoint", auth: "caller", pathId: "alert endpoint id",
      summary: "One alert endpoint (404 when not the caller's)",
      ok: { 200: { description: "The endpoint.", schema: "AlertEndpoint" } },
      errors: [404],
    },
    {
      fn: "alerts", method: "patch", path: "/endpoints/{id}", operationId: "updateAlertEndpoint", auth: "caller", pathId: "alert endpoint id",
      summary: "Change an endpoint's url, description, workflow filter, statuses or enabled",
      description: "A disabled endpoint gets no new deliveries; its pending ones wait and are sent once it is enabled again.",
      body: { schema: "UpdateAlertEndpointRequest", required: true },
      ok: { 200: { description: "The endpoint after the change.", schema: "AlertEndpoint" } },
      errors: [404],
    },
    {
      fn: "alerts", method: "delete", path: "/endpoints/{id}", operationId: "deleteAlertEndpoint", auth: "caller", pathId: "alert endpoint id",
      summary: "Delete an endpoint and its delivery log",
      ok: { 204: { description: "Deleted.", schema: null } },
      errors: [404],
    },
    {
      fn: "alerts", method: "post", path: "/endpoints/{id}/rotate-secret", operationId: "rotateAlertEndpointSecret", auth: "caller", pathId: "alert endpoint id",
      summary: "Replace the endpoint's secret (the answer shows the new one, once)",
      description: "Deliveries are signed with the new secret from now on, retries of earlier ones included.",
      ok: { 200: { description: "The endpoint with its new secret.", schema: "AlertEndpointWithSecret" } },
      errors: [404],
    },
    {
      fn: "alerts", method: "get", path: "/deliveries", operationId: "listAlertDeliveries", auth: "caller",
      summary: "The delivery log, newest first, keyset-paginated",
      description: "Every delivery of the caller's endpoints (or one endpoint's): pending (with attempts, the last error and when it is tried next), delivered or dead.",
      query: s.listAlertDeliveriesSchema,
      queryNotes: { cursor: "The previous page's `nextCursor`." },
      ok: { 200: { description: "A page.", schema: "AlertDeliveryPage" } },
    },
    {
      fn: "alerts-deliver", method: "post", path: "", operationId: "deliverAlerts", auth: "internal",
      summary: "One run of the alert deliverer (internal: pg_cron every minute)",
      description: "Sends due deliveries concurrently (a timeout each), records the outcomes, keeps polling until its budget ends unless `keepPolling` is false. An empty body uses the defaults.",
      body: { schema: "AlertDeliverOptions", required: false },
      ok: { 200: { description: "What the run did.", schema: "AlertDeliverReport" } },
    },
  ];
}

export function alertComponentSchemas(): Record<string, z.ZodType> {
  return {
    CreateAlertEndpointRequest: s.createAlertEndpointSchema,
    UpdateAlertEndpointRequest: s.updateAlertEndpointSchema,
    AlertDeliverOptions: s.deliverOptionsSchema,
    AlertEndpoint: s.alertEndpointResponseSchema,
    AlertEndpointWithSecret: s.alertEndpointWithSecretResponseSchema,
    AlertEndpointList: s.alertEndpointListResponseSchema,
    AlertDelivery: s.alertDeliveryResponseSchema,
    AlertDeliveryPage: s.alertDeliveryPageResponseSchema,
    AlertDeliverReport: s.deliverReportResponseSchema,
  };
}
