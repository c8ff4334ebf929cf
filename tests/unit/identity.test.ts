import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnauthorizedError } from "../../shared/errors.ts";
import { createCallerVerifier } from "../../shared/identity.ts";
import {
  anonToken,
  expiredToken,
  forgedToken,
  type JwksServer,
  malformedTokens,
  serviceToken,
  signHs256,
  startJwksServer,
  TEST_JWT_SECRET,
  userToken,
} from "../support/tokens.ts";

const verify = createCallerVerifier({ jwtSecret: TEST_JWT_SECRET, jwksUrl: null });
const bearer = (token: string) => `Bearer ${token}`;

async function rejected(authorization: string | null | undefined, verifier = verify) {
  const error = await verifier(authorization).then(() => null, (e) => e);
  expect(error, `expected ${String(authorization).slice(0, 60)} to be rejected`).toBeInstanceOf(UnauthorizedError);
  expect(error.status).toBe(401);
  expect(error.code).toBe("unauthorized");
}

describe("HS256 tokens (project JWT secret)", () => {
  it("a user token identifies the user", async () => {
    const id = randomUUID();
    const caller = await verify(bearer(await userToken(id)));
    expect(caller).toMatchObject({ role: "authenticated", userId: id, claims: { sub: id, role: "authenticated", aud: "authenticated" } });
    expect(await verify(`bearer   ${await userToken(id)}  `)).toMatchObject({ userId: id });
  });

  it("remembers a verified token only until it expires", async () => {
    const id = randomUUID();
    const token = await userToken(id, { expiresIn: 2 });
    expect(await verify(bearer(token))).toMatchObject({ userId: id });
    expect(await verify(bearer(token))).toMatchObject({ userId: id }); // from the cache
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await rejected(bearer(token));
  });

  it("a validly signed token with claims PostgreSQL cannot hold (NUL, unpaired surrogate, absurd depth) identifies nobody", async () => {
    const id = randomUUID();
    await rejected(bearer(await userToken(id, { claims: { email: "a\u0000b@example.com" } })));
    await rejected(bearer(await userToken(id, { claims: { user_metadata: { names: ["ok", "\ud800"] } } })));
    await rejected(bearer(await userToken(`${id}\u0000`)));
    await rejected(bearer(await serviceToken({ claims: { note: "\u0000" } })));
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    await rejected(bearer(await userToken(id, { claims: { app_metadata: deep } })));
    // Unicode that PostgreSQL stores is fine.
    expect(await verify(bearer(await userToken(id, { claims: { user_metadata: { name: "Zoë 🧪" } } })))).toMatchObject({ userId: id });
  });

  it("accepts an aud array that includes authenticated", async () => {
    const id = randomUUID();
    expect(await verify(bearer(await userToken(id, { claims: { aud: ["other", "authenticated"] } })))).toMatchObject({ userId: id });
  });

  it("the service_role key is the service role", async () => {
    expect(await verify(bearer(await serviceToken()))).toMatchObject({ role: "service_role", userId: null });
  });

  it("rejects a missing or non-bearer Authorization header", async () => {
    for (const header of [undefined, null, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", await userToken(randomUUID())]) {
      await rejected(header);
    }
  });

  it("rejects expired and forged tokens", async () => {
    await rejected(bearer(await expiredToken(randomUUID())));
    await rejected(bearer(await forgedToken(randomUUID())));
    await rejected(bearer(await serviceToken({ secret: "another-secret-another-secret-another" })));
  });

  it("rejects malformed tokens, alg none included", async () => {
    for (const token of malformedTokens) await rejected(bearer(token));
    // A valid signature with the payload swapped.
    const [h, , s] = (await userToken(randomUUID())).split(".");
    const payload = Buffer.from(JSON.stringify({ sub: randomUUID(), role: "service_role", exp: 9999999999 })).toString("base64url");
    await rejected(bearer(`${h}.${payload}.${s}`));
  });

  it("rejects tokens of other roles, audiences or subjects", async () => {
    const id = randomUUID();
    await rejected(bearer(await anonToken()));
    await rejected(bearer(await userToken(id, { claims: { role: "supabase_admin" } })));
    await rejected(bearer(await userToken(id, { claims: { role: undefined } })));
    await rejected(bearer(await userToken(id, { claims: { aud: "other" } })));
    await rejected(bearer(await userToken(id, { claims: { aud: undefined } })));
    await rejected(bearer(await userToken("not-a-uuid")));
    await rejected(bearer(await userToken(id, { claims: { sub: undefined } })));
  });

  it("requires exp", async () => {
    await rejected(bearer(await signHs256({ sub: randomUUID(), role: "authenticated", aud: "authenticated" })));
  });

  it("rejects HS256 tokens when only a JWKS is configured", async () => {
    const jwksOnly = createCallerVerifier({ jwtSecret: null, jwksUrl: "http://127.0.0.1:9/jwks.json" });
    await rejected(bearer(await userToken(randomUUID())), jwksOnly);
  });
});

describe("asymmetric tokens through the project's JWKS", () => {
  let es256: JwksServer;
  let rs256: JwksServer;
  beforeAll(async () => {
    [es256, rs256] = await Promise.all([startJwksServer("ES256"), startJwksServer("RS256")]);
  });
  afterAll(async () => {
    await Promise.all([es256?.stop(), rs256?.stop()]);
  });

  it("verifies ES256 and RS256 user tokens with the served public key", async () => {
    for (const server of [es256, rs256]) {
      const verifier = createCallerVerifier({ jwtSecret: TEST_JWT_SECRET, jwksUrl: server.url });
      const id = randomUUID();
      expect(await verifier(bearer(await server.userToken(id)))).toMatchObject({ role: "authenticated", userId: id });
      // HS256 still works next to the JWKS.
      expect(await verifier(bearer(await userToken(id)))).toMatchObject({ userId: id });
      expect(server.requests()).toBeGreaterThan(0);
    }
  });

  it("rejects a token signed by a key the JWKS does not serve, and expired ones", async () => {
    const verifier = createCallerVerifier({ jwtSecret: TEST_JWT_SECRET, jwksUrl: es256.url });
    await rejected(bearer(await rs256.userToken(randomUUID())), verifier);
    const stranger = await startJwksServer("ES256");
    try {
      // Same algorithm, a key (and kid) the project never published.
      await rejected(bearer(await stranger.userToken(randomUUID())), verifier);
    } finally {
      await stranger.stop();
    }
    await rejected(bearer(await es256.userToken(randomUUID(), { expiresIn: -60 })), verifier);
    await rejected(bearer(await es256.userToken(randomUUID(), { claims: { aud: "other" } })), verifier);
  });

  it("rejects asymmetric tokens when no JWKS is configured, and when the JWKS is unreachable", async () => {
    await rejected(bearer(await es256.userToken(randomUUID())));
    const unreachable = createCallerVerifier({ jwtSecret: null, jwksUrl: "http://127.0.0.1:9/auth/v1/.well-known/jwks.json" });
    await rejected(bearer(await es256.userToken(randomUUID())), unreachable);
  });
});
