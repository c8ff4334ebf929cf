/**
 * Database access: one postgres.js pool per process, and `withCaller`, which runs a unit of
 * work as one transaction in the caller's Postgres role with the caller's JWT claims, exactly
 * as PostgREST does. Row Level Security therefore decides what each caller may touch.
 */
import postgres from "postgres";
import { translateDatabaseError } from "./database-errors.ts";
import type { Caller } from "./types.ts";

export type Sql = postgres.Sql;
/** What the repository runs its queries on: a connection inside a caller's transaction. */
export type Tx = postgres.Sql;

export interface DatabaseOptions {
  url: string;
  poolSize?: number;
}

/**
 * Opens a pool. `prepare: false` because Supabase's transaction pooler (Supavisor) cannot
 * keep prepared statements across transactions.
 */
export function createDatabase({ url, poolSize = 5 }: DatabaseOptions): Sql {
  return postgres(url, {
    max: poolSize,
    prepare: false,
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "execution-tracker" },
  });
}

/**
 * Runs `work` in one transaction as `caller`; SQL errors with known SQLSTATEs become typed
 * errors, and a transaction lost to a deadlock is run again (up to three times). BEGIN and
 * the role/claims settings are pipelined with the first statement of `work`, so a
 * single-statement request costs two round trips (that batch, then COMMIT).
 */
export async function withCaller<T>(sql: Sql, caller: Caller, work: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transactionAsCaller(sql, caller, work);
    } catch (error) {
      // A deadlock (two transactions folding into the same stats rollup rows in opposite
      // orders) or a serialization failure rolled everything back: running it again is safe.
      const retryable = (error as { code?: string }).code === "40P01" || (error as { code?: string }).code === "40001";
      if (!retryable || attempt >= 3) throw translateDatabaseError(error);
    }
  }
}

async function transactionAsCaller<T>(sql: Sql, caller: Caller, work: (tx: Tx) => Promise<T>): Promise<T> {
  const connection = await sql.reserve();
  try {
    // set_config(..., true) is `set local`: it ends with the transaction, so nothing leaks
    // to the next user of a pooled connection.
    const opened = Promise.all([
      connection`begin`.execute(),
      connection`select set_config('role', ${caller.role}, true),
                        set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true)`.execute(),
    ]);
    opened.catch(() => {}); // awaited below; a failure also fails work's first statement
    try {
      const result = await work(connection);
      await opened;
      await connection`commit`;
      return result;
    } catch (error) {
      await connection`rollback`.catch(() => {});
      throw error;
    }
  } finally {
    connection.release();
  }
}
