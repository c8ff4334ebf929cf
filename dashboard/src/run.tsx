/**
 * One run: status with a timeline, input and output as formatted JSON, the error message, the
 * Temporal ids (linked to the Temporal Web UI when configured), tags, metadata, the run it
 * retries and its own retries, and the actions the API allows: cancel (live runs), retry and
 * delete, each confirmed first; a refusal shows the API's own message. Re-read every
 * pollIntervalMs, so a status change shows without reloading.
 */
import { useState } from "preact/hooks";
import { type Api, ApiError, type Run } from "./api.ts";
import type { AppConfig } from "./config.ts";
import { emptyFilters, filtersToParams, formatDuration, formatRelative, formatTime, isLive, metadataText, newRequestId, runDuration, stuckLabel, stuckState, withMetadata } from "./model.ts";
import { ConfirmDialog, ErrorNote, StatusBadge, TagList, usePolling } from "./ui.tsx";

type Action = "cancel" | "retry" | "delete";

/** How many of a run's retries the page lists (newest first). */
const RETRIES_SHOWN = 10;

export function RunPage(props: { api: Api; id: string; config: AppConfig; backHref: string; onDeleted: (message: string) => void }) {
  const { api, id } = props;
  const [run, setRun] = useState<Run | null>(null);
  const [retries, setRetries] = useState<{ rows: Run[]; more: boolean } | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  usePolling(async () => {
    try {
      // The retries are extra: if they cannot be read, the run still shows (and the next poll tries again).
      const [found, page] = await Promise.all([api.getRun(id), api.listRuns({ retryOf: id }, { limit: RETRIES_SHOWN }).catch(() => null)]);
      setRun(found);
      if (page) setRetries({ rows: page.data, more: page.nextCursor !== null });
      setMissing(false);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setMissing(true);
      else setError(`Could not load the run: ${(e as Error).message}`);
      throw e;
    }
  }, props.config.pollIntervalMs, [id, api], !missing);

  // One key per confirmation: a click that is retried (or doubled) makes one retry, not two.
  const [retryKey, setRetryKey] = useState(() => newRequestId());

  async function act(action: Action) {
    setBusy(true);
    setError(null);
    try {
      if (action === "retry") {
        const retry = await api.retryRun(id, retryKey);
        setRetryKey(newRequestId());
        location.hash = `#/runs/${retry.id}`;
      } else if (action === "cancel") {
        const updated = await api.cancelRun(id);
        setRun(updated);
        setNotice(updated.status === "cancelled" ? "Cancelled." : `Cancel requested: the run is ${updated.status} until Temporal confirms the stop.`);
      } else {
        await api.deleteRun(id);
        props.onDeleted("The run was deleted.");
      }
    } catch (e) {
      setError(`${actionLabels[action]} refused: ${(e as Error).message}`);
    } finally {
      setBusy(false);
      setConfirm(null);
    }
  }

  if (missing) {
    return (
      <section>
        <p><a href={props.backHref}>← Runs</a></p>
        <h1>Run not found</h1>
        <p>There is no run <code>{id}</code> that you can see: it was deleted, or it belongs to someone else.</p>
      </section>
    );
  }
  if (!run) {
    return (
      <section>
        <p><a href={props.backHref}>← Runs</a></p>
        <ErrorNote error={error} />
        <p class="muted">Loading the run…</p>
      </section>
    );
  }

  const now = Date.now();
  const stuck = stuckState(run, now);
  const live = isLive(run.status);
  const stopRequestedAt = (run as { stopRequestedAt?: string | null }).stopRequestedAt ?? null;
  const temporalUrl = props.config.temporalUiUrl && run.temporalWorkflowId
    ? `${props.config.temporalUiUrl}/namespaces/${encodeURIComponent(props.config.temporalNamespace)}/workflows/${encodeURIComponent(run.temporalWorkflowId)}${run.temporalRunId ? `/${encodeURIComponent(run.temporalRunId)}` : ""}`
    : null;

  return (
    <section aria-labelledby="run-title" class="run">
      <p><a href={props.backHref}>← Runs</a></p>
      <div class="page-head">
        <h1 id="run-title">{run.workflow?.name ?? run.workflowId} <StatusBadge status={run.status} /></h1>
        <div class="actions">
          {live && <button type="button" class="secondary" onClick={() => setConfirm("cancel")}>Cancel run</button>}
          <button type="button" class="secondary" onClick={() => setConfirm("retry")}>Retry</button>
          <button type="button" class="danger" onClick={() => setConfirm("delete")}>Delete</button>
        </div>
      </div>
      {stuck && <div class="note warning" role="status">{stuckLabel(stuck, now)}</div>}
      <ErrorNote error={error} onDismiss={() => setError(null)} />
      {notice && <div class="note ok" role="status">{notice}</div>}

      <h2>Timeline</h2>
      <ol class="timeline">
        <li><span>Created</span> <time dateTime={run.createdAt}>{formatTime(run.createdAt)}</time></li>
        <li><span>Started</span> <time dateTime={run.startedAt}>{formatTime(run.startedAt)}</time></li>
        {run.timeoutAt && <li><span>Deadline</span> <time dateTime={run.timeoutAt}>{formatTime(run.timeoutAt)}</time></li>}
        {stopRequestedAt && <li><span>Stop requested</span> <time dateTime={stopRequestedAt}>{formatTime(stopRequestedAt)}</time></li>}
        <li>
          <span>Ended</span>{" "}
          {run.completedAt ? <time dateTime={run.completedAt}>{formatTime(run.completedAt)}</time> : <em>not yet ({run.status})</em>}
        </li>
        <li><span>Duration</span> <strong data-field="duration">{formatDuration(runDuration(run, now))}</strong>{live && " so far"}</li>
      </ol>

      {run.errorMessage && (
        <>
          <h2>Error</h2>
          <pre class="error-message">{run.errorMessage}</pre>
        </>
      )}

      <h2>Details</h2>
      <dl class="details">
        <dt>Execution id</dt><dd class="mono">{run.id}</dd>
        <dt>Workflow</dt><dd>{run.workflow?.name ?? "–"} <span class="mono muted">{run.workflowId}</span></dd>
        <dt>Temporal workflow id</dt>
        <dd class="mono">
          {run.temporalWorkflowId ? (temporalUrl ? <a href={temporalUrl} target="_blank" rel="noopener">{run.temporalWorkflowId}</a> : run.temporalWorkflowId) : "– (not started in Temporal yet)"}
        </dd>
        <dt>Temporal run id</dt><dd class="mono">{run.temporalRunId ?? "–"}</dd>
        {"temporalLink" in run && run.temporalLink && <><dt>Tracked as</dt><dd>{run.temporalLink}</dd></>}
        <dt>Activities executed</dt><dd>{run.activitiesExecuted}</dd>
        {run.retryOf && <><dt>Retry of</dt><dd class="mono"><a href={`#/runs/${run.retryOf}`}>{run.retryOf}</a></dd></>}
        <dt>Tags</dt><dd data-field="tags">{run.tags?.length ? <TagList tags={run.tags} /> : "–"}</dd>
        <dt>Metadata</dt><dd data-field="metadata">{run.metadata && Object.keys(run.metadata).length ? <MetadataList metadata={run.metadata} /> : "–"}</dd>
        <dt>Last updated</dt><dd><time dateTime={run.updatedAt}>{formatTime(run.updatedAt)}</time></dd>
      </dl>
      {!temporalUrl && run.temporalWorkflowId && <p class="muted small">To link to the Temporal Web UI, set temporalUiUrl in config.json (TEMPORAL_UI_URL for npm start).</p>}

      {retries && retries.rows.length > 0 && (
        <>
          <h2>Retries</h2>
          <ul class="retries" data-field="retries">
            {retries.rows.map((r) => (
              <li key={r.id}>
                <StatusBadge status={r.status} />
                <a class="mono" href={`#/runs/${r.id}`}>{r.id}</a>
                <time class="muted" dateTime={r.startedAt} title={formatTime(r.startedAt)}>{formatRelative(r.startedAt, now)}</time>
              </li>
            ))}
          </ul>
          {retries.more && <p class="muted small">The {RETRIES_SHOWN} newest are shown.</p>}
        </>
      )}

      <div class="json-pair">
        <div>
          <h2>Input</h2>
          <pre class="json" data-field="input">{formatJson(run.input)}</pre>
        </div>
        <div>
          <h2>Output</h2>
          <pre class="json" data-field="output">{formatJson(run.output)}</pre>
        </div>
      </div>

      <ConfirmDialog
        open={confirm === "cancel"}
        title="Cancel this run?"
        confirmLabel="Cancel run"
        busy={busy}
        onConfirm={() => act("cancel")}
        onClose={() => !busy && setConfirm(null)}
      >
        <p>The run is marked cancelled{run.temporalWorkflowId ? " and its Temporal workflow is cancelled too" : ""}. This cannot be undone.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === "retry"}
        title="Retry this run?"
        confirmLabel="Retry"
        busy={busy}
        onConfirm={() => act("retry")}
        onClose={() => !busy && setConfirm(null)}
      >
        <p>A new run of {run.workflow?.name ?? "this workflow"} starts in Temporal with the same input, tags and metadata, linked to this one. This run stays as it is.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === "delete"}
        title="Delete this run?"
        confirmLabel="Delete"
        danger
        busy={busy}
        onConfirm={() => act("delete")}
        onClose={() => !busy && setConfirm(null)}
      >
        <p>The record is removed for good{live ? "; a live Temporal run is terminated" : ""}.</p>
      </ConfirmDialog>
    </section>
  );
}

const actionLabels: Record<Action, string> = { cancel: "Cancel", retry: "Retry", delete: "Delete" };

/**
 * Metadata as key = value pairs, by key (jsonb keeps its own order: shortest key first); each
 * value links to the runs with the same value.
 */
function MetadataList({ metadata }: { metadata: Record<string, unknown> }) {
  const runsWith = (key: string, value: unknown) => `#/?${filtersToParams(withMetadata(emptyFilters, key, metadataText(value)))}`;
  return (
    <ul class="metadata">
      {Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => (
        <li key={key}>
          <span class="mono">{key}</span> = <a class="mono" href={runsWith(key, value)} title={`Runs with ${key} = ${metadataText(value)}`}>{JSON.stringify(value)}</a>
        </li>
      ))}
    </ul>
  );
}

function formatJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  return JSON.stringify(value, null, 2);
}
