/**
 * `npm start` plugin: points the database webhook triggers at this server, as
 * `vault.create_secret(...)` does on Supabase, so the same triggers fire the same function
 * (through the pg_net stand-in, local/pg-net-worker.ts). Only for local databases: never on a
 * Supabase database. LOCAL_WEBHOOKS=false leaves the Vault secrets alone (point them elsewhere
 * yourself).
 *
 * The URL and the secret go into each request when it is queued, so webhooks queued while the
 * server is down reach it after a restart only on the same PORT and with the same
 * WEBHOOK_SECRET (set it; without it each start makes a new one). The stand-in sends them once
 * the functions answer, and sends a request again after a connection error or a 5xx (the
 * real pg_net never retries; on Supabase the sweeper is what produces the effect of a lost
 * webhook).
 */
import type { DevServerPlugin } from "../dev-server/types.ts";

export const databaseWebhooksPlugin: DevServerPlugin = {
  name: "database-webhooks",
  healthKey: "webhooks",
  configure({ env, settings }) {
    if (!settings.localWebhooks || env("WEBHOOK_SECRET")?.trim()) return;
    return { env: { WEBHOOK_SECRET: `local-${crypto.randomUUID()}` } };
  },
  async start(ctx) {
    if (!ctx.settings.localWebhooks) {
      return {
        banner: ["Webhooks    not pointed at this server (LOCAL_WEBHOOKS=false): the Vault secrets are left as they are"],
        health: () => ({ status: "off", reason: "LOCAL_WEBHOOKS=false" }),
      };
    }
    const sql = ctx.runtime.sql;
    const [{ supabase }] = await sql`select exists (select from pg_roles where rolname = 'supabase_admin') as supabase`;
    if (supabase) {
      ctx.log("database webhooks: a Supabase database; set its Vault secrets yourself (see README)");
      return {
        banner: ["Webhooks    a Supabase database: its Vault secrets decide where they go (see README)"],
        health: () => ({ status: "off", reason: "a Supabase database" }),
      };
    }
    const secrets = {
      execution_tracker_functions_url: `${ctx.url}/functions/v1`,
      execution_tracker_webhook_secret: ctx.runtime.config.webhookSecret!,
    };
    await sql.begin(async (tx) => {
      for (const [name, value] of Object.entries(secrets)) {
        await tx`delete from vault.secrets where name = ${name}`;
        await tx`select vault.create_secret(${value}, ${name})`;
      }
    });
    return {
      banner: [`Webhooks    the database's webhook triggers call ${secrets.execution_tracker_functions_url}/executions-webhook (pg_net stand-in)`],
      health: () => ({ status: "up", target: `${secrets.execution_tracker_functions_url}/executions-webhook` }),
    };
  },
};
