/**
 * Failure alerts (#/alerts): the user's endpoints and the delivery log. An endpoint is an URL
 * that gets a signed POST when one of their runs enters a status it lists (optionally only for
 * one workflow). Its secret is shown once, when created or rotated (the API never shows it
 * again). The log (newest first, "load more" over the API's cursor) is read again every poll,
 * as many rows as are shown (at most 100), so pending deliveries turn delivered or dead in place.
 */
import { useRef, useState } from "preact/hooks";
import type { AlertDelivery, AlertEndpoint, AlertEndpointWithSecret, AlertStatus, Api, WorkflowSummary } from "./api.ts";
import { appendPage, formatTime, statusLabels } from "./model.ts";
import { ConfirmDialog, ErrorNote, StatusBadge, usePolling } from "./ui.tsx";

const alertStatuses: AlertStatus[] = ["failed", "timed_out", "cancelled"];
const LOG_PAGE = 25;

export function AlertsPage(props: { api: Api; workflows: WorkflowSummary[]; pollIntervalMs: number }) {
  const { api } = props;
  const [endpoints, setEndpoints] = useState<AlertEndpoint[] | null>(null);
  const [secret, setSecret] = useState<AlertEndpointWithSecret | null>(null);
  const [deleting, setDeleting] = useState<AlertEndpoint | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  usePolling(async () => {
    try {
      setEndpoints(await api.listAlertEndpoints());
    } catch (e) {
      setError(`Could not load the endpoints: ${(e as Error).message}`);
      throw e;
    }
  }, props.pollIntervalMs, [api]);

  /**
   * Runs an endpoint change, shows the API's message when it is refused, and reads the
   * endpoints again either way. True when the change was made.
   */
  async function change(what: string, work: () => Promise<void>): Promise<boolean> {
    setBusy(true);
    setError(null);
    let done = false;
    try {
      await work();
      done = true;
    } catch (e) {
      setError(`${what} refused: ${(e as Error).message}`);
    }
    try {
      setEndpoints(await api.listAlertEndpoints());
    } catch {
      // the next poll shows it
    } finally {
      setBusy(false);
    }
    return done;
  }

  /** The box shows the new state at once (a controlled checkbox would snap back until the API answers). */
  function setEnabled(endpoint: AlertEndpoint, enabled: boolean) {
    setEndpoints((list) => list && list.map((x) => (x.id === endpoint.id ? { ...x, enabled } : x)));
    return change("Change", async () => void (await api.updateAlertEndpoint(endpoint.id, { enabled })));
  }

  const workflowName = (id: string | null) => (id === null ? "every workflow" : props.workflows.find((w) => w.id === id)?.name ?? id);

  return (
    <section aria-labelledby="alerts-title">
      <div class="page-head">
        <h1 id="alerts-title">Alerts</h1>
      </div>
      <p class="muted">When one of your runs fails (or times out, or is cancelled, as an endpoint lists), a signed JSON POST goes to each matching endpoint, retried with backoff until it answers 2xx.</p>
      <ErrorNote error={error} onDismiss={() => setError(null)} />
      {secret && (
        <div class="note ok secret" role="status" data-secret-for={secret.id}>
          <span>
            Signing secret of <span class="mono">{secret.url}</span>. Store it now: it is not shown again.
            <code class="mono" data-field="secret">{secret.secret}</code>
          </span>
          <button type="button" class="link" onClick={() => setSecret(null)}>Done</button>
        </div>
      )}

      <h2>Endpoints</h2>
      {endpoints === null ? (
        <p class="muted">Loading…</p>
      ) : endpoints.length === 0 ? (
        <p class="empty">No endpoints yet: add one below.</p>
      ) : (
        <table class="endpoints data">
          <thead>
            <tr><th scope="col">URL</th><th scope="col">Alerts on</th><th scope="col">Workflow</th><th scope="col">Enabled</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
          </thead>
          <tbody>
            {endpoints.map((e) => (
              <tr key={e.id} data-endpoint-id={e.id}>
                <td data-label="URL"><span class="mono">{e.url}</span>{e.description && <div class="muted small">{e.description}</div>}</td>
                <td data-label="Alerts on">{e.statuses.map((s) => statusLabels[s]).join(", ")}</td>
                <td data-label="Workflow">{workflowName(e.workflowId)}</td>
                <td data-label="Enabled">
                  <input
                    type="checkbox"
                    checked={e.enabled}
                    disabled={busy}
                    aria-label={`Send alerts to ${e.url}`}
                    onChange={(ev) => setEnabled(e, (ev.currentTarget as HTMLInputElement).checked)}
                  />
                </td>
                <td class="actions">
                  <button type="button" class="secondary" disabled={busy} onClick={() => change("Rotate", async () => setSecret(await api.rotateAlertSecret(e.id)))}>Rotate secret</button>
                  <button type="button" class="secondary danger-text" disabled={busy} onClick={() => setDeleting(e)}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <NewEndpointForm
        workflows={props.workflows}
        busy={busy}
        onCreate={(endpoint) => change("Adding the endpoint", async () => setSecret(await api.createAlertEndpoint(endpoint)))}
      />

      <DeliveryLog api={api} endpoints={endpoints ?? []} pollIntervalMs={props.pollIntervalMs} />

      <ConfirmDialog
        open={deleting !== null}
        title="Delete this endpoint?"
        confirmLabel="Delete"
        danger
        busy={busy}
        onConfirm={() => deleting && change("Delete", async () => {
          await api.deleteAlertEndpoint(deleting.id);
          setDeleting(null);
        })}
        onClose={() => !busy && setDeleting(null)}
      >
        <p>No more alerts go to <span class="mono">{deleting?.url}</span>, and its delivery log is removed.</p>
      </ConfirmDialog>
    </section>
  );
}

function NewEndpointForm(props: {
  workflows: WorkflowSummary[];
  busy: boolean;
  /** True when the endpoint was added: the form is cleared; otherwise it keeps what was typed. */
  onCreate: (endpoint: { url: string; description?: string; workflowId?: string; statuses: AlertStatus[] }) => Promise<boolean>;
}) {
  const form = useRef<HTMLFormElement>(null);
  return (
    <form
      ref={form}
      class="new-endpoint"
      aria-labelledby="new-endpoint-title"
      onSubmit={async (e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget as HTMLFormElement);
        const statuses = alertStatuses.filter((s) => data.get(`status-${s}`) === "on");
        const description = String(data.get("description") ?? "").trim();
        const workflowId = String(data.get("workflowId") ?? "");
        const added = await props.onCreate({ url: String(data.get("url") ?? "").trim(), statuses, ...(description ? { description } : {}), ...(workflowId ? { workflowId } : {}) });
        if (added) form.current?.reset();
      }}
    >
      <h2 id="new-endpoint-title">Add an endpoint</h2>
      <div class="filters">
        <label><span>URL</span><input type="url" name="url" required placeholder="https://example.com/hooks/runs" /></label>
        <label><span>Description</span><input type="text" name="description" placeholder="on-call" /></label>
        <label>
          <span>Workflow</span>
          <select name="workflowId">
            <option value="">Every workflow</option>
            {props.workflows.map((w) => <option key={w.id} value={w.id}>{w.name}</option>)}
          </select>
        </label>
        <fieldset class="statuses">
          <legend>Alerts on</legend>
          {alertStatuses.map((s) => (
            <label key={s} class="check"><input type="checkbox" name={`status-${s}`} defaultChecked={s !== "cancelled"} /> {statusLabels[s]}</label>
          ))}
        </fieldset>
      </div>
      <button type="submit" class="primary" disabled={props.busy}>Add endpoint</button>
    </form>
  );
}

function DeliveryLog(props: { api: Api; endpoints: AlertEndpoint[]; pollIntervalMs: number }) {
  const [status, setStatus] = useState<AlertDelivery["status"] | "">("");
  const [log, setLog] = useState<{ rows: AlertDelivery[]; cursor: string | null; status: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const logRef = useRef(log);
  logRef.current = log;

  // The newest rows again, as many as are shown (a page at least, the API's 100 at most).
  usePolling(async () => {
    const shown = logRef.current?.status === status ? logRef.current.rows.length : 0;
    try {
      const page = await props.api.listAlertDeliveries({ status: status || undefined }, { limit: Math.min(Math.max(shown, LOG_PAGE), 100) });
      setLog({ rows: page.data, cursor: page.nextCursor, status });
      setError(null);
    } catch (e) {
      setError(`Could not load the deliveries: ${(e as Error).message}`);
      throw e;
    }
  }, props.pollIntervalMs, [status, props.api]);

  async function loadMore() {
    const from = logRef.current;
    if (!from?.cursor) return;
    try {
      const page = await props.api.listAlertDeliveries({ status: status || undefined }, { limit: LOG_PAGE, cursor: from.cursor });
      setLog({ ...appendPage(from, page), status: from.status });
    } catch (e) {
      setError(`Could not load more: ${(e as Error).message}`);
    }
  }

  const urlOf = (id: string) => props.endpoints.find((e) => e.id === id)?.url ?? id;
  const rows = log?.status === status ? log.rows : null;
  return (
    <>
      <div class="page-head">
        <h2>Deliveries</h2>
        <label class="inline">
          <span>Show</span>
          <select name="delivery-status" value={status} onChange={(e) => setStatus((e.currentTarget as HTMLSelectElement).value as AlertDelivery["status"] | "")}>
            <option value="">All</option>
            <option value="pending">Pending</option>
            <option value="delivered">Delivered</option>
            <option value="dead">Dead</option>
          </select>
        </label>
      </div>
      <ErrorNote error={error} />
      {rows === null ? (
        <p class="muted">Loading…</p>
      ) : rows.length === 0 ? (
        <p class="empty">No deliveries{status ? ` ${status}` : ""} yet.</p>
      ) : (
        <table class="deliveries data">
          <thead>
            <tr><th scope="col">Delivery</th><th scope="col">Run</th><th scope="col">Endpoint</th><th scope="col">Attempts</th><th scope="col">Created</th></tr>
          </thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.id} data-delivery-id={d.id} data-status={d.status}>
                <td data-label="Delivery">
                  <span class={`badge delivery-${d.status}`}>{d.status}</span>
                  {d.deliveredAt && <div class="muted small">at {formatTime(d.deliveredAt)}</div>}
                  {d.status === "pending" && d.nextAttemptAt && <div class="muted small">next try {formatTime(d.nextAttemptAt)}</div>}
                </td>
                <td data-label="Run"><StatusBadge status={d.event} /> <a class="mono" href={`#/runs/${d.executionId}`}>{d.executionId.slice(0, 8)}</a></td>
                <td data-label="Endpoint"><span class="mono ellipsis" title={urlOf(d.endpointId)}>{urlOf(d.endpointId)}</span></td>
                <td data-label="Attempts">
                  {d.attempts}
                  {(d.lastStatusCode !== null || d.lastError) && <div class="muted small">{d.lastStatusCode !== null ? `HTTP ${d.lastStatusCode}` : ""}{d.lastError ? ` ${d.lastError}` : ""}</div>}
                </td>
                <td data-label="Created"><time dateTime={d.createdAt}>{formatTime(d.createdAt)}</time></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {log?.cursor && rows && <div class="more"><button type="button" class="secondary" onClick={loadMore}>Load more</button></div>}
    </>
  );
}
