/**
 * Opaque keyset cursors. A cursor holds the (started_at, id) of the last row of a page, with
 * started_at at full microsecond precision as text, so the next page starts strictly after it
 * and no row is skipped or repeated while rows are inserted.
 */
import { ValidationError } from "./errors.ts";

export interface CursorPosition {
  /** started_at as an ISO timestamp with microseconds, e.g. 2026-11-25T20:52:36.123456Z. */
  startedAt: string;
  id: string;
}

const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeCursor(position: CursorPosition): string {
  return base64UrlEncode(JSON.stringify([position.startedAt, position.id]));
}

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const [startedAt, id] = JSON.parse(base64UrlDecode(cursor));
    if (typeof startedAt === "string" && timestampPattern.test(startedAt) && typeof id === "string" && uuidPattern.test(id)) {
      return { startedAt, id };
    }
  } catch {
    // fall through to the validation error
  }
  throw new ValidationError("invalid cursor", [{ path: "cursor", message: "not a cursor returned by this API" }]);
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
