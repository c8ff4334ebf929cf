/**
 * Local development tokens: Supabase-shaped HS256 JWTs signed with the local secret, standing
 * in for Supabase Auth (a signed-in user's access token) and the project's service_role key.
 *
 *   npm run -s token -- --user <uuid> [--email a@b.c] [--expires-in 24h]
 *   npm run -s token -- --service [--expires-in 24h]
 *
 * prints the token alone on stdout (without -s, npm adds its own header lines). The secret is
 * SUPABASE_JWT_SECRET (or JWT_SECRET), else LOCAL_JWT_SECRET: the same one `npm start` uses.
 * The command line runs on Deno (the "token" script); `mintToken` also imports into Node.
 */
import { SignJWT } from "jose";
import { processEnv, type EnvSource } from "../shared/config.ts";

/**
 * The JWT secret of local development when SUPABASE_JWT_SECRET is not set: the Supabase CLI's
 * well-known local default. Public on purpose; never use it for a deployed project.
 */
export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

/** Issuer of the tokens minted here (Supabase Auth puts its URL there; nothing checks it). */
export const LOCAL_TOKEN_ISSUER = "execution-tracker-local";

/** Default lifetime: a working day, so a copied token keeps working. */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 24 * 3600;

export interface MintTokenOptions {
  /** A user's access token (role authenticated) for this auth.users id. */
  userId?: string;
  /** The service_role key instead of a user token. */
  service?: boolean;
  /** `email` claim of a user token. Default `<userId>@local.test`. */
  email?: string;
  /** Seconds until `exp`. Default DEFAULT_TOKEN_LIFETIME_SECONDS. */
  expiresInSeconds?: number;
  /** HS256 secret. Default: localJwtSecret(). */
  secret?: string;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The secret local tokens are signed and verified with: SUPABASE_JWT_SECRET, JWT_SECRET, else LOCAL_JWT_SECRET. */
export function localJwtSecret(env: EnvSource = processEnv): string {
  return env("SUPABASE_JWT_SECRET")?.trim() || env("JWT_SECRET")?.trim() || LOCAL_JWT_SECRET;
}

/** Signs a user access token (`--user`) or a service_role key (`--service`), as Supabase issues them. */
export async function mintToken(options: MintTokenOptions): Promise<string> {
  if (options.service === !!options.userId) throw new Error("give exactly one of userId and service");
  if (options.userId && !uuidPattern.test(options.userId)) throw new Error(`user id must be a UUID, got "${options.userId}"`);
  const lifetime = options.expiresInSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
  if (!Number.isFinite(lifetime) || lifetime <= 0) throw new Error(`token lifetime must be positive, got ${lifetime}`);
  const now = Math.floor(Date.now() / 1000);
  const claims = options.service
    ? { iss: LOCAL_TOKEN_ISSUER, role: "service_role" }
    : {
      iss: LOCAL_TOKEN_ISSUER,
      sub: options.userId!.toLowerCase(),
      aud: "authenticated",
      role: "authenticated",
      email: options.email ?? `${options.userId!.toLowerCase()}@local.test`,
      session_id: crypto.randomUUID(),
    };
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + Math.floor(lifetime))
    .sign(new TextEncoder().encode(options.secret ?? localJwtSecret()));
}

/** "3600", "90s", "15m", "24h", "7d" → seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/i.exec(text.trim());
  if (!match) throw new Error(`not a duration: "${text}" (use e.g. 3600, 15m, 24h, 7d)`);
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2].toLowerCase() as "" | "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

const usage = `Usage:
  npm run -s token -- --user <uuid> [--email <address>] [--expires-in <duration>]
  npm run -s token -- --service [--expires-in <duration>]

Prints an HS256 JWT signed with SUPABASE_JWT_SECRET (default: the local development secret).
  --user <uuid>          a signed-in user's access token (role authenticated, aud authenticated)
  --service              the service_role key
  --email <address>      email claim of a user token (default <uuid>@local.test)
  --expires-in <d>       lifetime: seconds, or 15m, 24h, 7d (default 24h)`;

/** Parses the command line into options; throws with a message for the user. */
export function parseTokenArgs(args: string[]): MintTokenOptions | "help" {
  const options: MintTokenOptions = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || (inline === undefined && v.startsWith("--"))) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--user":
        options.userId = value();
        break;
      case "--service":
        options.service = true;
        break;
      case "--email":
        options.email = value();
        break;
      case "--expires-in":
        options.expiresInSeconds = parseDuration(value());
        break;
      case "-h":
      case "--help":
        return "help";
      default:
        throw new Error(`unknown argument "${arg}"`);
    }
  }
  if (!options.userId && !options.service) throw new Error("give --user <uuid> or --service");
  if (options.userId && options.service) throw new Error("give only one of --user and --service");
  return options;
}

async function main(args: string[]): Promise<number> {
  try {
    const options = parseTokenArgs(args);
    if (options === "help") {
      console.log(usage);
      return 0;
    }
    console.log(await mintToken(options));
    return 0;
  } catch (error) {
    console.error(`mint-token: ${error instanceof Error ? error.message : error}\n\n${usage}`);
    return 2;
  }
}

if ((import.meta as { main?: boolean }).main) {
  // Command line (Deno: the "token" script). Importing this module (Deno or Node) runs nothing.
  const deno = (globalThis as unknown as { Deno: { args: string[]; exit(code: number): never } }).Deno;
  deno.exit(await main(deno.args));
}
