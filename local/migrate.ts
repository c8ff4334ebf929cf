/**
 * Applies the local platform bootstrap and the Supabase migrations to a database, recording them
 * exactly as the Supabase CLI does (`supabase db push` / `migration up`), so a database migrated
 * by the CLI and one migrated here agree on what is applied:
 *
 *   supabase_migrations.schema_migrations (version text primary key, statements text[], name text)
 *   version = the digits before the first "_" of the file name, name = the rest without ".sql",
 *   statements = the file split into statements the way the CLI's parser splits it
 *   (pkg/parser: comments kept, trailing ";" and surrounding whitespace trimmed).
 *
 * Each pending file runs in one transaction together with its history row (the CLI's batch is
 * implicitly transactional too), under a transaction-level advisory lock, so two processes
 * starting at once apply each file once. local/platform-bootstrap.sql is idempotent and applied
 * on every run; it is not a migration and is not recorded.
 *
 * Runtime-neutral (Deno and Node). As a command (Deno), against DATABASE_URL:
 *   DATABASE_URL=postgres://... deno run -A --config deno.json local/migrate.ts
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql } from "../shared/db.ts";

export const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
export const DEFAULT_BOOTSTRAP_FILE = join(REPO_ROOT, "local", "platform-bootstrap.sql");
export const DEFAULT_MIGRATIONS_DIR = join(REPO_ROOT, "supabase", "migrations");

export interface MigrationFile {
  version: string;
  name: string;
  fileName: string;
  statements: string[];
}

export interface MigrateOptions {
  /**
   * local/platform-bootstrap.sql; null to skip. Skipped anyway on a Supabase database (role
   * supabase_admin exists): it has the platform already, and its auth functions are not ours to replace.
   */
  bootstrapFile?: string | null;
  migrationsDir?: string;
  log?: (message: string) => void;
}

export interface MigrateResult {
  /** Whether local/platform-bootstrap.sql was applied. */
  bootstrapped: boolean;
  /** Files applied by this run, in order. */
  applied: MigrationFile[];
  /** Versions that were already recorded (by an earlier run or the Supabase CLI). */
  alreadyApplied: string[];
  /** Versions recorded in the database with no file here (applied from another checkout). */
  unknown: string[];
}

/** An error while applying one file, naming the file and the statement. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
  constructor(
    readonly file: string,
    readonly statementIndex: number | null,
    readonly statement: string | null,
    override readonly cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      statementIndex === null
        ? `${file}: ${reason}`
        : `${file}, statement ${statementIndex + 1}: ${reason}\n${indent(statement ?? "", "    ")}`,
    );
  }
}

/** The Supabase CLI's migration file pattern (pkg/migration/file.go). */
const migrationFilePattern = /^([0-9]+)_(.*)\.sql$/;

/** Arbitrary constant of the advisory lock serializing migration runs on one database. */
const MIGRATION_LOCK_KEY = 7_246_385_190;

/** The migration files of `dir`, in the CLI's order (file name), each split into statements. */
export async function readMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((name) => migrationFilePattern.test(name)).sort();
  return await Promise.all(names.map(async (fileName) => {
    const [, version, name] = migrationFilePattern.exec(fileName)!;
    return { version, name, fileName, statements: splitStatements(await readFile(join(dir, fileName), "utf8")) };
  }));
}

/** Bootstrap, then every migration not yet recorded; see the module comment. */
export async function migrate(sql: Sql, options: MigrateOptions = {}): Promise<MigrateResult> {
  const log = options.log ?? (() => {});
  const bootstrapFile = options.bootstrapFile === undefined ? DEFAULT_BOOTSTRAP_FILE : options.bootstrapFile;
  const files = await readMigrations(options.migrationsDir);

  const [{ supabase }] = await sql<{ supabase: boolean }[]>`select exists (select from pg_roles where rolname = 'supabase_admin') as supabase`;
  const bootstrapped = !!bootstrapFile && !supabase;
  if (bootstrapped) {
    // Simple-query protocol (no parameters): the whole idempotent file in one round trip.
    await sql.unsafe(await readFile(bootstrapFile!, "utf8"));
  } else if (bootstrapFile) {
    log("Supabase database: platform bootstrap skipped");
  }

  // The CLI's own statements (pkg/migration/history.go), so either may create the table first.
  await sql.begin(async (tx) => {
    await tx.unsafe("create schema if not exists supabase_migrations");
    await tx.unsafe("create table if not exists supabase_migrations.schema_migrations (version text not null primary key)");
    await tx.unsafe("alter table supabase_migrations.schema_migrations add column if not exists statements text[]");
    await tx.unsafe("alter table supabase_migrations.schema_migrations add column if not exists name text");
  });

  const recorded = new Set((await sql<{ version: string }[]>`select version from supabase_migrations.schema_migrations`).map((r) => r.version));
  const result: MigrateResult = {
    bootstrapped,
    applied: [],
    alreadyApplied: files.filter((f) => recorded.has(f.version)).map((f) => f.version),
    unknown: [...recorded].filter((v) => !files.some((f) => f.version === v)).sort(),
  };
  if (result.unknown.length) log(`the database has migrations this checkout does not: ${result.unknown.join(", ")}`);

  for (const file of files.filter((f) => !recorded.has(f.version))) {
    const started = Date.now();
    const applied = await applyMigration(sql, file);
    if (applied) {
      result.applied.push(file);
      log(`applied ${file.fileName} (${Date.now() - started} ms)`);
    } else {
      result.alreadyApplied.push(file.version);
    }
  }
  return result;
}

/** One file in one transaction with its history row; false when another process applied it meanwhile. */
async function applyMigration(sql: Sql, file: MigrationFile): Promise<boolean> {
  let index: number | null = null;
  try {
    return await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
      const [done] = await tx`select 1 from supabase_migrations.schema_migrations where version = ${file.version}`;
      if (done) return false;
      for (index = 0; index < file.statements.length; index++) {
        await tx.unsafe(file.statements[index]);
      }
      index = null;
      await tx`insert into supabase_migrations.schema_migrations (version, name, statements)
               values (${file.version}, ${file.name}, ${file.statements})`;
      return true;
    }) as boolean;
  } catch (error) {
    throw new MigrationError(file.fileName, index, index === null ? null : file.statements[index], error);
  }
}

// ---------------------------------------------------------------------------------------------
// Statement splitting: a port of the Supabase CLI's tokenizer (pkg/parser/state.go, token.go),
// so `statements` holds what the CLI would record. A `;` ends a statement unless it is inside a
// quote ('...' or "..."), a dollar quote ($tag$...$tag$), a comment (-- or nested /* */),
// parentheses, a BEGIN ATOMIC ... END body, or follows a backslash. Comments and whitespace
// stay with the statement that follows them; SplitAndTrim then trims trailing ";" and spaces.
// ---------------------------------------------------------------------------------------------

interface State {
  /** The next state after character `ch`, given all text of the statement so far (`data`, ending with `ch`); null ends the statement. */
  next(ch: string, data: string): State | null;
}

const isSpace = (ch: string) => /^\s$/u.test(ch);
const isTagChar = (ch: string) => /^[\p{L}\p{N}_]$/u.test(ch);

class ReadyState implements State {
  next(ch: string, data: string): State | null {
    switch (ch) {
      case "$":
        return new TagState(data.length - 1);
      case "'":
      case '"':
        return new QuoteState(ch);
      case "-":
        return new CommentState();
      case "/":
        return new BlockState();
      case "\\":
        return new EscapeState();
      case ";":
        return null;
      case "(":
        return new AtomicState(this, ")");
      case "c":
      case "C": {
        const offset = data.length - "ATOMIC".length;
        if (offset > 0 && data.slice(offset).toUpperCase() === "ATOMIC" && isSpace(data[offset - 1])) {
          return new AtomicState(this, "END");
        }
        return this;
      }
      default:
        return this;
    }
  }
}

class CommentState implements State {
  next(ch: string, data: string): State | null {
    if (ch === "-") return new DollarState("\n");
    return new ReadyState().next(ch, data);
  }
}

class BlockState implements State {
  depth = 0;
  next(ch: string, data: string): State | null {
    const window = data.slice(-2);
    if (window === "/*") {
      this.depth++;
      return this;
    }
    if (this.depth === 0) return new ReadyState().next(ch, data);
    if (window === "*/") {
      this.depth--;
      if (this.depth === 0) return new ReadyState();
    }
    return this;
  }
}

class QuoteState implements State {
  escape = false;
  constructor(readonly delimiter: string) {}
  next(ch: string, data: string): State | null {
    if (this.escape) {
      if (ch === this.delimiter) {
        // A doubled quote is an escaped quote.
        this.escape = false;
        return this;
      }
      return new ReadyState().next(ch, data);
    }
    if (ch === this.delimiter) this.escape = true;
    return this;
  }
}

class DollarState implements State {
  constructor(readonly delimiter: string) {}
  next(_ch: string, data: string): State | null {
    return data.endsWith(this.delimiter) ? new ReadyState() : this;
  }
}

class TagState implements State {
  constructor(readonly offset: number) {}
  next(ch: string, data: string): State | null {
    if (ch === "$") return new DollarState(data.slice(this.offset));
    if (isTagChar(ch)) return this;
    return new ReadyState().next(ch, data);
  }
}

class EscapeState implements State {
  next(): State | null {
    return new ReadyState();
  }
}

class AtomicState implements State {
  constructor(private prev: State, readonly delimiter: string) {}
  next(ch: string, data: string): State | null {
    // Inside a quote the delimiter does not count; a ";" does not end the statement here.
    const current = this.prev.next(ch, data);
    if (current) this.prev = current;
    if (this.prev instanceof ReadyState && data.slice(-this.delimiter.length).toUpperCase() === this.delimiter.toUpperCase()) {
      return new ReadyState();
    }
    return this;
  }
}

/** Splits SQL into statements as `supabase` records them (SplitAndTrim): trailing ";" and whitespace trimmed, empty ones dropped. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let state: State = new ReadyState();
  let start = 0;
  let data = "";
  for (let i = 0; i < sql.length;) {
    const ch = String.fromCodePoint(sql.codePointAt(i)!);
    i += ch.length;
    data = sql.slice(start, i);
    const next = state.next(ch, data);
    if (next === null) {
      statements.push(data);
      start = i;
      state = new ReadyState();
    } else {
      state = next;
    }
  }
  if (start < sql.length) statements.push(sql.slice(start));
  return statements.map((s) => s.replace(/;+$/, "").trim()).filter((s) => s.length > 0);
}

function indent(text: string, prefix: string): string {
  return text.split("\n").map((line) => prefix + line).join("\n");
}

// ---------------------------------------------------------------------------------------------
// Command line (Deno)
// ---------------------------------------------------------------------------------------------

if ((import.meta as { main?: boolean }).main) {
  const deno = (globalThis as unknown as { Deno: { env: { get(name: string): string | undefined }; exit(code: number): never } }).Deno;
  const url = deno.env.get("SUPABASE_DB_URL") ?? deno.env.get("DATABASE_URL");
  if (!url) {
    console.error("migrate: set DATABASE_URL (the embedded dev database is migrated by `npm start` itself)");
    deno.exit(2);
  }
  const { createDatabase } = await import("../shared/db.ts");
  const sql = createDatabase({ url: url!, poolSize: 1 });
  try {
    const result = await migrate(sql, { log: (message) => console.log(message) });
    console.log(`${result.applied.length} applied, ${result.alreadyApplied.length} already applied`);
  } catch (error) {
    console.error(`migrate: ${error instanceof Error ? error.message : error}`);
    deno.exit(1);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
