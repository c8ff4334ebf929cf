/**
 * The SQL of a retry (shared/retry.ts): a new pending execution copied from an original in one
 * statement, inside the caller's transaction, so RLS decides which originals the caller can
 * copy (a user: only their own; the service role: any, for its owner).
 */
import type { Tx } from "../db.ts";
import { dispatchLeaseSql } from "./dispatches.ts";
import { jsonParam } from "./executions.ts";
import type { Json } from "../types.ts";

export interface InsertRetry {
  /** The new row's id (derived from the request id when there is one: shared/retry.ts). */
  id: string;
  originalId: string;
  /** The edited input; undefined copies the original's (null is a null input). */
  input: Json | undefined;
}

/**
 * Inserts the retry of `originalId`: the same workflow, owner, tags and metadata, the same
 * timeout length counted from now (the original's timeout_at - started_at, when it had a
 * deadline after its start), `retry_of` = the original, pending with the dispatch lease (the
 * caller dispatches it right after the commit, as the API's create does, so the INSERT
 * webhook skips it). The lifecycle trigger gives it `execution-<id>` and `dispatched`.
 * Returns false when a row with that id exists already (a repeated request id), or when the
 * caller cannot see the original.
 */
export async function insertRetry(tx: Tx, retry: InsertRetry): Promise<boolean> {
  const rows = await tx`
    insert into public.workflow_executions
      (id, workflow_id, created_by, status, input, timeout_at, tags, metadata, retry_of, dispatch_claimed_until)
    select ${retry.id}::uuid, o.workflow_id, o.created_by, 'pending',
           case when ${retry.input !== undefined} then ${jsonParam(tx, retry.input)}::jsonb else o.input end,
           case when o.timeout_at > o.started_at then now() + (o.timeout_at - o.started_at) end,
           o.tags, o.metadata, o.id, ${dispatchLeaseSql(tx)}
      from public.workflow_executions o
     where o.id = ${retry.originalId}
    on conflict do nothing
    returning id`;
  return rows.length > 0;
}
