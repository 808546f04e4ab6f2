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
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it kills the process.
  pool.on('error', (error) => {
    process.stderr.write(`${JSON.stringify({ level: 'warn', msg: 'idle database client failed', error: error.message })}\n`);
  });
  return pool;
}

/** True for the error CockroachDB (and PostgreSQL at SERIALIZABLE) asks the client to retry. */
export function isRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === SERIALIZATION_FAILURE;
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
export function backoffMs(attempt: number, options: RetryOptions = {}, random: () => number = Math.random): number {
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
 * row a line) and resolves with the number of rows the server stored. `chunks` yields text made
 * of whole lines; a few hundred KiB per chunk keeps the socket busy. Both PostgreSQL and
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
  chunks: Iterable<string> | AsyncIterable<string>,
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
              connection.sendCopyFromChunk(Buffer.from(text, 'utf8'));
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
