/**
 * The database side every fraud service with a `DATABASE_URL` shares: a `pg` pool, a transaction
 * helper that retries SQLSTATE 40001 (CockroachDB asks clients to; PostgreSQL at READ COMMITTED
 * never raises it, so the loop costs nothing there), and `COPY … FROM STDIN` for fast seeding.
 * Services are their own programs: this file must not import Rampart's `src/`.
 */
import pg from 'pg';

/** SQLSTATE `serialization_failure`: the transaction lost a conflict and may simply run again. */
export const SERIALIZATION_FAILURE = '40001';

export interface PoolOptions {
  /** @default process.env.DATABASE_URL (read when called, never at import) */
  connectionString?: string;
  /** @default 10 */
  max?: number;
  /** Shows in `pg_stat_activity`. */
  applicationName?: string;
  /** Runs on every new connection before the pool hands it out (session settings). */
  onConnect?: (client: pg.ClientBase) => Promise<void>;
}

/** A pool on the service's own role; its schema comes first on the role's search_path. */
export function createPool(options: PoolOptions = {}): pg.Pool {
  const connectionString = options.connectionString ?? process.env.DATABASE_URL;
  if (!connectionString) throw new Error('DATABASE_URL is not set: declare the service as a database user');
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName,
    idleTimeoutMillis: 30_000,
    ...(options.onConnect ? { onConnect: options.onConnect } : {}),
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it kills the process.
  pool.on('error', (error) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'warn', msg: 'idle database client failed', error: error.message })}\n`,
    );
  });
  return pool;
}

/** True for the error CockroachDB (and PostgreSQL at SERIALIZABLE) asks the client to retry. */
export function isRetryable(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === SERIALIZATION_FAILURE
  );
}

export interface RetryOptions {
  /** @default 8 */
  maxAttempts?: number;
  /** First backoff ceiling in ms; doubles on every retry. @default 5 */
  baseDelayMs?: number;
  /** @default 500 */
  maxDelayMs?: number;
  /** Injected in tests. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** Injected in tests. @default Math.random */
  random?: () => number;
}

/** "Full jitter": a uniform delay below an exponentially growing ceiling, so retries spread out. */
export function backoffMs(
  attempt: number,
  options: RetryOptions = {},
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs ?? 500, (options.baseDelayMs ?? 5) * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` (one statement, or anything that is its own implicit transaction) and runs it again
 * after a jittered backoff when it fails with 40001. `fn` must be safe to repeat.
 */
export async function retrying<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isRetryable(error) || attempt >= maxAttempts) throw error;
      await (options.sleep ?? defaultSleep)(backoffMs(attempt, options, options.random));
    }
  }
}

/** The slice of a pooled client a transaction needs (a fake one in unit tests). */
export interface TxClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
  release(destroy?: Error | boolean): void;
}

export interface TxPool<C extends TxClient> {
  connect(): Promise<C>;
}

/**
 * Runs `fn` in `BEGIN … COMMIT` on one pooled client, and again (after rolling back and a jittered
 * backoff) when any statement or the COMMIT itself fails with 40001, where CockroachDB reports most
 * conflicts. Other errors roll back and are rethrown. A client whose ROLLBACK fails is destroyed,
 * not returned to the pool.
 */
export async function transaction<T, C extends TxClient = pg.PoolClient>(
  pool: TxPool<C>,
  fn: (client: C) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 8;
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
          throw error;
        }
        if (!isRetryable(error) || attempt >= maxAttempts) throw error;
        await (options.sleep ?? defaultSleep)(backoffMs(attempt, options, options.random));
      }
    }
  } finally {
    client.release(broken);
  }
}

/** What `copyFrom` needs from pg's connection: the same calls pg-copy-streams makes. */
interface CopyConnection {
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

/**
 * Streams rows into `COPY <table> (…) FROM STDIN` (text format: tab-separated, `\N` for NULL, one
 * row a line) and resolves with the number of rows the server stored. `chunks` yields text (or
 * UTF-8 bytes) made of whole lines; a few hundred KiB per chunk keeps the socket busy. A yielded
 * buffer is copied before the next one is asked for, so a source may refill one buffer. Both PostgreSQL and
 * CockroachDB accept COPY FROM STDIN.
 *
 * pg 8 has no COPY API of its own (that is pg-copy-streams, not installed here): this is the same
 * small protocol adapter, a "submittable" that pg drives through CopyInResponse, CommandComplete,
 * ErrorResponse and ReadyForQuery. A chunk source that throws aborts the COPY (CopyFail): nothing
 * of it is stored.
 */
export function copyFrom(
  client: pg.ClientBase,
  sql: string,
  chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let rows = 0;
    let failure: Error | undefined;
    const submittable = {
      submit(connection: CopyConnection) {
        connection.query(sql);
      },
      handleCopyInResponse(connection: CopyConnection) {
        void (async () => {
          try {
            for await (const text of chunks) {
              if (failure) return; // the server gave up: it ignores the rest
              if (text.length === 0) continue;
              // pg copies the chunk into its own message buffer: the source may reuse its buffer.
              connection.sendCopyFromChunk(
                typeof text === 'string'
                  ? Buffer.from(text, 'utf8')
                  : Buffer.from(text.buffer, text.byteOffset, text.byteLength),
              );
              if (connection.stream.writableNeedDrain) {
                await new Promise<void>((r) => connection.stream.once('drain', () => r()));
              }
            }
            connection.endCopyFrom();
          } catch (error) {
            failure = error instanceof Error ? error : new Error(String(error));
            connection.sendCopyFail(failure.message);
          }
        })();
      },
      handleCommandComplete(message: { text?: string }) {
        rows = Number(/COPY (\d+)/.exec(message.text ?? '')?.[1] ?? 0);
      },
      // pg clears the active query before calling this: it is the last call on an error.
      handleError(error: Error) {
        failure ??= error;
        reject(failure);
      },
      handleReadyForQuery() {
        resolve(rows);
      },
      // pg calls these on every active query; a COPY FROM never gets rows back.
      handleRowDescription() {},
      handleDataRow() {},
      handleEmptyQuery() {},
      handlePortalSuspended() {},
      handleCopyData() {},
    };
    client.query(submittable as unknown as pg.Submittable);
  });
}

/** Escapes one value for COPY's text format (backslash, tab, newline, carriage return). */
export function copyText(value: string): string {
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
    : value;
}

/**
 * Runs `CREATE … IF NOT EXISTS` statements, in order. Replicas starting together race: PostgreSQL's
 * IF NOT EXISTS checks before it creates, so the loser can still fail with 23505 (on a catalog
 * key such as pg_type's) or 42P07 / 42710; the object exists either way, so those are ignored.
 */
export async function ensureSchema(pool: pg.Pool, statements: readonly string[]): Promise<void> {
  for (const sql of statements) {
    try {
      await pool.query(sql);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== '23505' && code !== '42P07' && code !== '42710') throw error;
    }
  }
}

/**
 * Readies a freshly loaded table for queries. On PostgreSQL, `VACUUM (ANALYZE)`: besides the
 * statistics it sets the visibility map, without which an index-only scan still visits the heap for
 * every row, and it leaves autovacuum nothing to do, where it would otherwise scan the whole new
 * table at a random moment under load. CockroachDB has no VACUUM (and no visibility map): there,
 * `ANALYZE` only. VACUUM cannot run inside a transaction, so call it on the pool.
 */
export async function settleLoadedTable(pool: pg.Pool, table: string): Promise<void> {
  const name = pg.escapeIdentifier(table);
  const { rows } = await pool.query<{ version: string }>('SELECT version() AS version');
  const cockroach = /cockroach/i.test(rows[0]?.version ?? '');
  await pool.query(cockroach ? `ANALYZE ${name}` : `VACUUM (ANALYZE) ${name}`);
}

/** The claims that make one replica seed a table while the others wait (in each service's schema). */
export const SEED_RUNS_TABLE = `CREATE TABLE IF NOT EXISTS seed_runs (
  name TEXT PRIMARY KEY,
  rows BIGINT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ NULL
)`;

export interface SeedOnceOptions {
  /** The table to fill; also the claim's name in `seed_runs`. */
  table: string;
  /** Its columns, in the order of the COPY lines. */
  columns: readonly string[];
  /** How many rows `lines` will hold (recorded in the claim). */
  expected: number;
  /** COPY text-format lines; called only when this replica seeds. */
  lines: () => Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;
}

/**
 * Fills `table` once per database. The first replica claims `seed_runs` and COPYs the rows in the
 * same transaction, so a crash leaves neither claim nor rows, and a replica starting at the same
 * time blocks on the claim until the seed commits, then finds it done. A table that already holds
 * rows is left alone. Resolves with the rows this call stored (0 when it did not seed).
 */
export async function seedOnce(pool: pg.Pool, options: SeedOnceOptions): Promise<number> {
  if (options.expected <= 0) return 0;
  await ensureSchema(pool, [SEED_RUNS_TABLE]);
  return transaction(pool, async (client) => {
    const claim = await client.query(
      'INSERT INTO seed_runs (name, rows, started_at) VALUES ($1, $2, now()) ON CONFLICT (name) DO NOTHING RETURNING name',
      [options.table, options.expected],
    );
    if (claim.rowCount === 0) return 0;
    const existing = await client.query(`SELECT 1 FROM ${pg.escapeIdentifier(options.table)} LIMIT 1`);
    if (existing.rowCount) return 0;
    const columns = options.columns.map((c) => pg.escapeIdentifier(c)).join(', ');
    const stored = await copyFrom(
      client,
      `COPY ${pg.escapeIdentifier(options.table)} (${columns}) FROM STDIN`,
      options.lines(),
    );
    await client.query('UPDATE seed_runs SET rows = $1, finished_at = now() WHERE name = $2', [
      stored,
      options.table,
    ]);
    return stored;
  });
}
