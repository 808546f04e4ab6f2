import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';

const require = createRequire(import.meta.url);
interface Batcher {
  add(span: unknown): void;
  readonly dropped: number;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  readonly unacknowledged: number;
  takeUnacknowledged(): unknown[];
}
const { createBatcher } = require('./batch.cjs') as {
  createBatcher(
    exporter: {
      export(spans: unknown[], done: (r: { code: number }) => void): void;
      shutdown(): Promise<void>;
    },
    o: { delayMs: number; maxBatch: number; maxQueue: number },
  ): Batcher;
};

/** An exporter that records each batch and answers when told to (or at once). */
function recorder(autoAnswer = true) {
  const batches: unknown[][] = [];
  const answers: (() => void)[] = [];
  let shutdowns = 0;
  return {
    batches,
    answers,
    get shutdowns() {
      return shutdowns;
    },
    export(spans: unknown[], done: (r: { code: number }) => void) {
      batches.push([...spans]);
      if (autoAnswer) done({ code: 0 });
      else answers.push(() => done({ code: 0 }));
    },
    shutdown() {
      shutdowns++;
      return Promise.resolve();
    },
  };
}

describe('preload span batching (batch.cjs)', () => {
  it('GIVEN fewer spans than a batch THEN they leave together after the delay', async () => {
    const exporter = recorder();
    const batcher = createBatcher(exporter, { delayMs: 30, maxBatch: 10, maxQueue: 100 });
    batcher.add(1);
    batcher.add(2);
    assert.equal(exporter.batches.length, 0);
    assert.equal(batcher.unacknowledged, 2);
    await sleep(80);
    assert.deepEqual(exporter.batches, [[1, 2]]);
    assert.equal(batcher.unacknowledged, 0);
  });

  it('GIVEN a full batch THEN it leaves at once, and one export runs at a time', () => {
    const exporter = recorder(false);
    const batcher = createBatcher(exporter, { delayMs: 10_000, maxBatch: 2, maxQueue: 100 });
    for (const s of [1, 2, 3, 4, 5]) batcher.add(s);
    assert.deepEqual(exporter.batches, [[1, 2]], 'the second full batch waits for the first to be answered');
    assert.equal(batcher.unacknowledged, 5, 'in flight and queued');
    exporter.answers.shift()!();
    assert.deepEqual(exporter.batches, [
      [1, 2],
      [3, 4],
    ]);
    exporter.answers.shift()!();
    assert.deepEqual(
      exporter.batches,
      [
        [1, 2],
        [3, 4],
      ],
      'a part batch waits for its timer',
    );
    assert.equal(batcher.unacknowledged, 1);
    assert.deepEqual(batcher.takeUnacknowledged(), [5]);
  });

  it('GIVEN a full queue THEN newer spans are dropped and counted', () => {
    const exporter = recorder(false);
    const batcher = createBatcher(exporter, { delayMs: 10_000, maxBatch: 2, maxQueue: 3 });
    for (const s of [1, 2, 3, 4, 5, 6]) batcher.add(s);
    // [1, 2] in flight, [3, 4, 5] queued, 6 dropped.
    assert.equal(batcher.dropped, 1);
    assert.deepEqual(batcher.takeUnacknowledged(), [1, 2, 3, 4, 5]);
    assert.equal(batcher.unacknowledged, 0);
  });

  it('GIVEN forceFlush THEN it resolves once everything queued before it has been exported', async () => {
    const exporter = recorder(false);
    const batcher = createBatcher(exporter, { delayMs: 10_000, maxBatch: 2, maxQueue: 100 });
    for (const s of [1, 2, 3]) batcher.add(s);
    let flushed = false;
    const flush = batcher.forceFlush().then(() => (flushed = true));
    await sleep(5);
    assert.equal(flushed, false);
    exporter.answers.shift()!();
    assert.deepEqual(exporter.batches, [[1, 2], [3]], 'the part batch leaves without waiting for its timer');
    await sleep(5);
    assert.equal(flushed, false, 'still in flight');
    exporter.answers.shift()!();
    await flush;
    await batcher.forceFlush(); // nothing queued: at once
    await batcher.shutdown();
    assert.equal(exporter.shutdowns, 1);
  });

  it('GIVEN an exporter that throws THEN the batch is lost, not the next ones', async () => {
    let calls = 0;
    const batches: unknown[][] = [];
    const batcher = createBatcher(
      {
        export(spans, done) {
          if (calls++ === 0) throw new Error('exporter bug');
          batches.push(spans);
          done({ code: 0 });
        },
        shutdown: () => Promise.resolve(),
      },
      { delayMs: 10_000, maxBatch: 1, maxQueue: 10 },
    );
    batcher.add('lost');
    batcher.add('kept');
    await batcher.forceFlush();
    assert.deepEqual(batches, [['kept']]);
  });
});
