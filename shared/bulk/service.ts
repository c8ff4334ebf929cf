/**
 * Bulk actions for one caller (docs/architecture.md §5.4): a dry run counts the filter's
 * matches; a real request is accepted once per (owner, requestId) with the snapshot of the
 * matched ids (at most `maxBulkMatches`, else 400 `too_many_matches` and nothing is written),
 * processed inline for a short budget, then by the processor (shared/bulk/processor.ts).
 *
 * Who is acted on: a user's own executions; the service role names the owner (`userId`) and
 * acts as them. Counting runs as the owner under RLS; the record and its snapshot are written
 * as the service role (users cannot write them), with the owner as an explicit condition.
 */
import { withCaller } from "../db.ts";
import { ConflictError, NotFoundError, TooManyMatchesError } from "../errors.ts";
import { resolveOwner, serviceCaller } from "../identity.ts";
import * as repo from "../repository/bulk.ts";
import type { ExecutionServiceDeps } from "../service.ts";
import type { ExecutionFilter } from "../types.ts";
import { ownerCaller, processBulkActions } from "./processor.ts";
import { type BulkAction, type BulkActionRequest, maxBulkMatches } from "./schemas.ts";

export interface BulkServiceOptions {
  /** How long the accepting POST works on its action before leaving it to the processor. Default 1,000 ms; 0: not at all. */
  inlineBudgetMs?: number;
  /** The per-request bound; default `maxBulkMatches` (tests lower it). */
  maxMatches?: number;
}

export type BulkSubmitResult =
  | { kind: "dryRun"; answer: { dryRun: true; matched: number; limit: number; withinLimit: boolean } }
  | { kind: "accepted"; created: boolean; action: BulkAction };

export function createBulkService(deps: ExecutionServiceDeps, options: BulkServiceOptions = {}) {
  const { sql, caller } = deps;
  const inlineBudgetMs = options.inlineBudgetMs ?? 1_000;
  const maxMatches = options.maxMatches ?? maxBulkMatches;

  async function submit(request: BulkActionRequest): Promise<BulkSubmitResult> {
    const owner = resolveOwner(caller, request.userId) ?? caller.userId!;
    const filter: ExecutionFilter = request.filter;
    const countMatches = () => withCaller(sql, ownerCaller(owner), (tx) => repo.countMatches(tx, filter, owner, maxMatches + 1));
    if (request.dryRun) {
      const matched = await countMatches();
      return { kind: "dryRun", answer: { dryRun: true, matched, limit: maxMatches, withinLimit: matched <= maxMatches } };
    }
    const earlier = await withCaller(sql, serviceCaller, (tx) => repo.findActionByRequest(tx, owner, request.requestId));
    if (earlier) return sameRequest(earlier, request);
    // Counted first (an index count as the owner), so an oversized request writes nothing at all.
    const counted = await countMatches();
    if (counted > maxMatches) throw new TooManyMatchesError(counted, maxMatches);
    const { record, created } = await withCaller(sql, serviceCaller, async (tx) => {
      const accepted = await repo.insertAction(tx, { owner, requestId: request.requestId, action: request.action, filter });
      if (!accepted.created) return accepted; // the same request, accepted concurrently
      const matched = await repo.snapshotItems(tx, accepted.record.id, owner, filter, maxMatches + 1);
      if (matched > maxMatches) throw new TooManyMatchesError(matched, maxMatches); // rolls the record back too
      const empty = { handled: [], done: 0, failed: 0, skipped: 0, errors: [] };
      return { record: matched === 0 ? await repo.recordProgress(tx, accepted.record.id, empty) : { ...accepted.record, matched }, created: true };
    });
    if (!created) return sameRequest(record, request);
    if (inlineBudgetMs > 0 && record.status !== "done") {
      await processBulkActions(deps, { actionId: record.id, budgetMs: inlineBudgetMs }).catch((error) =>
        (deps.log ?? console.error)(`bulk: inline processing of action ${record.id} failed; the processor takes it`, error)
      );
    }
    return { kind: "accepted", created: true, action: await get(record.id) };
  }

  /** The action an earlier request with this requestId made: the same answer, or 409 if this one asks for something else. */
  function sameRequest(record: BulkAction, request: BulkActionRequest): BulkSubmitResult {
    if (record.action !== request.action || canonical(record.filter) !== canonical(request.filter)) {
      throw new ConflictError("this requestId was used for a different bulk action (action or filter); use another requestId");
    }
    return { kind: "accepted", created: false, action: record };
  }

  /** One action (404 when it is not the caller's). */
  async function get(id: string): Promise<BulkAction> {
    const record = await withCaller(sql, caller, (tx) => repo.findAction(tx, id));
    if (!record) throw new NotFoundError("bulk action not found");
    return record;
  }

  /** The caller's most recent actions, newest first (the service role: one owner's with `userId`, or everyone's). */
  async function list(query: { limit: number; userId?: string }): Promise<{ data: BulkAction[] }> {
    const ownerId = caller.role === "service_role" ? query.userId ?? null : (resolveOwner(caller, query.userId), caller.userId);
    return { data: await withCaller(sql, caller, (tx) => repo.listActions(tx, ownerId, query.limit)) };
  }

  return { submit, get, list };
}

/** JSON with sorted keys: the stored filter (jsonb reorders keys) compared with a request's. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
