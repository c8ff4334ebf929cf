/**
 * Exports of the execution list: NDJSON (one Execution as JSON per line, the list's shape) or
 * CSV (RFC 4180: a fixed header row, CRLF line ends, a cell quoted when it holds `"`, `,`, CR
 * or LF, quotes doubled; null is an empty cell; input, output and metadata as JSON text).
 * `tags` is one cell of the tags joined by `;` (`billing;nightly`, empty for none): a tag is
 * `[A-Za-z0-9_.:/-]` only, so `;` never occurs inside one and splitting on it is exact, and
 * the cell never needs quoting. `metadata` is the JSON object (`{}` for none); `retryOf` the
 * id of the execution this one retries, or empty.
 *
 * CSV formula injection: a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and
 * some also tab or CR) as a formula, and a user's own input, output or error message could
 * start that way. Every such cell is written with a leading single quote (`'=1+1`), which
 * spreadsheets show as text; a program reading the CSV strips it from cells that start with
 * `'` followed by one of those characters. NDJSON is written as is.
 *
 * The stream reads one page at a time when its reader asks for more (pull), so an export of
 * any size holds one page in memory; the first page is read before the response starts, so
 * a failure there is an ordinary error answer.
 */
import type { ExecutionWithWorkflow } from "./types.ts";

export type ExportFormat = "ndjson" | "csv";

export const exportContentTypes: Record<ExportFormat, string> = {
  ndjson: "application/x-ndjson",
  csv: "text/csv; charset=utf-8",
};

/** The CSV columns, in order: a header cell and how the cell is read from an execution. */
export const csvColumns: [string, (e: ExecutionWithWorkflow) => unknown][] = [
  ["id", (e) => e.id],
  ["workflowId", (e) => e.workflowId],
  ["workflowName", (e) => e.workflow.name],
  ["createdBy", (e) => e.createdBy],
  ["status", (e) => e.status],
  ["startedAt", (e) => e.startedAt],
  ["completedAt", (e) => e.completedAt],
  ["durationMs", (e) => e.durationMs],
  ["timeoutAt", (e) => e.timeoutAt],
  ["temporalWorkflowId", (e) => e.temporalWorkflowId],
  ["temporalRunId", (e) => e.temporalRunId],
  ["temporalLink", (e) => e.temporalLink],
  ["stopRequestedAt", (e) => e.stopRequestedAt],
  ["stopReason", (e) => e.stopReason],
  ["temporalClosedAt", (e) => e.temporalClosedAt],
  ["input", (e) => json(e.input)],
  ["output", (e) => json(e.output)],
  ["errorMessage", (e) => e.errorMessage],
  ["activitiesExecuted", (e) => e.activitiesExecuted],
  ["createdAt", (e) => e.createdAt],
  ["updatedAt", (e) => e.updatedAt],
  ["tags", (e) => e.tags.join(";")],
  ["metadata", (e) => json(e.metadata)],
  ["retryOf", (e) => e.retryOf],
];

/** JSON text of a JSON column; SQL NULL (absent) is an empty cell. */
const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

/** One CSV cell: formula-guarded, then quoted when RFC 4180 needs it. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvHeader = () => csvColumns.map(([name]) => csvCell(name)).join(",") + "\r\n";

export function csvRow(execution: ExecutionWithWorkflow): string {
  return csvColumns.map(([, read]) => csvCell(read(execution))).join(",") + "\r\n";
}

export const ndjsonRow = (execution: ExecutionWithWorkflow) => JSON.stringify(execution) + "\n";

/**
 * The bytes of an export of `pages`, read one page per pull. Starts the first page before it
 * returns (errors there reach the caller); an error on a later page aborts the stream (the
 * answer is already under way: the client sees a truncated body, and `onError` logs it).
 */
export async function exportStream(
  format: ExportFormat,
  pages: AsyncGenerator<ExecutionWithWorkflow[]>,
  onError: (error: unknown) => void = () => {},
): Promise<ReadableStream<Uint8Array>> {
  const encoder = new TextEncoder();
  const row = format === "csv" ? csvRow : ndjsonRow;
  let pending: IteratorResult<ExecutionWithWorkflow[]> | null = await pages.next();
  let header = format === "csv" ? csvHeader() : "";
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const result = pending ?? await pages.next();
        pending = null;
        if (result.done) {
          if (header) controller.enqueue(encoder.encode(header));
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(header + result.value.map(row).join("")));
        header = "";
      } catch (error) {
        onError(error);
        controller.error(error);
      }
    },
    async cancel() {
      await pages.return(undefined);
    },
  }, { highWaterMark: 0 });
}
