/** Small shared pieces: status badges, the filter bar, the confirm dialog, polling. */
import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import type { WorkflowSummary } from "./api.ts";
import { type ExecutionStatus, type Filters, fromLocalInput, parseTagInput, rangePresets, statusLabels, toLocalInput, withMetadata } from "./model.ts";

export function StatusBadge({ status }: { status: ExecutionStatus }) {
  return <span class={`badge status-${status}`} data-status={status}>{statusLabels[status]}</span>;
}

/**
 * Calls `tick` now (whenever `deps` change, paused or not) and then every `ms` while `enabled`
 * and the tab is visible. Returns when it last succeeded.
 */
export function usePolling(tick: () => Promise<void>, ms: number, deps: unknown[], enabled = true): Date | null {
  const [lastOk, setLastOk] = useState<Date | null>(null);
  const tickRef = useRef(tick);
  tickRef.current = tick;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      clearTimeout(timer);
      if (document.visibilityState !== "hidden") {
        try {
          await tickRef.current();
          if (!stopped) setLastOk(new Date());
        } catch {
          // the tick shows its own error; try again next time
        }
      }
      if (!stopped && enabled) timer = setTimeout(run, ms);
    };
    const onVisible = () => enabled && document.visibilityState === "visible" && run();
    document.addEventListener("visibilitychange", onVisible);
    run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [...deps, ms, enabled]);
  return lastOk;
}

export function FilterBar(props: {
  filters: Filters;
  workflows: WorkflowSummary[];
  workflowsDerived: boolean;
  onChange: (filters: Filters) => void;
}) {
  const { filters, onChange } = props;
  return (
    <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
      <label>
        <span>Workflow</span>
        <select
          name="workflow"
          value={filters.workflowId ?? ""}
          onChange={(e) => onChange({ ...filters, workflowId: (e.currentTarget as HTMLSelectElement).value || null })}
          title={props.workflowsDerived ? "Workflows seen in the loaded runs (this deployment has no workflows function)" : undefined}
        >
          <option value="">All workflows</option>
          {props.workflows.map((w) => <option key={w.id} value={w.id}>{w.name}</option>)}
          {filters.workflowId && !props.workflows.some((w) => w.id === filters.workflowId) && (
            <option value={filters.workflowId}>{filters.workflowId}</option>
          )}
        </select>
      </label>
      <label>
        <span>Started</span>
        <select
          name="range"
          value={filters.range}
          onChange={(e) => {
            const range = (e.currentTarget as HTMLSelectElement).value as Filters["range"];
            const from = range === "custom" ? filters.from ?? new Date(Date.now() - 24 * 3600_000).toISOString() : null;
            onChange({ ...filters, range, from, to: range === "custom" ? filters.to : null });
          }}
        >
          {rangePresets.map((p) => <option key={p.value} value={p.value}>{p.label}</option>)}
        </select>
      </label>
      <TagFilter tags={filters.tags} onChange={(tags) => onChange({ ...filters, tags })} />
      <MetadataFilter metadata={filters.metadata} onRemove={(key) => onChange(withMetadata(filters, key, null))} />
      {filters.range === "custom" && (
        <>
          <label>
            <span>From</span>
            <input
              type="datetime-local"
              name="from"
              value={toLocalInput(filters.from)}
              onChange={(e) => onChange({ ...filters, from: fromLocalInput((e.currentTarget as HTMLInputElement).value) })}
            />
          </label>
          <label>
            <span>Before</span>
            <input
              type="datetime-local"
              name="to"
              value={toLocalInput(filters.to)}
              onChange={(e) => onChange({ ...filters, to: fromLocalInput((e.currentTarget as HTMLInputElement).value) })}
            />
          </label>
        </>
      )}
    </form>
  );
}

/**
 * Tags to filter by, typed with commas or spaces between them: applied when the field is
 * committed (Enter, or leaving it); a tag the API would refuse is named and nothing applied.
 */
function TagFilter({ tags, onChange }: { tags: string[]; onChange: (tags: string[]) => void }) {
  const [text, setText] = useState(tags.join(", "));
  const [error, setError] = useState<string | null>(null);
  const errorId = useId();
  // The URL (a tag clicked on a run, back and forward) changes the tags from outside.
  useEffect(() => {
    setText(tags.join(", "));
    setError(null);
  }, [tags.join(",")]);
  const commit = (value: string) => {
    const parsed = parseTagInput(value);
    if ("error" in parsed) return setError(parsed.error);
    setError(null);
    if (parsed.tags.join(",") !== tags.join(",")) onChange(parsed.tags);
    else setText(parsed.tags.join(", "));
  };
  return (
    <label>
      <span>Tags (all of)</span>
      <input
        type="text"
        name="tags"
        value={text}
        placeholder="billing, eu"
        spellcheck={false}
        autocomplete="off"
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? errorId : undefined}
        onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)}
        onChange={(e) => commit((e.currentTarget as HTMLInputElement).value)}
      />
      {error && <small id={errorId} class="field-error" role="alert">{error}</small>}
    </label>
  );
}

/** The metadata values the runs must have (set from a run's page); each one can be removed. */
function MetadataFilter({ metadata, onRemove }: { metadata: Record<string, string>; onRemove: (key: string) => void }) {
  const entries = Object.entries(metadata);
  if (!entries.length) return null;
  return (
    <div class="metadata-filter" role="group" aria-label="Metadata filters">
      <span>Metadata</span>
      <ul class="tags">
        {entries.map(([key, value]) => (
          <li key={key}>
            <button type="button" class="tag" data-metadata-key={key} aria-label={`Remove the filter ${key} = ${value}`} onClick={() => onRemove(key)}>
              {key} = {value} <span aria-hidden="true">×</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** A run's tags; each one a button that filters the runs by it. */
export function TagList({ tags, onTag }: { tags: string[]; onTag?: (tag: string) => void }) {
  if (!tags.length) return null;
  return (
    <ul class="tags" aria-label="Tags">
      {tags.map((tag) => (
        <li key={tag}>
          {onTag ? <button type="button" class="tag" title={`Show only runs tagged ${tag}`} onClick={() => onTag(tag)}>{tag}</button> : <a class="tag" href={`#/?tag=${encodeURIComponent(tag)}`}>{tag}</a>}
        </li>
      ))}
    </ul>
  );
}

/** A modal question (native <dialog>: focus moves into it, Esc closes it). */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  /** Nothing to confirm (for example no run matches): only "Keep it" works. */
  confirmDisabled?: boolean;
  onConfirm: () => void;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby={titleId} onClose={props.onClose} onCancel={props.onClose}>
      <h2 id={titleId}>{props.title}</h2>
      <div class="confirm-body">{props.children}</div>
      <div class="actions">
        <button type="button" class="secondary" onClick={props.onClose} autofocus>Keep it</button>
        <button type="button" class={props.danger ? "danger" : "primary"} disabled={props.busy || props.confirmDisabled} onClick={props.onConfirm}>
          {props.busy ? "Working…" : props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

export function ErrorNote({ error, onDismiss }: { error: string | null; onDismiss?: () => void }) {
  if (!error) return null;
  return (
    <div class="note error" role="alert">
      <span>{error}</span>
      {onDismiss && <button type="button" class="link" onClick={onDismiss}>Dismiss</button>}
    </div>
  );
}

export function LiveIndicator({ lastUpdate, intervalMs, paused, onToggle }: { lastUpdate: Date | null; intervalMs: number; paused: boolean; onToggle: () => void }) {
  return (
    <p class="live" aria-live="off">
      <span class={`dot ${paused ? "paused" : ""}`} aria-hidden="true" />
      {paused ? "Live updates paused" : `Live: polls every ${Math.round(intervalMs / 100) / 10} s`}
      {lastUpdate && !paused && <span class="muted"> · updated {lastUpdate.toLocaleTimeString()}</span>}
      <button type="button" class="link" onClick={onToggle} aria-pressed={paused}>{paused ? "Resume" : "Pause"}</button>
    </p>
  );
}
