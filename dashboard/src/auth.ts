/**
 * Who is signed in. Two ways, both ending in a Supabase access token sent to the functions:
 *  - a pasted token (or the local dev server's demo token), kept in sessionStorage for this tab;
 *  - Supabase Auth through supabase-js (email + password) when config.json names the project
 *    URL and anon key: the user's own session, refreshed and persisted by supabase-js.
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import type { AppConfig } from "./config.ts";

export interface Identity {
  /** The JWT's sub (null for the service role). */
  userId: string | null;
  email: string | null;
  role: string;
  /** Seconds since the epoch, when known. */
  expiresAt: number | null;
}

export interface Session {
  identity: Identity;
  token(): Promise<string>;
  signOut(): Promise<void>;
}

const TOKEN_KEY = "execution-tracker.token";

/** The claims of a JWT (not verified: the functions verify it; this only labels the session). */
export function decodeToken(token: string): Identity | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(parts[1].length / 4) * 4, "="));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
    if (typeof claims !== "object" || claims === null) return null;
    return {
      userId: typeof claims.sub === "string" ? claims.sub : null,
      email: typeof claims.email === "string" && claims.email ? claims.email : null,
      role: typeof claims.role === "string" ? claims.role : "unknown",
      expiresAt: typeof claims.exp === "number" ? claims.exp : null,
    };
  } catch {
    return null;
  }
}

export class Auth {
  private constructor(private readonly supabase: SupabaseClient | null) {}

  /** supabase-js is loaded (a chunk of its own) only where Supabase Auth is configured. */
  static async create(config: AppConfig): Promise<Auth> {
    if (!config.supabaseUrl || !config.anonKey) return new Auth(null);
    const { createClient } = await import("@supabase/supabase-js");
    return new Auth(createClient(config.supabaseUrl, config.anonKey, { auth: { persistSession: true, autoRefreshToken: true } }));
  }

  /** Whether email + password sign-in is offered. */
  get passwordSignIn(): boolean {
    return this.supabase !== null;
  }

  /** The session left by an earlier visit, if any. */
  async restore(): Promise<Session | null> {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      const session = this.tokenSession(token);
      if (session) return session;
      sessionStorage.removeItem(TOKEN_KEY);
    }
    if (this.supabase) {
      const { data } = await this.supabase.auth.getSession();
      if (data.session) return this.supabaseSession(data.session.access_token);
    }
    return null;
  }

  /** Signs in with a pasted access token; throws with a message a person can act on. */
  signInWithToken(token: string): Session {
    const session = this.tokenSession(token.trim().replace(/^Bearer\s+/i, ""));
    if (!session) throw new Error("That does not look like a valid, unexpired access token (three base64url parts, with sub, role and exp).");
    sessionStorage.setItem(TOKEN_KEY, token.trim().replace(/^Bearer\s+/i, ""));
    return session;
  }

  async signInWithPassword(email: string, password: string): Promise<Session> {
    if (!this.supabase) throw new Error("Supabase Auth is not configured for this dashboard (config.json: supabaseUrl, anonKey).");
    const { data, error } = await this.supabase.auth.signInWithPassword({ email, password });
    if (error || !data.session) throw new Error(error?.message ?? "sign-in failed");
    return this.supabaseSession(data.session.access_token);
  }

  private tokenSession(token: string): Session | null {
    const identity = decodeToken(token);
    if (!identity || (identity.expiresAt !== null && identity.expiresAt * 1000 <= Date.now())) return null;
    return {
      identity,
      token: async () => token,
      signOut: async () => sessionStorage.removeItem(TOKEN_KEY),
    };
  }

  private supabaseSession(accessToken: string): Session {
    const supabase = this.supabase!;
    return {
      identity: decodeToken(accessToken) ?? { userId: null, email: null, role: "authenticated", expiresAt: null },
      // supabase-js refreshes the session before it expires; always send the current token.
      token: async () => (await supabase.auth.getSession()).data.session?.access_token ?? accessToken,
      signOut: async () => void (await supabase.auth.signOut()),
    };
  }
}
