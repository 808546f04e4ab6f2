import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { context, createContextKey, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { admissionWindow, coalesce, settleEach, windowFor, type Settled } from './batch.ts';

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

/** A test's own context value, carried by OpenTelemetry's context API (as the preload carries spans). */
const WHO = createContextKey('fraud.batch.test.who');
const as = <T>(who: string, fn: () => T): T => context.with(ROOT_CONTEXT.setValue(WHO, who), fn);
const who = (): string | undefined => context.active().getValue(WHO) as string | undefined;

/** Runs `fn` with a global context manager (the API's default carries nothing). */
async function withContextManager(fn: () => Promise<void>): Promise<void> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  try {
    await fn();
  } finally {
    context.disable();
  }
}

describe('coalesce and tracing', () => {
  it('GIVEN calls of which some must go alone WHEN they arrive together THEN each of those leaves at once on its own, outside the slots, and the rest still batch', async () => {
    const g = gated((n: number) => ({ ok: true, value: n }));
    const lone = new Set([2, 5]);
    let next = 0;
    const order = [1, 2, 3, 4, 5, 6];
    const call = coalesce(g.run, { maxConcurrent: 1, sampled: () => lone.has(order[next++]!) });
    const answers = Promise.all(order.map((n) => call(n)));
    assert.deepEqual(g.batches, [[2], [5]]);
    await tick();
    // The one slot went to the batch, though two lone calls are still running.
    assert.deepEqual(g.batches, [[2], [5], [1, 3, 4, 6]]);
    assert.equal(call.running, 1);
    g.release();
    g.release();
    g.release();
    assert.deepEqual(await answers, order);
  });

  it('GIVEN calls from different contexts WHEN batched THEN the batch runs in the context of its first item', () =>
    withContextManager(async () => {
      const seen: (string | undefined)[] = [];
      const call = coalesce(
        async (items: string[]) => {
          seen.push(who());
          return items.map((value): Settled<string> => ({ ok: true, value }));
        },
        { maxConcurrent: 1, sampled: () => who() === 'traced' },
      );
      const answers = Promise.all([
        as('a', () => call('a1')),
        as('traced', () => call('t1')),
        as('b', () => call('b1')),
      ]);
      assert.deepEqual(await answers, ['a1', 't1', 'b1']);
      // The traced call at once on its own; the untraced pair in the context of its first item.
      assert.deepEqual(seen, ['traced', 'a']);
    }));

  it("GIVEN sampled items that lead WHEN they arrive with others THEN they batch as usual and the batch runs in the first sampled one's context", () =>
    withContextManager(async () => {
      const seen: (string | undefined)[] = [];
      const batches: string[][] = [];
      const call = coalesce(
        async (items: string[]) => {
          seen.push(who());
          batches.push(items);
          return items.map((value): Settled<string> => ({ ok: true, value }));
        },
        { sampled: () => who()?.startsWith('traced') ?? false, traced: 'lead' },
      );
      const answers = await Promise.all([
        as('a', () => call('a1')),
        as('traced-1', () => call('t1')),
        as('traced-2', () => call('t2')),
      ]);
      assert.deepEqual(answers, ['a1', 't1', 't2']);
      assert.deepEqual(batches, [['a1', 't1', 't2']]);
      assert.deepEqual(seen, ['traced-1']);
    }));

  it('GIVEN the OpenTelemetry API with a context manager WHEN calls come from a sampled and an unsampled span THEN the sampled one goes alone, in its own trace', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const spanIn = (traceId: string, sampled: boolean) =>
        trace.setSpanContext(context.active(), {
          traceId,
          spanId: '00f067aa0ba902b7',
          traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
        });
      const batches: { items: string[]; traceId: string | undefined }[] = [];
      const call = coalesce(async (items: string[]) => {
        batches.push({ items, traceId: trace.getActiveSpan()?.spanContext().traceId });
        return items.map((value): Settled<string> => ({ ok: true, value }));
      });
      const sampled = '4bf92f3577b34da6a3ce929d0e0e4736';
      const unsampled = '0af7651916cd43dd8448eb211c80319c';
      await Promise.all([
        context.with(spanIn(unsampled, false), () => call('u1')),
        context.with(spanIn(sampled, true), () => call('s1')),
        context.with(spanIn(unsampled, false), () => call('u2')),
      ]);
      assert.deepEqual(batches, [
        { items: ['s1'], traceId: sampled },
        { items: ['u1', 'u2'], traceId: unsampled },
      ]);
    } finally {
      context.disable();
    }
  });
});

describe('coalesce and tracing with a tracer', () => {
  it('GIVEN two sampled items in one lead batch WHEN it runs THEN the lead runs it in its trace and the other gets a linked span in its own', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
    try {
      const tracer = provider.getTracer('test');
      const ran: (string | undefined)[] = [];
      const call = coalesce(
        async (items: string[]) => {
          ran.push(trace.getActiveSpan()?.spanContext().traceId);
          if (items.includes('bad')) throw new Error('statement failed');
          return items.map((value): Settled<string> => ({ ok: true, value }));
        },
        { traced: 'lead', name: 'check' },
      );
      // Three requests: two of sampled traces, one not (a non-recording span, as the SDK makes).
      const inSpan = (name: string, sampled: boolean, item: string) => {
        const span = sampled
          ? tracer.startSpan(name)
          : trace.wrapSpanContext({
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: '00f067aa0ba902b7',
              traceFlags: TraceFlags.NONE,
            });
        return {
          span,
          answer: context.with(trace.setSpan(context.active(), span), () => call(item)),
        };
      };
      const first = inSpan('request-1', true, 'a');
      const plain = inSpan('request-x', false, 'x');
      const second = inSpan('request-2', true, 'b');
      assert.deepEqual(await Promise.all([first.answer, plain.answer, second.answer]), ['a', 'x', 'b']);
      const leadTrace = first.span.spanContext().traceId;
      assert.deepEqual(ran, [leadTrace]);
      const spans = exporter.getFinishedSpans();
      assert.equal(spans.length, 1);
      const [batched] = spans;
      assert.equal(batched!.name, 'check (batched)');
      assert.equal(batched!.spanContext().traceId, second.span.spanContext().traceId);
      assert.equal(batched!.parentSpanContext?.spanId, second.span.spanContext().spanId);
      assert.deepEqual(
        batched!.links.map((l) => l.context.spanId),
        [first.span.spanContext().spanId],
      );
      assert.equal(batched!.attributes['rampart.batch.size'], 3);

      // A failed batch: the follower's span says so.
      exporter.reset();
      const failing = [inSpan('r3', true, 'bad'), inSpan('r4', true, 'c')];
      await Promise.allSettled(failing.map((f) => f.answer));
      const [errored] = exporter.getFinishedSpans();
      assert.equal(errored?.status.code, 2);
      assert.match(errored?.status.message ?? '', /statement failed/);
      // One sampled item alone: no extra span.
      exporter.reset();
      await inSpan('r5', true, 'd').answer;
      assert.equal(exporter.getFinishedSpans().length, 0);
    } finally {
      trace.disable();
      context.disable();
    }
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

describe('admissionWindow', () => {
  it('GIVEN callers arriving within the window WHEN it closes THEN all go in one turn, and the next caller opens a new window', async () => {
    const admit = admissionWindow(30);
    const order: string[] = [];
    const started = performance.now();
    const first = admit().then(() => {
      order.push('first');
      setImmediate(() => order.push('next turn'));
    });
    await new Promise((r) => setTimeout(r, 10));
    const second = admit().then(() => order.push('second'));
    await Promise.all([first, second]);
    const waited = performance.now() - started;
    assert.ok(waited >= 28, `waited ${waited} ms`);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['first', 'second', 'next turn']);

    const t = performance.now();
    await admit();
    assert.ok(performance.now() - t >= 28, 'a caller after the release waits for a window of its own');
  });

  it('GIVEN a length asked by the caller who opens the window WHEN others join THEN all go when that length is up', async () => {
    const admit = admissionWindow(200);
    const started = performance.now();
    const first = admit(20);
    const joined = admit(500); // joins the open window: its own length does not count
    await Promise.all([first, joined]);
    const waited = performance.now() - started;
    assert.ok(waited >= 18 && waited < 150, `waited ${waited} ms`);
  });
});

describe('windowFor', () => {
  it('GIVEN others in flight THEN the window grows by a step per other assessment, up to the maximum', () => {
    assert.equal(windowFor(0, 2, 15), 0);
    assert.equal(windowFor(1, 2, 15), 2);
    assert.equal(windowFor(4, 2, 15), 8);
    assert.equal(windowFor(7, 2, 15), 14);
    assert.equal(windowFor(8, 2, 15), 15);
    assert.equal(windowFor(200, 2, 15), 15);
  });

  it('GIVEN a step equal to the maximum THEN any company gets the whole window (a fixed window)', () => {
    assert.equal(windowFor(1, 5, 5), 5);
    assert.equal(windowFor(30, 5, 5), 5);
  });

  it('GIVEN no window THEN nobody waits', () => {
    assert.equal(windowFor(10, 0, 15), 0);
    assert.equal(windowFor(10, 2, 0), 0);
  });
});
