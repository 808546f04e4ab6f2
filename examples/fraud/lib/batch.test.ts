import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { coalesce, settleEach, type Settled } from './batch.ts';

/** A batch runner that records its batches and answers when `release()` is called. */
function gated<I, O>(answer: (item: I) => Settled<O>) {
  const batches: I[][] = [];
  const gates: (() => void)[] = [];
  const run = (items: I[]) => {
    batches.push(items);
    return new Promise<Settled<O>[]>((resolve) => gates.push(() => resolve(items.map(answer))));
  };
  return { run, batches, release: () => gates.shift()?.() };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('coalesce', () => {
  it('GIVEN an idle coalescer WHEN calls arrive in one turn THEN they leave as one batch', async () => {
    const g = gated((n: number) => ({ ok: true, value: n * 2 }));
    const call = coalesce(g.run);
    const answers = Promise.all([call(1), call(2), call(3)]);
    await tick();
    g.release();
    assert.deepEqual(await answers, [2, 4, 6]);
    assert.deepEqual(g.batches, [[1, 2, 3]]);
  });

  it('GIVEN a batch in flight WHEN more calls arrive THEN they wait and leave together once it ends', async () => {
    const g = gated((n: number) => ({ ok: true, value: n }));
    const call = coalesce(g.run, { maxConcurrent: 1 });
    const first = call(1);
    await tick();
    const later = [call(2), call(3), call(4)];
    await tick();
    assert.equal(call.queued, 3);
    assert.equal(call.running, 1);
    g.release();
    assert.equal(await first, 1);
    await tick();
    g.release();
    assert.deepEqual(await Promise.all(later), [2, 3, 4]);
    assert.deepEqual(g.batches, [[1], [2, 3, 4]]);
  });

  it('GIVEN maxBatch WHEN more calls wait THEN batches hold at most that many', async () => {
    const g = gated((n: number) => ({ ok: true, value: n }));
    const call = coalesce(g.run, { maxBatch: 2, maxConcurrent: 2 });
    const all = Promise.all([1, 2, 3, 4, 5].map((n) => call(n)));
    await tick();
    assert.deepEqual(g.batches, [
      [1, 2],
      [3, 4],
    ]);
    g.release();
    g.release();
    await tick();
    await tick();
    g.release();
    assert.deepEqual(await all, [1, 2, 3, 4, 5]);
    assert.deepEqual(g.batches.at(-1), [5]);
  });

  it('GIVEN one item fails in its batch WHEN the batch answers THEN only that call rejects', async () => {
    const call = coalesce(async (items: number[]) =>
      items.map((n): Settled<number> =>
        n < 0 ? { ok: false, error: new Error(`bad ${n}`) } : { ok: true, value: n },
      ),
    );
    const [good, bad] = await Promise.allSettled([call(1), call(-1)]);
    assert.deepEqual(good, { status: 'fulfilled', value: 1 });
    assert.equal(bad.status, 'rejected');
    assert.equal((bad as PromiseRejectedResult).reason.message, 'bad -1');
  });

  it('GIVEN the batch runner throws WHEN calls are waiting on it THEN all of them reject and the next batch runs', async () => {
    let fail = true;
    const call = coalesce(async (items: number[]) => {
      if (fail) throw new Error('down');
      return items.map((value): Settled<number> => ({ ok: true, value }));
    });
    const results = await Promise.allSettled([call(1), call(2)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    fail = false;
    assert.equal(await call(3), 3);
  });

  it('GIVEN a runner answering too few results WHEN it answers THEN the calls left without one reject', async () => {
    const call = coalesce(async (items: number[]) => [{ ok: true, value: items[0]! } as Settled<number>]);
    const results = await Promise.allSettled([call(1), call(2)]);
    assert.deepEqual(results[0], { status: 'fulfilled', value: 1 });
    assert.match((results[1] as PromiseRejectedResult).reason.message, /1 results for 2 items/);
  });
});

describe('settleEach', () => {
  it('GIVEN items of which one fails WHEN settled THEN each has its own outcome in order', async () => {
    const out = await settleEach([1, 2, 3], async (n) => {
      if (n === 2) throw new Error('two');
      return n * 10;
    });
    assert.deepEqual(out[0], { ok: true, value: 10 });
    assert.equal(out[1]!.ok, false);
    assert.deepEqual(out[2], { ok: true, value: 30 });
  });
});
