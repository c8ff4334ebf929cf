/**
 * Caller identity from a Supabase-shaped JWT (`sub`, `role`, `aud`, `exp`): HS256 with the
 * project's JWT secret, or an asymmetric key from the project's JWKS (Supabase signing keys).
 * Any failure is an UnauthorizedError (401); the reason is kept generic on purpose.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from "jose";
import { ForbiddenError, UnauthorizedError, ValidationError } from "./errors.ts";
import { maxJsonDepth, stringIssues, tooDeep } from "./schemas.ts";
import type { Caller } from "./types.ts";

export interface IdentityOptions {
  jwtSecret: string | null;
  jwksUrl: string | null;
}

export type VerifyCaller = (authorization: string | null | undefined) => Promise<Caller>;

/** The service role as a caller, for the tracker's own work (sweeper, webhooks): RLS does not apply. */
export const serviceCaller: Caller = { role: "service_role", userId: null, claims: { role: "service_role" } };

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const asymmetricAlgorithms = ["RS256", "ES256", "EdDSA", "PS256", "RS384", "ES384", "RS512", "PS384", "PS512"];

/** How many verified tokens a verifier remembers (an edge function instance serves few users at once). */
const verifiedTokenCacheSize = 10_000;

export function createCallerVerifier(options: IdentityOptions): VerifyCaller {
  // The HMAC key is imported once, not per request.
  const secret = options.jwtSecret
    ? crypto.subtle.importKey("raw", new TextEncoder().encode(options.jwtSecret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"])
    : null;
  const jwks = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : null;
  // A token's signature is checked once; until it expires the same string means the same
  // caller. Apps send one token for many requests, so this saves a signature check on each.
  const verified = new Map<string, { caller: Caller; expiresAtMs: number }>();

  return async (authorization) => {
    const token = bearerToken(authorization);
    const known = verified.get(token);
    if (known && known.expiresAtMs > Date.now()) return known.caller;
    if (known) verified.delete(token);

    let payload: JWTPayload;
    try {
      const { alg } = decodeProtectedHeader(token);
      if (alg === "HS256" && secret) {
        ({ payload } = await jwtVerify(token, await secret, { algorithms: ["HS256"], requiredClaims: ["exp"] }));
      } else if (alg && alg !== "HS256" && jwks) {
        ({ payload } = await jwtVerify(token, jwks, { algorithms: asymmetricAlgorithms, requiredClaims: ["exp"] }));
      } else {
        throw new Error(`no key for alg ${alg}`);
      }
    } catch {
      throw new UnauthorizedError("invalid or expired token");
    }
    const caller = callerFromClaims(payload);
    if (verified.size >= verifiedTokenCacheSize) verified.delete(verified.keys().next().value!);
    verified.set(token, { caller, expiresAtMs: payload.exp! * 1000 });
    return caller;
  };
}

function bearerToken(authorization: string | null | undefined): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  if (!match) throw new UnauthorizedError("missing bearer token");
  return match[1];
}

function callerFromClaims(claims: JWTPayload): Caller {
  // Every claim reaches PostgreSQL (request.jwt.claims, read as jsonb by auth.uid()): a
  // validly signed token whose claims jsonb cannot hold (a NUL, an unpaired surrogate) or that
  // nests absurdly deep identifies nobody.
  if (tooDeep(claims, maxJsonDepth) || stringIssues(claims, 1).length) {
    throw new UnauthorizedError("token claims cannot be used");
  }
  if (claims.role === "service_role") {
    return { role: "service_role", userId: null, claims: { ...claims } };
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.role === "authenticated" && typeof claims.sub === "string" && uuidPattern.test(claims.sub) &&
    audiences.includes("authenticated")) {
    return { role: "authenticated", userId: claims.sub, claims: { ...claims } };
  }
  // anon keys and tokens of other roles cannot use the tracker.
  throw new UnauthorizedError("token does not identify a user or the service role");
}

/** The owner to record: a service-role caller must name one; a user may only name themselves. */
export function resolveOwner(caller: Caller, userId: string | undefined): string | null {
  if (caller.role === "service_role") {
    if (!userId) throw new ValidationError("invalid request: userId", [{ path: "userId", message: "required for service-role callers" }]);
    return userId;
  }
  if (userId && userId.toLowerCase() !== caller.userId.toLowerCase()) {
    throw new ForbiddenError("userId may only be set by service-role callers");
  }
  return null;
}
