/**
 * The dev server's start-up banner: where everything is, what runs (database, Temporal, pg_net,
 * webhooks, sweeper, dashboard: the plugins' lines), tokens, and a curl example that works
 * when pasted as printed (the demo user's token and the seeded workflow's id).
 */
import type { Config } from "../../shared/config.ts";
import { functionFactories } from "../functions-router.ts";
import type { MigrateResult } from "../migrate.ts";
import { DEMO_USER_ID, DEMO_WORKFLOW_ID } from "./seed.ts";
import { redact } from "./settings.ts";

export interface BannerInput {
  url: string;
  database: { kind: "embedded" | "external"; url: string; dataDir: string | null };
  dataDir: string | null;
  config: Config;
  jwtSecretIsDefault: boolean;
  migrations: MigrateResult;
  demoToken: string | null;
  timings: { totalMs: number; databaseMs: number; migrationsMs: number };
  /** The plugins' lines, e.g. "Temporal    dev server: ...". */
  pluginBanner: string[];
}

export function renderBanner(input: BannerInput): string {
  const { url, database: db, config, migrations } = input;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  const applied = migrations.applied.length
    ? `${migrations.applied.length} migration${migrations.applied.length === 1 ? "" : "s"} applied`
    : "migrations up to date";
  const hasPluginLine = (label: string) => input.pluginBanner.some((line) => line.startsWith(label));
  const temporal = hasPluginLine("Temporal")
    ? []
    : [`Temporal    ${config.temporalHttpUrl ? `${config.temporalHttpUrl} (namespace ${config.temporalNamespace}, from TEMPORAL_HTTP_URL)` : "not configured (TEMPORAL_HTTP_URL): runs are recorded, not dispatched"}`];
  const lines = [
    "",
    `execution-tracker dev server ready in ${seconds(input.timings.totalMs)} (${db.kind === "embedded" ? `embedded PGlite up in ${seconds(input.timings.databaseMs)}; ` : ""}${applied}, ${migrations.alreadyApplied.length + migrations.applied.length} in total)`,
    "",
    `  Functions   ${url}/functions/v1/<name>`,
    `              ${Object.keys(functionFactories).join(", ")}`,
    `  Health      ${url}/health`,
    db.kind === "embedded"
      ? `  Database    ${db.url}  (embedded PGlite in ${db.dataDir}; psql works, one client at a time)`
      : `  Database    ${redact(db.url)}`,
    ...(input.dataDir ? [`  Data        ${input.dataDir} (everything npm start keeps; npm run reset deletes it)`] : []),
    `  JWT secret  ${input.jwtSecretIsDefault ? "the local development default (SUPABASE_JWT_SECRET not set)" : "from SUPABASE_JWT_SECRET"}`,
    `  Logs        one JSON line per request on stdout, LOG_LEVEL=${config.logLevel}`,
    ...[...temporal, ...input.pluginBanner].map((line) => `  ${line}`),
    "",
    "Tokens (HS256, signed with the server's secret):",
    "  npm run -s token -- --user <uuid>     a signed-in user's access token",
    "  npm run -s token -- --service         the service_role key",
  ];
  if (input.demoToken) {
    lines.push(
      "",
      `Try it: demo user ${DEMO_USER_ID} owns demo workflow ${DEMO_WORKFLOW_ID} (token valid 24 h)`,
      "",
      `  export TOKEN='${input.demoToken}'`,
      `  curl -s -X POST '${url}/functions/v1/executions-create' \\`,
      `    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\`,
      `    -d '{"workflowId":"${DEMO_WORKFLOW_ID}","temporalWorkflowId":"demo-run-1"}'`,
      `  curl -s '${url}/functions/v1/executions-list' -H "Authorization: Bearer $TOKEN"`,
    );
  }
  lines.push("", "Ctrl+C stops the server.", "");
  return lines.join("\n");
}
