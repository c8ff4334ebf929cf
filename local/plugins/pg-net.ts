/**
 * `npm start` plugin: the pg_net stand-in's worker (local/pg-net-worker.ts) where the database
 * has the stand-in (local/platform-bootstrap.sql) and not the real extension. It sends only
 * once the server's functions answer; PG_NET_POLL_MS is its queue sweep.
 */
import { hasPgNetStandIn, type PgNetWorker, startPgNetWorker } from "../pg-net-worker.ts";
import type { DevServerPlugin } from "../dev-server/types.ts";

export const pgNetPlugin: DevServerPlugin = {
  name: "pg-net",
  healthKey: "pgNet",
  async start(ctx) {
    if (!(await hasPgNetStandIn(ctx.runtime.sql))) {
      return {
        banner: ["pg_net      the real extension (or none): no stand-in worker"],
        health: () => ({ status: "off", reason: "the database has the real pg_net (or no stand-in)" }),
      };
    }
    const worker: PgNetWorker = await startPgNetWorker({
      sql: ctx.runtime.sql,
      // Nothing is sent to a server still answering 503: what was queued meanwhile waits.
      ready: ctx.ready,
      listen: ctx.database.listen,
      pollIntervalMs: ctx.settings.pgNetPollMs,
      log: (message, error) => ctx.runtime.log(`pg_net stand-in: ${message}`, error),
    });
    return {
      stop: () => worker.stop(),
      banner: ["pg_net      stand-in worker sends what net.http_post queues"],
      health: () => ({ status: "up", ...worker.counts() }),
    };
  },
};
