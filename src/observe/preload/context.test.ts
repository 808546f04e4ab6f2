import * as api from '@opentelemetry/api';
import { ROOT_CONTEXT, trace, type Context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { suppressTracing } from '@opentelemetry/core';
import { BasicTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import { AsyncResource } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';

const require = createRequire(import.meta.url);
interface LazyContextManager {
  active(): Context;
  with<A extends unknown[], R>(ctx: Context, fn: (...args: A) => R, thisArg?: unknown, ...args: A): R;
  attach(ctx: Context): { dispose(): void };
  spanStarted(): void;
  spanEnded(): void;
  readonly switchedOn: boolean;
  readonly switchedOff: number;
  _asyncLocalStorage: { enabled?: boolean };
}
const { createLazyContextManager } = require('./context.cjs') as {
  createLazyContextManager(a: typeof api, m: typeof AsyncLocalStorageContextManager): LazyContextManager;
};

/** A manager, and a tracer whose recording spans it counts (as register.cjs wires them). */
function setup(sampled = true) {
  const manager = createLazyContextManager(api, AsyncLocalStorageContextManager);
  const counting: SpanProcessor = {
    onStart: () => manager.spanStarted(),
    onEnd: () => manager.spanEnded(),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({
    spanProcessors: [counting],
    ...(!sampled && {
      sampler: {
        shouldSample: () => ({ decision: api.SamplingDecision.NOT_RECORD }),
        toString: () => 'never',
      },
    }),
  });
  const tracer = provider.getTracer('test');
  const inSpan = (span: Span) => trace.setSpan(ROOT_CONTEXT, span);
  /** Whether Node's AsyncLocalStorage is on (its hooks running); undefined where it has no hooks. */
  const alsOn = () => manager._asyncLocalStorage.enabled;
  return { manager, tracer, inSpan, alsOn };
}

const spanIdIn = (ctx: Context) => trace.getSpan(ctx)?.spanContext().spanId;

describe('lazy context manager of the tracing preload', () => {
  it('GIVEN untraced contexts (none, not sampled, suppressed) WHEN entered THEN AsyncLocalStorage never switches on and active() is the root', async () => {
    const { manager, tracer, inSpan, alsOn } = setup(false);
    const notSampled = tracer.startSpan('dropped');
    assert.equal(notSampled.isRecording(), false);
    for (const ctx of [ROOT_CONTEXT, inSpan(notSampled), suppressTracing(ROOT_CONTEXT)]) {
      const seen = await manager.with(ctx, async () => {
        await sleep(1);
        return manager.active();
      });
      assert.equal(seen, ROOT_CONTEXT);
      manager.attach(ctx);
    }
    assert.equal(manager.switchedOn, false);
    if (alsOn() !== undefined) assert.equal(alsOn(), false, 'Node’s AsyncLocalStorage stays disabled');
  });

  it('GIVEN a traced request WHEN it awaits and sets timers THEN its context follows, and the last span’s end switches the hooks off', async () => {
    const { manager, tracer, inSpan, alsOn } = setup();
    const server = tracer.startSpan('server');
    const seen = await manager.with(inSpan(server), async () => {
      await sleep(1);
      const afterAwait = spanIdIn(manager.active());
      const inTimer = await new Promise<string | undefined>((resolve) =>
        setTimeout(() => resolve(spanIdIn(manager.active())), 1),
      );
      return { afterAwait, inTimer };
    });
    assert.deepEqual(seen, { afterAwait: server.spanContext().spanId, inTimer: server.spanContext().spanId });
    assert.equal(manager.switchedOn, true);
    if (alsOn() !== undefined) assert.equal(alsOn(), true);
    server.end();
    assert.equal(manager.switchedOn, false);
    assert.equal(manager.switchedOff, 1);
    if (alsOn() !== undefined) assert.equal(alsOn(), false);
    assert.equal(manager.active(), ROOT_CONTEXT);
  });

  it('GIVEN two overlapping traced requests WHEN the first ends THEN the second keeps its context until it ends too', async () => {
    const { manager, tracer, inSpan } = setup();
    const a = tracer.startSpan('a');
    const b = tracer.startSpan('b');
    let releaseB!: () => void;
    const bDone = manager.with(inSpan(b), async () => {
      await new Promise<void>((resolve) => (releaseB = resolve));
      return spanIdIn(manager.active());
    });
    await manager.with(inSpan(a), async () => {
      await sleep(1);
      assert.equal(spanIdIn(manager.active()), a.spanContext().spanId);
    });
    a.end();
    assert.equal(manager.switchedOn, true, 'b still records');
    releaseB();
    assert.equal(await bDone, b.spanContext().spanId);
    b.end();
    assert.equal(manager.switchedOn, false);
  });

  it('GIVEN a traced context entered on a long-lived resource WHEN a later, untraced run uses that resource THEN it does not see the old trace', async () => {
    const { manager, tracer, inSpan } = setup();
    // Stands for a keep-alive connection: each request's events run in its async scope.
    const connection = new AsyncResource('CONNECTION');
    const first = tracer.startSpan('first request');
    connection.runInAsyncScope(() => manager.attach(inSpan(first)));
    assert.equal(
      connection.runInAsyncScope(() => spanIdIn(manager.active())),
      first.spanContext().spanId,
    );
    first.end(); // switched off; the connection still holds the store

    // Another request, traced, switches it on again; the connection's next request is untraced.
    const other = tracer.startSpan('other request');
    manager.with(inSpan(other), () => {
      assert.equal(
        connection.runInAsyncScope(() => manager.active()),
        ROOT_CONTEXT,
        'an ended trace is not current',
      );
      const second = tracer.startSpan('second request, traced');
      connection.runInAsyncScope(() => manager.attach(inSpan(second)));
      connection.runInAsyncScope(() => manager.attach(ROOT_CONTEXT)); // third request: untraced
      assert.equal(
        connection.runInAsyncScope(() => manager.active()),
        ROOT_CONTEXT,
        'cleared',
      );
      second.end();
    });
    other.end();
    assert.equal(manager.switchedOn, false);
  });

  it('GIVEN a traced context WHEN tracing is suppressed inside it THEN the suppressed context is kept (its span records)', () => {
    const { manager, tracer, inSpan } = setup();
    const span = tracer.startSpan('batch owner');
    const suppressed = suppressTracing(inSpan(span));
    manager.with(suppressed, () => assert.equal(manager.active(), suppressed));
    const token = manager.attach(suppressed);
    assert.equal(manager.active(), suppressed);
    token.dispose();
    span.end();
  });
});
