/**
 * Supabase-shaped JWTs for tests: HS256 with the project secret (`sub`, `role`, `aud`, `exp`,
 * as GoTrue issues them), the broken variants every verifier must reject, and asymmetric
 * (RS256/ES256) tokens whose public key is served by a local JWKS endpoint, as a project with
 * signing keys publishes at /auth/v1/.well-known/jwks.json.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";

/** The secret the test functions server and verifiers are configured with (Supabase CLI's local default). */
export const TEST_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

export interface TokenOptions {
  /** Seconds from now until `exp`; negative = already expired. Default 3600. */
  expiresIn?: number;
  /** HS256 secret; default TEST_JWT_SECRET. */
  secret?: string;
  /** Extra or overriding claims (e.g. aud, role). `undefined` values remove a claim. */
  claims?: Record<string, unknown>;
}

const now = () => Math.floor(Date.now() / 1000);

function payload(base: Record<string, unknown>, options: TokenOptions): JWTPayload {
  const claims: Record<string, unknown> = { iat: now(), exp: now() + (options.expiresIn ?? 3600), ...base, ...options.claims };
  for (const key of Object.keys(claims)) if (claims[key] === undefined) delete claims[key];
  return claims as JWTPayload;
}

/** Signs arbitrary claims with HS256 (nothing added). */
export async function signHs256(claims: JWTPayload, secret = TEST_JWT_SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode(secret));
}

/** A signed-in user's access token. */
export async function userToken(userId: string, options: TokenOptions = {}): Promise<string> {
  return signHs256(
    payload({ iss: "supabase-test", sub: userId, role: "authenticated", aud: "authenticated", email: `${userId}@test.local`, session_id: randomUUID() }, options),
    options.secret,
  );
}

/** The service_role key. */
export async function serviceToken(options: TokenOptions = {}): Promise<string> {
  return signHs256(payload({ iss: "supabase-test", role: "service_role" }, options), options.secret);
}

/** The anon key (valid signature, but identifies nobody). */
export async function anonToken(options: TokenOptions = {}): Promise<string> {
  return signHs256(payload({ iss: "supabase-test", role: "anon" }, options), options.secret);
}

/** A user token that expired a minute ago. */
export const expiredToken = (userId: string) => userToken(userId, { expiresIn: -60 });

/** A user token signed with a secret the server does not know. */
export const forgedToken = (userId: string) => userToken(userId, { secret: "not-the-project-secret-not-the-project-secret" });

/** Strings that are not JWTs at all (or whose header cannot be decoded). */
export const malformedTokens = [
  "not-a-jwt",
  "a.b.c",
  "eyJhbGciOiJIUzI1NiJ9.not-base64!.sig",
  `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from('{"sub":"x","role":"service_role"}').toString("base64url")}.`,
];

export interface JwksServer {
  /** URL of the JWKS document. */
  url: string;
  alg: "RS256" | "ES256";
  kid: string;
  /** Signs claims with the served key (header alg + kid). */
  sign(claims: JWTPayload): Promise<string>;
  /** A user token signed with the served key. */
  userToken(userId: string, options?: Omit<TokenOptions, "secret">): Promise<string>;
  /** How many times the JWKS was fetched. */
  requests(): number;
  stop(): Promise<void>;
}

/** A tiny HTTP server on 127.0.0.1 serving one public key as a JWKS. */
export async function startJwksServer(alg: "RS256" | "ES256" = "ES256"): Promise<JwksServer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `test-${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  let count = 0;
  const server: Server = createServer((request, response) => {
    if (request.url?.startsWith("/auth/v1/.well-known/jwks.json")) {
      count++;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ keys: [jwk] }));
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const sign = (claims: JWTPayload) => new SignJWT(claims).setProtectedHeader({ alg, kid, typ: "JWT" }).sign(privateKey);
  return {
    url: `http://127.0.0.1:${port}/auth/v1/.well-known/jwks.json`,
    alg,
    kid,
    sign,
    userToken: (userId, options = {}) =>
      sign(payload({ iss: "supabase-test", sub: userId, role: "authenticated", aud: "authenticated" }, options)),
    requests: () => count,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
