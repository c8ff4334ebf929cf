/**
 * Opaque keyset cursors. A cursor holds the (started_at, id) of the last row of a page, with
 * started_at at full microsecond precision as text, so the next page starts strictly after it
 * and no row is skipped or repeated while rows are inserted. It is bound to the list's order:
 * an oldest-first cursor carries "asc" (a newest-first one is written as before, so cursors
 * handed out earlier stay valid), and a cursor of the other order is a 400.
 */
import { ValidationError } from "./errors.ts";

export type ListOrder = "asc" | "desc";

export interface CursorPosition {
  /** started_at as an ISO timestamp with microseconds, e.g. 2026-11-25T20:52:36.123456Z. */
  startedAt: string;
  id: string;
}

const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeCursor(position: CursorPosition, order: ListOrder = "desc"): string {
  const fields = order === "asc" ? [position.startedAt, position.id, "asc"] : [position.startedAt, position.id];
  return base64UrlEncode(JSON.stringify(fields));
}

/** The position of a cursor of `order`; a ValidationError for anything else, a cursor of the other order included. */
export function decodeCursor(cursor: string, order: ListOrder = "desc"): CursorPosition {
  let decoded: { position: CursorPosition; order: ListOrder } | null = null;
  try {
    const fields = JSON.parse(base64UrlDecode(cursor));
    if (Array.isArray(fields) && (fields.length === 2 || (fields.length === 3 && fields[2] === "asc"))) {
      const [startedAt, id] = fields;
      if (typeof startedAt === "string" && timestampPattern.test(startedAt) && typeof id === "string" && uuidPattern.test(id)) {
        decoded = { position: { startedAt, id }, order: fields.length === 3 ? "asc" : "desc" };
      }
    }
  } catch {
    // fall through to the validation error
  }
  if (!decoded) throw new ValidationError("invalid cursor", [{ path: "cursor", message: "not a cursor returned by this API" }]);
  if (decoded.order !== order) {
    throw new ValidationError("invalid cursor", [{ path: "cursor", message: `a cursor of order=${decoded.order}, not of order=${order}` }]);
  }
  return decoded.position;
}

function base64UrlEncode(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64UrlDecode(text: string): string {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}
