/**
 * Which URLs alerts may be sent to (against SSRF: a user must not make the tracker call its
 * own network). By default: https only, to a public address. With ALERTS_ALLOW_PRIVATE_URLS
 * (`npm start`, the tests) also http, loopback and private addresses.
 *
 * Checked twice: when an endpoint is saved (the URL's host as written: an IP literal in a
 * private range, `localhost`), and at every delivery (what the host resolves to then, so a
 * name that points at 10.0.0.1 is refused too). A residual gap: DNS may answer differently
 * between the check and the connection (rebinding); redirects are never followed.
 */

/** Why the URL may not be used, or null. */
export function alertUrlProblem(text: string, allowPrivate: boolean): string | null {
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return "must not contain whitespace or control characters";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be an https URL";
  if (url.username || url.password) return "must not contain credentials";
  if (allowPrivate) return null;
  if (url.protocol !== "https:") return "must be an https URL (http only where ALERTS_ALLOW_PRIVATE_URLS is set)";
  return privateHostProblem(url.hostname);
}

/** A host as written in a URL (`[::1]`, `10.0.0.1`, `localhost`) that is not public. */
export function privateHostProblem(hostname: string): string | null {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "must not point at localhost";
  if (isPrivateAddress(host)) return "must not point at a private, loopback or link-local address";
  return null;
}

/** True for an IPv4 or IPv6 literal that is not a public unicast address. Not an IP: false. */
export function isPrivateAddress(address: string): boolean {
  const v4 = parseIpv4(address);
  if (v4) return isPrivateIpv4(v4);
  const v6 = parseIpv6(address);
  if (!v6) return false;
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible / NAT64 forms: judge the embedded IPv4.
  const mapped = v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff;
  const nat64 = v6[0] === 0x64 && v6[1] === 0xff9b && v6.slice(2, 6).every((g) => g === 0);
  if (mapped || nat64) return isPrivateIpv4([v6[6] >> 8, v6[6] & 255, v6[7] >> 8, v6[7] & 255]);
  if (v6.slice(0, 7).every((g) => g === 0) && (v6[7] === 0 || v6[7] === 1)) return true; // :: and ::1
  const first = v6[0];
  return (first & 0xfe00) === 0xfc00 || // fc00::/7 unique local
    (first & 0xffc0) === 0xfe80 || // fe80::/10 link-local
    (first & 0xffc0) === 0xfec0 || // fec0::/10 site-local (deprecated)
    (first & 0xff00) === 0xff00 || // multicast
    (first === 0x2001 && v6[1] === 0x0db8); // documentation
}

function isPrivateIpv4([a, b, c]: number[]): boolean {
  return a === 0 || a === 10 || a === 127 || a >= 224 || // this network, private, loopback, multicast and reserved
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local (cloud metadata services)
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && (c === 0 || c === 2)) ||
    (a === 198 && (b === 18 || b === 19)) ||
    (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113);
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? bytes : null;
}

/** Eight 16-bit groups, or null. Accepts `::` compression and a trailing dotted IPv4. */
function parseIpv6(text: string): number[] | null {
  if (!text.includes(":") || !/^[0-9a-f:.]+$/i.test(text)) return null;
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    // A trailing dotted IPv4 (::ffff:10.0.0.1) stands for the last two groups.
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return null;
    body = `${text.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (![...head, ...rest].every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  return [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest].map((g) => parseInt(g, 16));
}

/** Resolves a host name to its addresses (injectable; the default is node:dns, on Node and Deno). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export const resolveHost: ResolveHost = async (hostname) => {
  const dns = await import("node:dns/promises");
  const answers = await dns.lookup(hostname, { all: true, verbatim: true });
  return answers.map((answer) => answer.address);
};

/** At delivery: why the URL may not be called now (it resolves to a private address), or null. */
export async function deliveryAddressProblem(text: string, allowPrivate: boolean, resolve: ResolveHost = resolveHost): Promise<string | null> {
  const problem = alertUrlProblem(text, allowPrivate);
  if (problem || allowPrivate) return problem;
  const host = new URL(text).hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  try {
    addresses = isPrivateAddress(host) || parseIpv4(host) || parseIpv6(host) ? [host] : await resolve(host);
  } catch (error) {
    return `cannot resolve ${host}: ${error instanceof Error ? error.message : String(error)}`;
  }
  const bad = addresses.find(isPrivateAddress);
  return bad ? `${host} resolves to ${bad}, a private address` : null;
}
