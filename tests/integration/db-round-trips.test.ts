/**
 * shared/db.ts's transactions on the wire: a TCP relay between the pool and PostgreSQL counts
 * the client's flights (a burst of messages the client writes before it waits for an answer).
 * A single-statement `withCaller` is two flights once the statement's parameter types are
 * known (BEGIN + role/claims + the statement, then COMMIT), three the first time (the Describe
 * of the parameter types is waited for); values are still serialized by their real types, and
 * the role and claims are still set for the transaction only.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type Sql, withCaller, withCallerStatement } from "../../shared/db.ts";
import { createUser, databaseUrl, userCaller } from "../support/postgres.ts";

/** Relays 127.0.0.1:<port> to the database, counting client flights (client data after a server answer). */
async function startRelay(target: URL) {
  let flights = 0;
  let lastFromServer = true;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    client.on("data", (chunk) => {
      if (lastFromServer) flights++;
      lastFromServer = false;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      lastFromServer = true;
      client.write(chunk);
    });
    const close = () => (client.destroy(), upstream.destroy());
    client.on("close", close).on("error", close);
    upstream.on("close", close).on("error", close);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: url.toString(),
    flights: () => flights,
    stop: () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
}

let relay: Awaited<ReturnType<typeof startRelay>>;
let sql: Sql;
let userId: string;

beforeAll(async () => {
  relay = await startRelay(new URL(databaseUrl()));
  sql = createDatabase({ url: relay.url, poolSize: 1 });
  const admin = createDatabase({ url: databaseUrl(), poolSize: 1 });
  userId = await createUser(admin);
  await admin.end({ timeout: 1 });
});
afterAll(async () => {
  await sql?.end({ timeout: 1 });
  await relay?.stop();
});

/** Flights of one withCaller run (the connection already open). */
async function flightsOf<T>(work: Parameters<typeof withCaller<T>>[2]): Promise<[T, number]> {
  const before = relay.flights();
  const result = await withCaller(sql, userCaller(userId), work);
  return [result, relay.flights() - before];
}

describe("withCaller round trips", () => {
  it("a single statement: three flights the first time, then two (no Describe round trip), with values typed as the server said", async () => {
    await withCaller(sql, userCaller(userId), (tx) => tx`select 1`); // connect
    // A plain object reaches a jsonb parameter only through the type the server described:
    // sent with an unknown type it would be "[object Object]".
    const input = { a: "x'; drop table y; --", n: 5 };
    const at = new Date("2026-01-02T03:04:05.678Z");
    const statement = (tx: Sql) => tx`
      select ${input as never}::jsonb ->> 'a' as a, (${input as never}::jsonb ->> 'n')::int as n, ${at}::timestamptz as at,
             ${"7"}::bigint + 1 as sum, current_user as role, auth.uid() as uid`;
    const [first, firstFlights] = await flightsOf((tx) => statement(tx));
    const [second, secondFlights] = await flightsOf((tx) => statement(tx));
    for (const [row] of [first, second]) {
      expect(row).toMatchObject({ a: input.a, n: 5, role: "authenticated", uid: userId });
      expect(new Date(row.at).toISOString()).toBe(at.toISOString());
      expect(String(row.sum)).toBe("8");
    }
    expect(firstFlights).toBe(3);
    expect(secondFlights).toBe(2);
  });

  it("the role and claims end with the transaction: the next plain statement on that connection is the login role again", async () => {
    await withCaller(sql, userCaller(userId), (tx) => tx`select ${userId}::uuid as id`);
    const [row] = await sql.begin((tx) => tx`select current_user as role, current_setting('request.jwt.claims', true) as claims`);
    expect(row.role).not.toBe("authenticated");
    expect(row.claims || null).toBeNull();
  });

  it("a statement whose known types no longer fit its values fails as a typed error and the next transaction works", async () => {
    const query = (tx: Sql, value: number | string) => tx`select ${value}::int + 1 as n`;
    await withCaller(sql, userCaller(userId), (tx) => query(tx, 1));
    await expect(withCaller(sql, userCaller(userId), (tx) => query(tx, "not a number"))).rejects.toBeTruthy();
    const [[row], flights] = await flightsOf((tx) => query(tx, 41));
    expect(row.n).toBe(42);
    expect(flights).toBe(2);
  });
});

describe("withCallerStatement: one statement, committed with it", () => {
  it("is one flight once the types are known, and its write is committed", async () => {
    const name = `one flight ${crypto.randomUUID()}`;
    const insert = (tx: Sql) => tx`insert into public.workflows (created_by, name) values (${userId}::uuid, ${name}) returning name`;
    const read = (tx: Sql) => tx`select name from public.workflows where name = ${name}`;
    await withCallerStatement(sql, userCaller(userId), (tx) => read(tx)); // learns the read's types
    const before = relay.flights();
    const [created] = await withCallerStatement(sql, userCaller(userId), (tx) => insert(tx));
    const insertFlights = relay.flights() - before;
    const [again] = await withCallerStatement(sql, userCaller(userId), (tx) => read(tx));
    expect(created.name).toBe(name);
    expect(again.name).toBe(name);
    expect(insertFlights).toBe(3); // first run of the insert: its Describe is waited for, and postgres.js queues nothing behind it
    const start = relay.flights();
    await withCallerStatement(sql, userCaller(userId), (tx) => read(tx));
    expect(relay.flights() - start).toBe(1);
  });

  it("a failing statement rolls back, RLS still decides, and a second statement is refused without running", async () => {
    const other = await (async () => {
      const admin = createDatabase({ url: databaseUrl(), poolSize: 1 });
      try {
        return await createUser(admin);
      } finally {
        await admin.end({ timeout: 1 });
      }
    })();
    const name = `refused ${crypto.randomUUID()}`;
    // RLS: a user may not insert a workflow for someone else.
    await expect(withCallerStatement(sql, userCaller(userId), (tx) => tx`insert into public.workflows (created_by, name) values (${other}::uuid, ${name})`)).rejects.toBeTruthy();
    const twice = withCallerStatement(sql, userCaller(userId), async (tx) => {
      await tx`insert into public.workflows (created_by, name) values (${userId}::uuid, ${name})`;
      await tx`insert into public.workflows (created_by, name) values (${userId}::uuid, ${name + " second"})`;
    });
    await expect(twice).rejects.toBeTruthy();
    const rows = await withCaller(sql, userCaller(userId), (tx) => tx`select name from public.workflows where name like ${name + "%"} order by name`);
    expect(rows.map((r) => r.name)).toEqual([name]); // the first was committed with its COMMIT, the second never ran
    const [state] = await sql.begin((tx) => tx`select current_user as role`);
    expect(state.role).not.toBe("authenticated");
  });
});
