/**
 * The plugins `npm start` runs (local/dev-server.ts), in order; the plugin model and its types
 * are in local/dev-server/types.ts. Add a plugin here to make the dev server do more.
 *
 * Order matters twice: middleware of an earlier plugin sees a request first (the dashboard
 * answers its files before user provisioning and the functions see anything), and stops run
 * in reverse order at shutdown.
 */
import { alertsDeliveryPlugin } from "./plugins/alerts-delivery.ts";
import { apiReferencePlugin } from "./plugins/api-reference.ts";
import { bulkProcessorPlugin } from "./plugins/bulk-processor.ts";
import { dashboardPlugin } from "./plugins/dashboard.ts";
import { databaseWebhooksPlugin } from "./plugins/database-webhooks.ts";
import { pgNetPlugin } from "./plugins/pg-net.ts";
import { statsFoldPlugin } from "./plugins/stats-fold.ts";
import { sweeperIntervalPlugin } from "./plugins/sweeper-interval.ts";
import { temporalDevServerPlugin } from "./plugins/temporal-dev-server.ts";
import { userProvisioningPlugin } from "./plugins/user-provisioning.ts";
import type { DevServerPlugin } from "./dev-server/types.ts";

export type { DevServerContext, DevServerPlugin, FetchHandler, PluginSetup, PluginStarted, Stop } from "./dev-server/types.ts";

export const devServerPlugins: DevServerPlugin[] = [
  temporalDevServerPlugin,
  dashboardPlugin,
  apiReferencePlugin,
  userProvisioningPlugin,
  pgNetPlugin,
  databaseWebhooksPlugin,
  sweeperIntervalPlugin,
  alertsDeliveryPlugin,
  statsFoldPlugin,
  bulkProcessorPlugin,
];
