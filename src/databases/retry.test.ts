import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withRetry, type TransactionClient } from './retry.ts';

/** A fake pooled client that records statements and fails the ones `failOn` says to. */
function fakePool(failOn: (text: string, call: number) => unknown = () => undefined) {
  const statements: string[] = [];
  const releases: unknown[] = [];
  let calls = 0;
  const client: TransactionClient = {
    async query(text: string) {
      statements.push(text);
      const error = failOn(text, calls++);
      if (error) throw error;
      return {};
    },
    release(destroy) {
      releases.push(destroy);
    },
  };
  return { pool: { connect: async () => client }, client, statements, releases };
}

const serializationFailure = () => Object.assign(new Error('restart transaction'), { code: '40001' });

describe('withRetry', () => {
  it('GIVEN a transaction that fails twice with 40001 WHEN run THEN it rolls back, retries and commits the third', async () => {
    const { pool, statements, releases } = fakePool();
    const delays: number[] = [];
    let attempts = 0;
    const result = await withRetry(
      pool,
      async (client) => {
        attempts++;
        await client.query('UPDATE t');
        if (attempts <= 2) throw serializationFailure();
        return 'done';
      },
      { sleep: async (ms) => void delays.push(ms), random: () => 0.5 },
    );
    assert.equal(result, 'done');
    assert.equal(attempts, 3);
    assert.deepEqual(statements, [
      'BEGIN',
      'UPDATE t',
      'ROLLBACK',
      'BEGIN',
      'UPDATE t',
      'ROLLBACK',
      'BEGIN',
      'UPDATE t',
      'COMMIT',
    ]);
    // Full jitter: half of a ceiling that starts at 10 ms and doubles.
    assert.deepEqual(delays, [5, 10]);
    assert.deepEqual(releases, [undefined]);
  });

  it('GIVEN COMMIT itself fails with 40001 (CockroachDB) WHEN run THEN the whole transaction runs again', async () => {
    let commits = 0;
    const { pool, statements } = fakePool((text) =>
      text === 'COMMIT' && commits++ === 0 ? serializationFailure() : undefined,
    );
    const result = await withRetry(pool, async () => 42, { sleep: async () => {} });
    assert.equal(result, 42);
    assert.deepEqual(statements, ['BEGIN', 'COMMIT', 'ROLLBACK', 'BEGIN', 'COMMIT']);
  });

  it('GIVEN another error WHEN run THEN it rolls back once and rethrows the same error', async () => {
    const { pool, statements } = fakePool();
    const boom = Object.assign(new Error('unique violation'), { code: '23505' });
    await assert.rejects(
      withRetry(pool, async () => {
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.deepEqual(statements, ['BEGIN', 'ROLLBACK']);
  });

  it('GIVEN 40001 on every attempt WHEN run THEN it gives up after maxAttempts with the last error', async () => {
    const { pool } = fakePool();
    let attempts = 0;
    const retried: number[] = [];
    await assert.rejects(
      withRetry(
        pool,
        async () => {
          attempts++;
          throw serializationFailure();
        },
        { sleep: async () => {}, onRetry: (n) => retried.push(n) },
      ),
      { code: '40001' },
    );
    assert.equal(attempts, 10);
    assert.deepEqual(retried, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('GIVEN the backoff would grow past maxDelayMs WHEN retrying THEN each delay stays under the cap', async () => {
    const { pool } = fakePool();
    const delays: number[] = [];
    await assert.rejects(
      withRetry(
        pool,
        async () => {
          throw serializationFailure();
        },
        { sleep: async (ms) => void delays.push(ms), random: () => 0.999, maxDelayMs: 50 },
      ),
    );
    assert.ok(delays.every((d) => d < 50));
    assert.equal(delays.at(-1), 49);
  });

  it('GIVEN ROLLBACK fails because the connection died WHEN run THEN the client is destroyed, not reused', async () => {
    const { pool, releases } = fakePool((text) =>
      text === 'ROLLBACK' ? new Error('connection terminated') : undefined,
    );
    const cause = serializationFailure();
    await assert.rejects(
      withRetry(pool, async () => {
        throw cause;
      }),
      (e) => e === cause,
    );
    assert.equal(releases.length, 1);
    assert.ok(releases[0] instanceof Error);
  });

  it('GIVEN retryOn WHEN another error matches it THEN that error is retried too', async () => {
    const { pool } = fakePool();
    let attempts = 0;
    const result = await withRetry(
      pool,
      async () => {
        if (++attempts === 1) throw Object.assign(new Error('duplicate key'), { code: '23505' });
        return attempts;
      },
      { sleep: async () => {}, retryOn: (e) => (e as { code?: string }).code === '23505' },
    );
    assert.equal(result, 2);
  });
});
