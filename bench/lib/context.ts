/** What every scenario gets: the databases, the functions server, and the seeded cast. */
import type { Sql } from "../../tests/support/postgres.ts";
import type { Caller } from "../../shared/types.ts";
import type { BenchDatabase } from "./database.ts";
import type { BenchServer } from "./server.ts";
import { serviceToken, userToken } from "./server.ts";

export interface SeededUser {
  /** Rank in the seed's Zipf-like distribution (1 = heaviest). */
  n: number;
  id: string;
  rows: number;
}

export interface SeededWorkflow {
  n: number;
  id: string;
  ownerN: number;
  owner: string;
  rows: number;
}

export interface BenchContext {
  size: string;
  rows: number;
  db: BenchDatabase;
  /** A pool configured exactly like the functions' (shared/db.ts createDatabase). */
  sql: Sql;
  server: BenchServer;
  heavyUser: SeededUser;
  lightUser: SeededUser;
  heavyWorkflow: SeededWorkflow;
  /** Workflow ids by user rank (1-based) and workflow rank (0-based). */
  workflowsOf(userN: number): string[];
  userId(userN: number): string;
  token(userId: string): Promise<string>;
  serviceToken(): Promise<string>;
}

export const userCaller = (userId: string): Caller => ({
  role: "authenticated",
  userId,
  claims: { sub: userId, role: "authenticated", aud: "authenticated" },
});
export const serviceCaller: Caller = { role: "service_role", userId: null, claims: { role: "service_role" } };

export async function loadCast(admin: Sql) {
  const wf = await admin`select n, id, owner_n, owner from bench.wf order by n`;
  const users = await admin`
    select u.n, u.id, coalesce(c.rows, 0)::float8 as rows
      from (select n, md5('bench-user-' || n)::uuid as id from generate_series(1, 1000) n) u
      left join (select created_by, count(*) as rows from public.workflow_executions group by 1) c on c.created_by = u.id
     order by rows desc, n`;
  const [heavyWf] = await admin`
    select w.n, w.id, w.owner_n, w.owner, count(*)::float8 as rows
      from public.workflow_executions e join bench.wf w on w.id = e.workflow_id
     where e.created_by = ${users[0].id}
     group by 1, 2, 3, 4 order by rows desc limit 1`;
  // A typical light user: the median of those who have any rows.
  const active = users.filter((u) => u.rows > 0);
  const light = active[Math.floor(active.length / 2)];
  const byUser = new Map<number, string[]>();
  for (const w of wf) {
    const list = byUser.get(w.owner_n) ?? [];
    list.push(w.id);
    byUser.set(w.owner_n, list);
  }
  return {
    heavyUser: { n: users[0].n, id: users[0].id, rows: users[0].rows } as SeededUser,
    lightUser: { n: light.n, id: light.id, rows: light.rows } as SeededUser,
    heavyWorkflow: { n: heavyWf.n, id: heavyWf.id, ownerN: heavyWf.owner_n, owner: heavyWf.owner, rows: heavyWf.rows } as SeededWorkflow,
    workflowsOf: (userN: number) => byUser.get(userN) ?? [],
    userId: (userN: number) => users.find((u) => u.n === userN)!.id as string,
  };
}

/** Token cache: a JWT per user, minted once (HS256, valid for the run). */
export function tokenCache() {
  const tokens = new Map<string, Promise<string>>();
  let service: Promise<string> | null = null;
  return {
    token: (userId: string) => {
      let token = tokens.get(userId);
      if (!token) tokens.set(userId, token = userToken(userId, { expiresIn: 24 * 3600 }));
      return token;
    },
    serviceToken: () => (service ??= serviceToken({ expiresIn: 24 * 3600 })),
  };
}
