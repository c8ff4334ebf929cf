/**
 * The alerts service: a caller's alert endpoints (create, list, get, change, delete, rotate the
 * secret) and their delivery log. RLS scopes a user to their own endpoints and deliveries
 * (another user's is a 404, never a 403). The secret is generated here and returned only by
 * create and rotate; the database never lets a user read it back.
 */
import { decodeCursor, encodeCursor } from "../cursor.ts";
import { type Sql, type Tx, withCaller } from "../db.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import { resolveOwner } from "../identity.ts";
import * as repo from "../repository/alerts.ts";
import type { Caller } from "../types.ts";
import {
  type AlertDeliveryPage,
  type AlertEndpoint,
  type AlertEndpointWithSecret,
  type CreateAlertEndpointInput,
  defaultAlertStatuses,
  type ListAlertDeliveriesFilter,
  maxEndpointsPerOwner,
  type UpdateAlertEndpointInput,
} from "./schemas.ts";
import { newAlertSecret } from "./signing.ts";
import { alertUrlProblem } from "./url-policy.ts";

export interface AlertServiceDeps {
  sql: Sql;
  caller: Caller;
  /** ALERTS_ALLOW_PRIVATE_URLS: http and private addresses are allowed. */
  allowPrivateUrls: boolean;
}

export type AlertService = ReturnType<typeof createAlertService>;

export function createAlertService(deps: AlertServiceDeps) {
  const { sql, caller, allowPrivateUrls } = deps;
  const inCallerTx = <T>(work: (tx: Tx) => Promise<T>) => withCaller(sql, caller, work);

  function checkUrl(url: string | undefined) {
    const problem = url === undefined ? null : alertUrlProblem(url, allowPrivateUrls);
    if (problem) throw new ValidationError("invalid url", [{ path: "url", message: problem }]);
  }

  async function createEndpoint(input: CreateAlertEndpointInput): Promise<AlertEndpointWithSecret> {
    const owner = resolveOwner(caller, input.userId);
    checkUrl(input.url);
    const secret = newAlertSecret();
    const endpoint = await inCallerTx((tx) =>
      repo.insertEndpoint(tx, {
        createdBy: owner,
        url: input.url,
        description: input.description ?? null,
        workflowId: input.workflowId ?? null,
        statuses: input.statuses ?? defaultAlertStatuses,
        enabled: input.enabled ?? true,
        secret,
      }, maxEndpointsPerOwner)
    );
    if (!endpoint) throw new ConflictError(`at most ${maxEndpointsPerOwner} alert endpoints per user`);
    return { ...endpoint, secret };
  }

  async function listEndpoints(): Promise<{ data: AlertEndpoint[] }> {
    return { data: await inCallerTx((tx) => repo.listEndpoints(tx, caller.role === "service_role" ? null : caller.userId)) };
  }

  async function getEndpoint(id: string): Promise<AlertEndpoint> {
    return found(await inCallerTx((tx) => repo.getEndpoint(tx, id)));
  }

  async function updateEndpoint(id: string, patch: UpdateAlertEndpointInput): Promise<AlertEndpoint> {
    checkUrl(patch.url);
    return found(await inCallerTx((tx) => repo.updateEndpoint(tx, id, patch)));
  }

  async function deleteEndpoint(id: string): Promise<void> {
    if (!(await inCallerTx((tx) => repo.deleteEndpoint(tx, id)))) throw new NotFoundError("alert endpoint not found");
  }

  /** A new secret: signatures with the old one stop at once (receivers switch when they store the new one). */
  async function rotateSecret(id: string): Promise<AlertEndpointWithSecret> {
    const secret = newAlertSecret();
    const endpoint = found(await inCallerTx((tx) => repo.setEndpointSecret(tx, id, secret)));
    return { ...endpoint, secret };
  }

  async function listDeliveries(filter: ListAlertDeliveriesFilter): Promise<AlertDeliveryPage> {
    const after = filter.cursor ? decodeCursor(filter.cursor) : undefined;
    const ownerId = caller.role === "service_role" ? null : caller.userId;
    const rows = await inCallerTx((tx) =>
      repo.listDeliveries(tx, { ownerId, endpointId: filter.endpointId, status: filter.status, after, limit: filter.limit })
    );
    const page = rows.slice(0, filter.limit);
    const nextCursor = rows.length > filter.limit ? encodeCursor(page[page.length - 1].position) : null;
    return { data: page.map((row) => row.delivery), nextCursor };
  }

  return { createEndpoint, listEndpoints, getEndpoint, updateEndpoint, deleteEndpoint, rotateSecret, listDeliveries };
}

function found(endpoint: AlertEndpoint | null): AlertEndpoint {
  if (!endpoint) throw new NotFoundError("alert endpoint not found");
  return endpoint;
}
