import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs, copyText, isRetryable, retrying, transaction, type TxClient } from './db.ts';

const conflict = () => Object.assign(new Error('restart transaction'), { code: '40001' });

class FakeClient implements TxClient {
  readonly log: string[] = [];
  released: unknown = 'no';
  constructor(private readonly failRollback = false) {}
  async query(text: string): Promise<{ rows: unknown[]; rowCount: number }> {
    this.log.push(text);
    if (text === 'ROLLBACK' && this.failRollback) throw new Error('connection gone');
    return { rows: [], rowCount: 0 };
  }
  release(destroy?: Error | boolean): void {
    this.released = destroy;
  }
}

describe('transaction', () => {
  it('GIVEN a function that loses two conflicts THEN it runs three times with growing jittered waits, then commits', async () => {
    const client = new FakeClient();
    const waits: number[] = [];
    let calls = 0;
    const result = await transaction(
      { connect: async () => client },
      async (c) => {
        await c.query('WORK');
        if (++calls < 3) throw conflict();
        return 'done';
      },
      { sleep: async (ms) => void waits.push(ms), random: () => 0.5, baseDelayMs: 10 },
    );
    assert.equal(result, 'done');
    assert.deepEqual(client.log, [
      'BEGIN',
      'WORK',
      'ROLLBACK',
      'BEGIN',
      'WORK',
      'ROLLBACK',
      'BEGIN',
      'WORK',
      'COMMIT',
    ]);
    assert.deepEqual(waits, [5, 10]);
    assert.equal(client.released, undefined, 'returned to the pool');
  });
  it('GIVEN another error THEN one rollback and the error, untouched', async () => {
    const client = new FakeClient();
    const boom = Object.assign(new Error('unique'), { code: '23505' });
    await assert.rejects(
      transaction({ connect: async () => client }, async () => Promise.reject(boom)),
      boom,
    );
    assert.deepEqual(client.log, ['BEGIN', 'ROLLBACK']);
  });
  it('GIVEN conflicts every time THEN it gives up after maxAttempts with the conflict', async () => {
    const client = new FakeClient();
    await assert.rejects(
      transaction({ connect: async () => client }, async () => Promise.reject(conflict()), {
        maxAttempts: 3,
        sleep: async () => {},
      }),
      { code: '40001' },
    );
    assert.equal(client.log.filter((q) => q === 'BEGIN').length, 3);
  });
  it('GIVEN a failing ROLLBACK THEN the client is destroyed, not pooled', async () => {
    const client = new FakeClient(true);
    await assert.rejects(
      transaction({ connect: async () => client }, async () => Promise.reject(conflict())),
      { code: '40001' },
    );
    assert.ok(client.released instanceof Error);
  });
});

describe('retrying', () => {
  it('GIVEN a statement that conflicts once THEN its second result', async () => {
    let n = 0;
    assert.equal(
      await retrying(async () => (++n === 1 ? Promise.reject(conflict()) : n), { sleep: async () => {} }),
      2,
    );
  });
  it('GIVEN another error THEN no retry', async () => {
    let n = 0;
    await assert.rejects(
      retrying(async () => (n++, Promise.reject(new Error('x')))),
      { message: 'x' },
    );
    assert.equal(n, 1);
  });
});

describe('helpers', () => {
  it('GIVEN attempts THEN the backoff ceiling doubles up to the maximum', () => {
    assert.deepEqual(
      [1, 2, 3, 10].map((a) => backoffMs(a, { baseDelayMs: 10, maxDelayMs: 100 }, () => 0.999)),
      [9, 19, 39, 99],
    );
  });
  it('GIVEN errors THEN only SQLSTATE 40001 is retryable', () => {
    assert.equal(isRetryable(conflict()), true);
    assert.equal(isRetryable(new Error('x')), false);
    assert.equal(isRetryable(null), false);
  });
  it('GIVEN text with COPY specials THEN escaped', () => {
    assert.equal(copyText('a\tb\nc\\d\re'), 'a\\tb\\nc\\\\d\\re');
    assert.equal(copyText('plain'), 'plain');
  });
});
