/**
 * Contract tests for the two TemporalGateway implementations, run against a real Temporal dev server
 * (tests/support/temporal-server.ts; or TEMPORAL_ADDRESS + TEMPORAL_HTTP_URL) with a real worker
 * (tests/support/temporal-worker.ts) executing tests/support/workflows.ts.
 *
 *   npx vitest run tests/integration/temporal-gateway.test.ts
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  TemporalRequestError,
  TemporalUnavailableError,
  type TemporalGateway,
  type WorkflowDescription,
} from "../../shared/temporal/gateway.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import { createSdkTemporalGateway } from "../../shared/temporal/sdk-gateway.ts";
import { startTemporalDevServer, temporalBinaryPath, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

let server: TemporalDevServer;
let worker: TestWorker;
const taskQueue = `gateway-contract-${randomUUID()}`;

// Without the cached CLI the first run builds it (scripts/install-temporal.sh: a go install of several minutes).
const needsInstall = !(process.env.TEMPORAL_ADDRESS && process.env.TEMPORAL_HTTP_URL) && !existsSync(temporalBinaryPath());

beforeAll(async () => {
  server = await startTemporalDevServer();
  worker = await startTestWorker({ address: server.address, namespace: server.namespace, taskQueue });
}, needsInstall ? 15 * 60_000 : 120_000);

afterAll(async () => {
  await worker?.stop();
  await server?.stop();
});

interface Implementation {
  name: string;
  create(target: { httpUrl: string; address: string; namespace: string; timeoutMs?: number }): Promise<TemporalGateway>;
}

const implementations: Implementation[] = [
  {
    name: "http",
    create: async ({ httpUrl, namespace, timeoutMs }) => createHttpTemporalGateway({ baseUrl: httpUrl, namespace, timeoutMs }),
  },
  {
    name: "sdk",
    create: ({ address, namespace, timeoutMs }) => createSdkTemporalGateway({ address, namespace, timeoutMs }),
  },
];

function target(overrides: { namespace?: string; timeoutMs?: number } = {}) {
  return { httpUrl: server.httpUrl, address: server.address, namespace: server.namespace, ...overrides };
}

function newId(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls describe until the run is closed. */
async function waitForClose(gateway: TemporalGateway, workflowId: string, runId?: string, timeoutMs = 30_000): Promise<WorkflowDescription> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const description = await gateway.describe(workflowId, runId);
    if (description && description.status !== "running") return description;
    if (Date.now() > deadline) throw new Error(`${workflowId} still ${description?.status ?? "unknown"} after ${timeoutMs}ms`);
    await sleep(100);
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** A loopback port that accepts connections and never answers. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return {
    port: (srv.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

describe.concurrent.each(implementations)("$name gateway", (impl) => {
  let gateway: TemporalGateway;

  beforeAll(async () => {
    gateway = await impl.create(target());
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it("starts a workflow and describes it until completed, with its result", async () => {
    const workflowId = newId(`${impl.name}-completes`);
    const input = { sleepMs: 200, hello: "wörld", nested: { n: 1, list: [1, "two", null] } };
    const started = await gateway.start({ workflowId, workflowType: "completesWorkflow", taskQueue, args: [input] });
    expect(started).toEqual({ workflowId, runId: expect.any(String), alreadyStarted: false });
    expect(started.runId).not.toBe("");

    const early = await gateway.describe(workflowId);
    expect(early).toMatchObject({ workflowId, runId: started.runId });
    expect(early?.startTime).toBeInstanceOf(Date);

    const done = await waitForClose(gateway, workflowId);
    expect(done).toMatchObject({ workflowId, runId: started.runId, status: "completed", result: { echoed: input, ok: true } });
    expect(done.failureMessage).toBeUndefined();
    expect(done.startTime).toBeInstanceOf(Date);
    expect(done.closeTime).toBeInstanceOf(Date);
    expect(done.closeTime!.getTime()).toBeGreaterThanOrEqual(done.startTime!.getTime());

    // The same run addressed by its run id.
    expect(await gateway.describe(workflowId, started.runId)).toEqual(done);
  });

  it("passes every argument and reports a workflow without a return value as null", async () => {
    const workflowId = newId(`${impl.name}-noinput`);
    await gateway.start({ workflowId, workflowType: "completesWorkflow", taskQueue, args: [] });
    const done = await waitForClose(gateway, workflowId);
    expect(done.status).toBe("completed");
    expect(done.result).toEqual({ echoed: null, ok: true });
  });

  it("reports a failed workflow with its failure message", async () => {
    const workflowId = newId(`${impl.name}-fails`);
    const started = await gateway.start({ workflowId, workflowType: "failsWorkflow", taskQueue, args: [{ message: "kaputt" }] });
    const done = await waitForClose(gateway, workflowId);
    expect(done).toMatchObject({ workflowId, runId: started.runId, status: "failed", failureMessage: "boom: kaputt" });
    expect(done.result).toBeUndefined();
    expect(done.closeTime).toBeInstanceOf(Date);
  });

  it("start is idempotent on the workflow id, while running and after completion", async () => {
    const workflowId = newId(`${impl.name}-idem`);
    const request = { workflowId, workflowType: "completesWorkflow", taskQueue, args: [{ sleepMs: 1_000 }] };
    const first = await gateway.start(request);
    expect(first.alreadyStarted).toBe(false);

    const second = await gateway.start(request);
    expect(second).toEqual({ workflowId, runId: first.runId, alreadyStarted: true });

    // Concurrent retries all land on the same run.
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => gateway.start(request)));
    for (const result of concurrent) expect(result).toEqual({ workflowId, runId: first.runId, alreadyStarted: true });

    const done = await waitForClose(gateway, workflowId);
    expect(done.status).toBe("completed");

    // After the run closed: no second run, the closed one is reported.
    const afterClose = await gateway.start({ ...request, args: [{ sleepMs: 0, different: true }] });
    expect(afterClose).toEqual({ workflowId, runId: first.runId, alreadyStarted: true });
    const still = await gateway.describe(workflowId);
    expect(still).toMatchObject({ runId: first.runId, status: "completed", result: { echoed: { sleepMs: 1_000 }, ok: true } });
  });

  it("concurrent first starts create exactly one run", async () => {
    const workflowId = newId(`${impl.name}-race`);
    const request = { workflowId, workflowType: "longRunningWorkflow", taskQueue, args: [] };
    const results = await Promise.all(Array.from({ length: 6 }, () => gateway.start(request)));
    expect(new Set(results.map((r) => r.runId)).size).toBe(1);
    expect(results.filter((r) => !r.alreadyStarted)).toHaveLength(1);
    await gateway.terminate(workflowId, undefined, "test cleanup");
  });

  it("cancels a long-running workflow", async () => {
    const workflowId = newId(`${impl.name}-long`);
    const started = await gateway.start({ workflowId, workflowType: "longRunningWorkflow", taskQueue, args: [{}] });
    await sleep(300); // let the worker start it and block in its timer
    expect((await gateway.describe(workflowId))?.status).toBe("running");

    await gateway.cancel(workflowId, started.runId, "user asked");
    const done = await waitForClose(gateway, workflowId);
    expect(done).toMatchObject({ runId: started.runId, status: "cancelled" });
    expect(done.closeTime).toBeInstanceOf(Date);

    // Closed runs: cancel and terminate are quiet no-ops.
    await expect(gateway.cancel(workflowId, started.runId, "again")).resolves.toBeUndefined();
    await expect(gateway.cancel(workflowId)).resolves.toBeUndefined();
    await expect(gateway.terminate(workflowId, started.runId, "too late")).resolves.toBeUndefined();
    await expect(gateway.terminate(workflowId)).resolves.toBeUndefined();
    expect((await gateway.describe(workflowId))?.status).toBe("cancelled");
  });

  it("a workflow that ignores cancellation keeps running until terminated", async () => {
    const workflowId = newId(`${impl.name}-stubborn`);
    const started = await gateway.start({ workflowId, workflowType: "ignoresCancellationWorkflow", taskQueue, args: [] });
    await sleep(300);
    await gateway.cancel(workflowId, undefined, "please stop");
    await sleep(1_500); // the worker has handled the cancellation request by now
    const stillRunning = await gateway.describe(workflowId);
    expect(stillRunning).toMatchObject({ runId: started.runId, status: "running", closeTime: null });

    await gateway.terminate(workflowId, started.runId, "stop now");
    const done = await waitForClose(gateway, workflowId);
    expect(done).toMatchObject({ runId: started.runId, status: "terminated", failureMessage: "stop now" });
    expect(done.closeTime).toBeInstanceOf(Date);
  });

  it("describe of an unknown workflow or run is null", async () => {
    expect(await gateway.describe(newId("never-started"))).toBeNull();
    const workflowId = newId(`${impl.name}-known`);
    await gateway.start({ workflowId, workflowType: "completesWorkflow", taskQueue, args: [{ sleepMs: 0 }] });
    expect(await gateway.describe(workflowId, randomUUID())).toBeNull();
    await waitForClose(gateway, workflowId);
  });

  it("cancel and terminate of an unknown workflow do not throw", async () => {
    await expect(gateway.cancel(newId("never-started"))).resolves.toBeUndefined();
    await expect(gateway.terminate(newId("never-started"), undefined, "nothing")).resolves.toBeUndefined();
    await expect(gateway.cancel(newId("never-started"), randomUUID(), "nothing")).resolves.toBeUndefined();
    await expect(gateway.terminate(newId("never-started"), randomUUID())).resolves.toBeUndefined();
  });

  it("refuses a workflow id it cannot address (\"..\", \".\", \"/\", control characters, over 1000 bytes) before any request", async () => {
    for (const workflowId of ["..", ".", "a/b", "a\u0000b", "a\nb", "a\u007fb", "é".repeat(501), ""]) {
      await expect(gateway.start({ workflowId, workflowType: "completesWorkflow", taskQueue, args: [] }), JSON.stringify(workflowId))
        .rejects.toBeInstanceOf(TemporalRequestError);
      await expect(gateway.describe(workflowId)).rejects.toBeInstanceOf(TemporalRequestError);
      await expect(gateway.cancel(workflowId)).rejects.toBeInstanceOf(TemporalRequestError);
      await expect(gateway.terminate(workflowId)).rejects.toBeInstanceOf(TemporalRequestError);
    }
    // Dots inside an id are fine.
    const dotted = `...${randomUUID()}`;
    await gateway.start({ workflowId: dotted, workflowType: "completesWorkflow", taskQueue, args: [{ sleepMs: 0 }] });
    expect((await waitForClose(gateway, dotted)).status).toBe("completed");
  });

  it("an unknown namespace is a request error, not an unknown workflow", async () => {
    const other = await impl.create(target({ namespace: `missing-${randomUUID()}` }));
    try {
      const workflowId = newId("nowhere");
      await expect(other.describe(workflowId)).rejects.toBeInstanceOf(TemporalRequestError);
      await expect(other.cancel(workflowId)).rejects.toBeInstanceOf(TemporalRequestError);
      await expect(other.terminate(workflowId)).rejects.toBeInstanceOf(TemporalRequestError);
      const error = await other.start({ workflowId, workflowType: "completesWorkflow", taskQueue, args: [] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TemporalRequestError);
      expect((error as TemporalRequestError).status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it("a closed port is TemporalUnavailableError, quickly", async () => {
    const port = await closedPort();
    const down = await impl.create({ httpUrl: `http://127.0.0.1:${port}`, address: `127.0.0.1:${port}`, namespace: "default", timeoutMs: 1_500 });
    try {
      const t0 = Date.now();
      const workflowId = newId("down");
      await expect(down.start({ workflowId, workflowType: "completesWorkflow", taskQueue, args: [] })).rejects.toBeInstanceOf(TemporalUnavailableError);
      await expect(down.describe(workflowId)).rejects.toBeInstanceOf(TemporalUnavailableError);
      await expect(down.cancel(workflowId)).rejects.toBeInstanceOf(TemporalUnavailableError);
      await expect(down.terminate(workflowId)).rejects.toBeInstanceOf(TemporalUnavailableError);
      expect(Date.now() - t0).toBeLessThan(4 * 1_500 + 2_000);
    } finally {
      await down.close();
    }
  });

  it("a server that never answers is TemporalUnavailableError after the timeout", async () => {
    const hole = await blackHole();
    const down = await impl.create({ httpUrl: `http://127.0.0.1:${hole.port}`, address: `127.0.0.1:${hole.port}`, namespace: "default", timeoutMs: 1_000 });
    try {
      const t0 = Date.now();
      await expect(down.describe(newId("hole"))).rejects.toBeInstanceOf(TemporalUnavailableError);
      expect(Date.now() - t0).toBeLessThan(4_000);
    } finally {
      await down.close();
      await hole.close();
    }
  });
});

describe("both gateways agree", () => {
  it("describe gives the same answer through either gateway", async () => {
    const http = await implementations[0]!.create(target());
    const sdk = await implementations[1]!.create(target());
    try {
      const completedId = newId("agree-completed");
      const failedId = newId("agree-failed");
      await http.start({ workflowId: completedId, workflowType: "completesWorkflow", taskQueue, args: [{ sleepMs: 0, x: [1, 2] }] });
      await sdk.start({ workflowId: failedId, workflowType: "failsWorkflow", taskQueue, args: [{ message: "same" }] });
      for (const id of [completedId, failedId]) {
        const viaHttp = await waitForClose(http, id);
        const viaSdk = await sdk.describe(id);
        expect(viaSdk).toEqual(viaHttp);
      }
      // A start through the other gateway finds the existing run.
      const again = await sdk.start({ workflowId: completedId, workflowType: "completesWorkflow", taskQueue, args: [] });
      expect(again).toEqual({ workflowId: completedId, runId: (await http.describe(completedId))!.runId, alreadyStarted: true });
    } finally {
      await http.close();
      await sdk.close();
    }
  });
});

describe("test worker", () => {
  it("stopping a worker mid-run leaves the workflow open; a new worker finishes it", async () => {
    const queue = `worker-restart-${randomUUID()}`;
    const gateway = createHttpTemporalGateway({ baseUrl: server.httpUrl, namespace: server.namespace });
    let first: TestWorker | undefined = await startTestWorker({ address: server.address, namespace: server.namespace, taskQueue: queue });
    let second: TestWorker | undefined;
    try {
      const workflowId = newId("worker-dies");
      await gateway.start({ workflowId, workflowType: "completesWorkflow", taskQueue: queue, args: [{ sleepMs: 1_500 }] });
      await sleep(500); // the first worker has started it and is waiting on the timer
      await first.stop();
      first = undefined;
      await sleep(2_000); // the timer has fired; nobody is there to run the workflow
      expect((await gateway.describe(workflowId))?.status).toBe("running");

      second = await startTestWorker({ address: server.address, namespace: server.namespace, taskQueue: queue });
      const done = await waitForClose(gateway, workflowId);
      expect(done).toMatchObject({ status: "completed", result: { echoed: { sleepMs: 1_500 }, ok: true } });
    } finally {
      await first?.stop();
      await second?.stop();
    }
  });
});

describe("http gateway: an id that would escape the URL path is refused before any request (fake fetch)", () => {
  it('".." and "." never reach fetch: they would address /namespaces/<ns>/cancel', async () => {
    const urls: string[] = [];
    const gateway = createHttpTemporalGateway({
      baseUrl: "http://temporal.invalid",
      namespace: "default",
      fetch: async (input) => {
        urls.push(String(input));
        return new Response("{}", { status: 200 });
      },
    });
    for (const workflowId of ["..", ".", "a/b", "tab\there"]) {
      await expect(gateway.cancel(workflowId, undefined, "x")).rejects.toBeInstanceOf(TemporalRequestError);
      await expect(gateway.terminate(workflowId, undefined, "x")).rejects.toBeInstanceOf(TemporalRequestError);
      await expect(gateway.describe(workflowId)).rejects.toBeInstanceOf(TemporalRequestError);
    }
    expect(urls).toEqual([]);
  });
});

describe("http gateway error mapping (fake fetch)", () => {
  const respond = (status: number, body: unknown) =>
    createHttpTemporalGateway({
      baseUrl: "http://temporal.invalid",
      namespace: "default",
      fetch: async () => new Response(typeof body === "string" ? body : JSON.stringify(body), { status }),
    });

  it("503 / 5xx / 429 are unavailable; other 4xx are request errors with their status", async () => {
    await expect(respond(503, { code: 14, message: "unavailable" }).describe("x")).rejects.toBeInstanceOf(TemporalUnavailableError);
    await expect(respond(502, "<html>bad gateway</html>").describe("x")).rejects.toBeInstanceOf(TemporalUnavailableError);
    await expect(respond(500, { code: 13, message: "internal" }).cancel("x")).rejects.toBeInstanceOf(TemporalUnavailableError);
    await expect(respond(429, { code: 8, message: "slow down" }).terminate("x")).rejects.toBeInstanceOf(TemporalUnavailableError);
    const error = await respond(400, { code: 3, message: "bad" })
      .start({ workflowId: "x", workflowType: "t", taskQueue: "q", args: [] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemporalRequestError);
    expect((error as TemporalRequestError).status).toBe(400);
    await expect(respond(403, { code: 7, message: "denied" }).describe("x")).rejects.toBeInstanceOf(TemporalRequestError);
    // A 404 that is not Temporal's own "workflow not found" (proxy, wrong base URL) is an error, not null.
    await expect(respond(404, "not here").describe("x")).rejects.toBeInstanceOf(TemporalRequestError);
  });

  it("network errors and timeouts are unavailable", async () => {
    const failing = createHttpTemporalGateway({
      baseUrl: "http://temporal.invalid",
      namespace: "default",
      fetch: async () => {
        throw new TypeError("fetch failed");
      },
    });
    await expect(failing.describe("x")).rejects.toBeInstanceOf(TemporalUnavailableError);
    const hanging = createHttpTemporalGateway({
      baseUrl: "http://temporal.invalid",
      namespace: "default",
      timeoutMs: 200,
      fetch: (_input, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        }),
    });
    await expect(hanging.describe("x")).rejects.toBeInstanceOf(TemporalUnavailableError);
  });

  it("refuses workflow ids the HTTP API cannot address", async () => {
    const gateway = respond(200, {});
    await expect(gateway.describe("a/b")).rejects.toBeInstanceOf(TemporalRequestError);
  });
});
