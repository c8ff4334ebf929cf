/**
 * Shutdown of the dev server: stops registered in groups, run in a fixed order of groups and,
 * within one, in reverse order of registration. A failing stop is reported; the rest still run.
 */
import type { Stop } from "./types.ts";

/** The order things stop in: workers first (they may still call the functions), then the HTTP server (in-flight requests end), the database, outside services, the data folder's lock. */
export const shutdownOrder = ["workers", "http", "database", "services", "lock"] as const;
export type ShutdownGroup = (typeof shutdownOrder)[number];

export interface Shutdown {
  add(group: ShutdownGroup, stop: Stop): void;
  /** Runs every stop once; later calls wait for the first. */
  run(): Promise<void>;
}

export function createShutdown(onError: (error: unknown) => void, between: Partial<Record<ShutdownGroup, () => void>> = {}): Shutdown {
  const groups = new Map<ShutdownGroup, Stop[]>(shutdownOrder.map((group) => [group, []]));
  let running: Promise<void> | undefined;
  return {
    add: (group, stop) => void groups.get(group)!.push(stop),
    run: () =>
      (running ??= (async () => {
        for (const group of shutdownOrder) {
          between[group]?.();
          for (const stop of groups.get(group)!.splice(0).reverse()) {
            try {
              await stop();
            } catch (error) {
              onError(error);
            }
          }
        }
      })()),
  };
}

export async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
