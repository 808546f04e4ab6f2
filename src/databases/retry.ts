import type pg from 'pg';

/** SQLSTATE `serialization_failure`: the transaction lost a conflict and may simply run again. */
export const SERIALIZATION_FAILURE = '40001';

/** The slice of a pooled `pg` client that `withRetry` needs (a fake one in tests). */
export interface TransactionClient {
  query(text: string): Promise<unknown>;
  /** pg destroys the connection instead of reusing it when given a truthy argument. */
  release(destroy?: Error | boolean): void;
}

export interface TransactionPool<C extends TransactionClient> {
  connect(): Promise<C>;
}

export interface RetryOptions {
  /** @default 10 */
  maxAttempts?: number;
  /** First backoff ceiling; doubles on every retry. @default 10 */
  baseDelayMs?: number;
  /** @default 1000 */
  maxDelayMs?: number;
  /** Injected in tests. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** Injected in tests. @default Math.random */
  random?: () => number;
  /** Which errors to retry. @default isRetryableError (SQLSTATE 40001) */
  retryOn?: (error: unknown) => boolean;
  /** Called before each retry with the attempt that failed (1-based). */
  onRetry?: (attempt: number, error: unknown) => void;
}

/** True for the error CockroachDB (and PostgreSQL at SERIALIZABLE) asks the client to retry. */
export function isRetryableError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === SERIALIZATION_FAILURE
  );
}

/**
 * Runs `fn` in `BEGIN … COMMIT` on one pooled client. On SQLSTATE 40001 (from any statement or from
 * COMMIT itself, where CockroachDB reports most conflicts) it rolls back and runs `fn` again after a
 * "full jitter" exponential backoff, up to `maxAttempts` times; any other error rolls back and is
 * rethrown untouched. `fn` must therefore be safe to run more than once: no side effects outside the
 * transaction. CockroachDB requires clients to do this (it has no server-side retry for explicit
 * transactions); on PostgreSQL at READ COMMITTED it is a no-op that costs nothing.
 *
 * 40003 (`statement_completion_unknown`, an ambiguous commit) is deliberately not retried: the
 * transaction may have committed, and only the caller knows whether running it twice is harmless.
 */
export async function withRetry<T, C extends TransactionClient = pg.PoolClient>(
  pool: TransactionPool<C>,
  fn: (client: C) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 10;
  const baseDelayMs = options.baseDelayMs ?? 10;
  const maxDelayMs = options.maxDelayMs ?? 1000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const retryOn = options.retryOn ?? isRetryableError;

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
          // The connection is unusable (e.g. the server went away): do not hand it back to the pool.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
          throw error;
        }
        if (!retryOn(error) || attempt >= maxAttempts) throw error;
        options.onRetry?.(attempt, error);
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        await sleep(Math.floor(random() * ceiling));
      }
    }
  } finally {
    client.release(broken);
  }
}
