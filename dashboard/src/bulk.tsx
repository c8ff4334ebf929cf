/**
 * Bulk actions on the runs page: cancel, retry or delete every run matching the page's filters
 * (POST /executions-bulk). A dry run counts the matches first and the dialog says how many;
 * the filter is fixed when the button is pressed (a sliding "last hour" does not move between
 * the count and the action). The action is sent with a requestId made once per confirmation,
 * so a request sent twice acts once, and its progress (matched, done, skipped, failed) is read
 * again every poll until it is done. The runs list shows the effects through its own polling.
 */
import { useState } from "preact/hooks";
import type { Api, BulkAction, BulkDryRun, BulkFilter, BulkKind, RunFilter } from "./api.ts";
import { newRequestId } from "./model.ts";
import { ConfirmDialog, ErrorNote, usePolling } from "./ui.tsx";

const kinds: { kind: BulkKind; label: string }[] = [
  { kind: "cancel", label: "Cancel matching…" },
  { kind: "retry", label: "Retry matching…" },
  { kind: "delete", label: "Delete matching…" },
];

interface Pending {
  kind: BulkKind;
  filter: BulkFilter;
  count: BulkDryRun;
  requestId: string;
}

export function BulkActions(props: { api: Api; filter: () => RunFilter; pollIntervalMs: number }) {
  const { api } = props;
  const [pending, setPending] = useState<Pending | null>(null);
  const [action, setAction] = useState<BulkAction | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const finished = action !== null && (action.status === "done" || action.status === "failed");
  usePolling(async () => {
    if (!action || finished) return;
    try {
      setAction(await api.getBulk(action.id));
    } catch (e) {
      setError(`Could not read the progress: ${(e as Error).message}`);
      throw e;
    }
  }, props.pollIntervalMs, [action?.id, finished], action !== null && !finished);

  async function ask(kind: BulkKind) {
    setBusy(true);
    setError(null);
    try {
      const filter = toBulkFilter(props.filter());
      setPending({ kind, filter, count: await api.bulkDryRun(kind, filter), requestId: newRequestId() });
    } catch (e) {
      setError(`Could not count the matching runs: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  }

  async function confirm() {
    if (!pending) return;
    setBusy(true);
    try {
      setAction(await api.startBulk(pending.kind, pending.filter, pending.requestId));
      setPending(null);
    } catch (e) {
      setError(`${verbs[pending.kind]} refused: ${(e as Error).message}`);
      setPending(null);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="bulk">
      <div class="bulk-buttons" role="group" aria-label="Act on every run matching these filters">
        {kinds.map(({ kind, label }) => (
          <button key={kind} type="button" class={kind === "delete" ? "secondary danger-text" : "secondary"} disabled={busy} onClick={() => ask(kind)}>{label}</button>
        ))}
      </div>
      <ErrorNote error={error} onDismiss={() => setError(null)} />
      {action && <BulkProgress action={action} onDismiss={finished ? () => setAction(null) : undefined} />}
      <ConfirmDialog
        open={pending !== null}
        title={pending ? question(pending) : ""}
        confirmLabel={pending ? verbs[pending.kind] : ""}
        danger={pending?.kind === "delete"}
        busy={busy}
        confirmDisabled={!pending || pending.count.matched === 0 || !pending.count.withinLimit}
        onConfirm={confirm}
        onClose={() => !busy && setPending(null)}
      >
        {pending && <p data-field="bulk-explanation">{explanation(pending)}</p>}
      </ConfirmDialog>
    </div>
  );
}

function BulkProgress({ action, onDismiss }: { action: BulkAction; onDismiss?: () => void }) {
  const handled = action.done + action.skipped + action.failed;
  return (
    <div class={`note ${action.status === "failed" || action.failed > 0 ? "error" : action.status === "done" ? "ok" : "info"}`} role="status" data-bulk-status={action.status}>
      <span>
        {verbs[action.action]} of {action.matched} {action.matched === 1 ? "run" : "runs"}: <strong>{statusWords[action.status]}</strong>
        {" "}· <span data-bulk="done">{action.done}</span> done · <span data-bulk="skipped">{action.skipped}</span> skipped
        {" "}· <span data-bulk="failed">{action.failed}</span> failed
        {action.status !== "done" && action.status !== "failed" && ` (${handled} of ${action.matched} handled)`}
        {action.lastError && <> · {action.lastError}</>}
        {action.errors.length > 0 && <> · first error: {action.errors[0].reason}</>}
      </span>
      {onDismiss && <button type="button" class="link" onClick={onDismiss}>Dismiss</button>}
    </div>
  );
}

/** The page's filter as a bulk action's (the same fields; the API takes absent ones as "any"). */
function toBulkFilter(filter: RunFilter): BulkFilter {
  const out: BulkFilter = {};
  if (filter.status?.length) out.status = filter.status;
  if (filter.workflowId) out.workflowId = filter.workflowId;
  if (filter.tags?.length) out.tags = filter.tags;
  if (filter.metadata && Object.keys(filter.metadata).length) out.metadata = filter.metadata;
  if (filter.startedAfter) out.startedAfter = filter.startedAfter;
  if (filter.startedBefore) out.startedBefore = filter.startedBefore;
  return out;
}

const verbs: Record<BulkKind, string> = { cancel: "Cancel", retry: "Retry", delete: "Delete" };
const statusWords: Record<BulkAction["status"], string> = { queued: "queued", running: "in progress", done: "done", failed: "stopped" };

function question({ kind, count }: Pending): string {
  if (count.matched === 0) return "No run matches these filters";
  if (!count.withinLimit) return `More than ${count.limit.toLocaleString("en")} runs match`;
  return `${verbs[kind]} ${count.matched.toLocaleString("en")} matching ${count.matched === 1 ? "run" : "runs"}?`;
}

function explanation({ kind, count }: Pending): string {
  if (count.matched === 0) return "Nothing would change. Change the filters and try again.";
  if (!count.withinLimit) return `One action acts on at most ${count.limit.toLocaleString("en")} runs. Narrow the filters (a workflow, a status, a time range) and try again.`;
  const only = "Only the runs matching now are acted on; runs that start later are not.";
  if (kind === "cancel") return `Live runs are cancelled, and so are their Temporal workflows; runs that have already ended are skipped. ${only}`;
  if (kind === "retry") return `Each one gets a new run of its workflow with the same input, tags and metadata (a run whose workflow names no Temporal type cannot be retried). ${only}`;
  return `The records are removed for good; live Temporal runs are terminated. ${only}`;
}
