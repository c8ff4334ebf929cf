/**
 * The alerts API's request and response schemas (zod), and the types derived from them: one
 * source for the handlers, the service and the OpenAPI document (shared/openapi/document.ts).
 * The URL's address rules depend on configuration, so the service checks them
 * (shared/alerts/url-policy.ts); here only its shape.
 */
import { z } from "zod";

export const alertStatuses = ["failed", "timed_out", "cancelled"] as const;
export type AlertStatus = (typeof alertStatuses)[number];
export const defaultAlertStatuses: AlertStatus[] = ["failed", "timed_out"];

export const deliveryStatuses = ["pending", "delivered", "dead"] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

/** Most endpoints one user may have (each failure fans out to every matching one). */
export const maxEndpointsPerOwner = 20;

const id = z.guid({ error: "must be a UUID" });
const url = z.string().min(1).max(2048).meta({
  description: "Where alerts are POSTed: https to a public address (http and private addresses only where ALERTS_ALLOW_PRIVATE_URLS is set).",
});
const description = z.string().max(500).nullable();
const alertStatus = z.enum(alertStatuses, { error: "must be failed, timed_out or cancelled" });
const statusSet = z.array(alertStatus).min(1, "name at least one status").max(10)
  .transform((statuses) => alertStatuses.filter((s) => statuses.includes(s)))
  .meta({ description: "The statuses that alert (a set of failed, timed_out, cancelled). Default: failed and timed_out." });

export const createAlertEndpointSchema = z.strictObject({
  url,
  description: description.optional(),
  workflowId: id.nullable().optional().meta({ description: "Only executions of this workflow alert; null or absent: every workflow." }),
  statuses: statusSet.optional(),
  enabled: z.boolean().optional(),
  userId: id.optional().meta({ description: "The owner: required for the service role, refused for another user." }),
});
export type CreateAlertEndpointInput = z.output<typeof createAlertEndpointSchema>;

export const updateAlertEndpointSchema = z.strictObject({
  url: url.optional(),
  description: description.optional(),
  workflowId: id.nullable().optional(),
  statuses: statusSet.optional(),
  enabled: z.boolean().optional(),
}).refine((patch) => Object.values(patch).some((v) => v !== undefined), { message: "change at least one field", path: [] });
export type UpdateAlertEndpointInput = z.output<typeof updateAlertEndpointSchema>;

export const listAlertEndpointsSchema = z.strictObject({});

export const listAlertDeliveriesSchema = z.strictObject({
  endpointId: id.optional(),
  status: z.enum(deliveryStatuses, { error: "must be pending, delivered or dead" }).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
});
export type ListAlertDeliveriesFilter = z.output<typeof listAlertDeliveriesSchema>;

/** POST /alerts-deliver: tuning of one run (defaults in shared/alerts/deliver.ts). */
export const deliverOptionsSchema = z.strictObject({
  budgetMs: z.number().int().min(100).max(390_000).optional(),
  batchSize: z.number().int().min(1).max(1000).optional(),
  concurrency: z.number().int().min(1).max(256).optional(),
  timeoutMs: z.number().int().min(100).max(60_000).optional(),
  keepPolling: z.boolean().optional().meta({ description: "Keep polling while nothing is due until the budget ends (default true); false: return once nothing is due." }),
});

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

export const alertEndpointResponseSchema = z.strictObject({
  id: z.string(),
  createdBy: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  workflowId: z.string().nullable(),
  statuses: z.array(alertStatus),
  enabled: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
}).meta({ id: "AlertEndpoint" });
export type AlertEndpoint = z.output<typeof alertEndpointResponseSchema>;

export const alertEndpointWithSecretResponseSchema = alertEndpointResponseSchema.extend({
  secret: z.string().meta({ description: "The signing secret. Shown only here (at create and rotate); store it now." }),
}).meta({ id: "AlertEndpointWithSecret" });
export type AlertEndpointWithSecret = z.output<typeof alertEndpointWithSecretResponseSchema>;

export const alertEndpointListResponseSchema = z.strictObject({ data: z.array(alertEndpointResponseSchema) }).meta({ id: "AlertEndpointList" });

export const alertDeliveryResponseSchema = z.strictObject({
  id: z.string().meta({ description: "Also the x-execution-tracker-delivery header: receivers dedupe on it." }),
  endpointId: z.string(),
  executionId: z.string(),
  event: alertStatus,
  status: z.enum(deliveryStatuses),
  attempts: z.number().int().nonnegative(),
  nextAttemptAt: z.string().nullable().meta({ description: "When a pending delivery is tried next; null once delivered or dead." }),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  createdAt: z.string(),
  payload: z.record(z.string(), z.unknown()).meta({ description: "What the receiver gets as `execution`." }),
}).meta({ id: "AlertDelivery" });
export type AlertDelivery = z.output<typeof alertDeliveryResponseSchema>;

export const alertDeliveryPageResponseSchema = z.strictObject({
  data: z.array(alertDeliveryResponseSchema),
  nextCursor: z.string().nullable(),
}).meta({ id: "AlertDeliveryPage" });
export type AlertDeliveryPage = z.output<typeof alertDeliveryPageResponseSchema>;

export const deliverReportResponseSchema = z.strictObject({
  claimed: z.number().int().nonnegative(),
  delivered: z.number().int().nonnegative(),
  retried: z.number().int().nonnegative(),
  dead: z.number().int().nonnegative(),
  pruned: z.number().int().nonnegative().meta({ description: "Finished log rows older than ALERTS_LOG_RETENTION_DAYS deleted by this run." }),
  complete: z.boolean().meta({ description: "false when the time budget ended with deliveries still due." }),
  durationMs: z.number().nonnegative(),
}).meta({ id: "AlertDeliverReport" });
export type DeliverReport = z.output<typeof deliverReportResponseSchema>;
