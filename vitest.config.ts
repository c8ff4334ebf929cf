import { configDefaults, defineConfig } from "vitest/config";

/**
 * Two projects:
 *   unit      tests/unit: pure TypeScript, no database, nothing started.
 *   database  every other test file (tests/integration, tests/e2e): ONE PostgreSQL (a throwaway cluster, or a fresh
 *             database inside DATABASE_URL) migrated by the Supabase CLI, started by the
 *             globalSetup in tests/support/postgres.ts only when a file of this project runs.
 * See tests/README.md.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    // supabase-js creates a realtime client, which needs a global WebSocket on Node 20.
    execArgv: ["--experimental-websocket"],
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["tests/unit/**/*.test.ts"] },
      },
      {
        extends: true,
        test: {
          name: "database",
          include: ["tests/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "tests/unit/**"],
          globalSetup: ["tests/support/postgres.ts"],
        },
      },
    ],
  },
});
