/**
 * Signatures of alert deliveries, and the check receivers run.
 *
 * Every delivery carries `x-execution-tracker-signature: t=<unix seconds>,v1=<hex>` where the
 * hex is HMAC-SHA256, keyed with the endpoint's secret (the whole `whsec_...` string as UTF-8),
 * over `"<t>.<raw body>"`. The timestamp is signed with the body, so a receiver that checks it
 * against its clock (`toleranceSeconds`) rejects a replayed or delayed request; the delivery
 * id (`x-execution-tracker-delivery`) lets it drop a repeat inside the window.
 *
 * Web Crypto only: the same module runs in the functions (Deno) and in a Node receiver.
 */

export const SIGNATURE_HEADER = "x-execution-tracker-signature";
export const DELIVERY_HEADER = "x-execution-tracker-delivery";
export const EVENT_HEADER = "x-execution-tracker-event";

const encoder = new TextEncoder();

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  return Array.from(mac, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The signature header's value for `body` sent at `unixSeconds`. */
export async function signAlert(secret: string, body: string, unixSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  return `t=${unixSeconds},v1=${await hmacHex(secret, `${unixSeconds}.${body}`)}`;
}

/**
 * For receivers: true when `header` (the x-execution-tracker-signature value) signs `body` (the
 * raw request body, exactly as received) with `secret`, and its timestamp is within
 * `toleranceSeconds` of `nowSeconds` (default 300 s; either side, for clock skew). Several `v1=`
 * entries are accepted (any one may match). Compared in constant time.
 */
export async function verifyAlertSignature(
  secret: string,
  header: string | null | undefined,
  body: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  if (!header) return false;
  const parts = header.split(",").map((part) => part.trim().split("=", 2) as [string, string | undefined]);
  const timestamps = parts.filter(([name]) => name === "t").map(([, value]) => value ?? "");
  const signatures = parts.filter(([name, value]) => name === "v1" && value).map(([, value]) => value!.toLowerCase());
  if (timestamps.length !== 1 || !/^\d{1,12}$/.test(timestamps[0]) || signatures.length === 0) return false;
  const t = Number(timestamps[0]);
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = await hmacHex(secret, `${t}.${body}`);
  let matched = false;
  for (const signature of signatures) matched = sameText(signature, expected) || matched;
  return matched;
}

/** Constant time for equal lengths (a hex HMAC has a fixed length, so the length reveals nothing). */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** A new endpoint secret: `whsec_` and 32 random bytes as hex. */
export function newAlertSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}
