import * as api from '@opentelemetry/api';
import { ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { suppressTracing } from '@opentelemetry/core';
import { BasicTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

const require = createRequire(import.meta.url);
interface NativeContextManager extends api.ContextManager {
  spanStarted(): void;
  spanEnded(): void;
  enable(http?: object[]): this;
}
const { createNativeContextManager } = require('./context-native.cjs') as {
  createNativeContextManager(
    a: typeof api,
    slot: unknown,
    b: typeof AsyncLocalStorageContextManager,
  ): NativeContextManager;
};
const { loadNativeContext, nativeContextPath } = require('./native/index.cjs') as {
  loadNativeContext(): { get(): unknown; set(v: unknown): void } | undefined;
  nativeContextPath(): string;
};

const slot = loadNativeContext();
const manager = (() => {
  assert.ok(
    slot,
    `the native context module loads (build it: node scripts/build-native.mjs): ${nativeContextPath()}`,
  );
  return createNativeContextManager(api, slot, AsyncLocalStorageContextManager);
})();
const counting: SpanProcessor = {
  onStart: () => manager.spanStarted(),
  onEnd: () => manager.spanEnded(),
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const tracer = new BasicTracerProvider({ spanProcessors: [counting] }).getTracer('test');
const spanIdIn = (ctx: Context) => trace.getSpan(ctx)?.spanContext().spanId;

describe('native context manager of the tracing preload', () => {
  before(() => {
    api.context.disable();
    api.context.setGlobalContextManager(manager.enable([http]));
  });
  after(() => {
    manager.disable();
    api.context.disable();
  });

  it('GIVEN a traced context WHEN work awaits, fans out and schedules callbacks THEN each sees it, and nothing outside does', async () => {
    const span = tracer.startSpan('request');
    const ctx = trace.setSpan(ROOT_CONTEXT, span);
    const id = span.spanContext().spanId;
    const seen = await manager.with(ctx, async () => {
      const out: Record<string, string | undefined> = { sync: spanIdIn(api.context.active()) };
      await sleep(2);
      out.afterAwait = spanIdIn(api.context.active());
      const all = await Promise.all(
        [1, 2].map(async () => {
          await null;
          return spanIdIn(api.context.active());
        }),
      );
      out.all = all.every((s) => s === id) ? id : String(all);
      out.timer = await new Promise((r) => setTimeout(() => r(spanIdIn(api.context.active())), 1));
      out.immediate = await new Promise((r) => setImmediate(() => r(spanIdIn(api.context.active()))));
      out.tick = await new Promise((r) => process.nextTick(() => r(spanIdIn(api.context.active()))));
      out.microtask = await new Promise((r) => queueMicrotask(() => r(spanIdIn(api.context.active()))));
      out.bound = await new Promise((r) => {
        const e = new EventEmitter();
        e.on('x', () => r(spanIdIn(api.context.active())));
        setTimeout(() => api.context.bind(ctx, () => e.emit('x'))(), 1);
      });
      return out;
    });
    assert.deepEqual(seen, {
      sync: id,
      afterAwait: id,
      all: id,
      timer: id,
      immediate: id,
      tick: id,
      microtask: id,
      bound: id,
    });
    assert.equal(api.context.active(), ROOT_CONTEXT, 'restored after with()');
    assert.equal(slot!.get(), undefined);
    span.end();
  });

  it('GIVEN untraced contexts (none, not sampled, suppressed) WHEN entered THEN nothing is stored and active() is the root', async () => {
    const notSampled = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 0,
    });
    for (const ctx of [
      ROOT_CONTEXT,
      trace.setSpan(ROOT_CONTEXT, notSampled),
      suppressTracing(ROOT_CONTEXT),
    ]) {
      const seen = await manager.with(ctx, async (): Promise<{ stored: unknown; active: Context }> => {
        const stored: unknown = slot!.get();
        await null;
        return { stored, active: api.context.active() };
      });
      assert.equal(seen.stored, undefined);
      assert.equal(seen.active, ROOT_CONTEXT);
    }
  });

  it('GIVEN a continuation that runs after its span ended WHEN it asks THEN it is untraced', async () => {
    const span = tracer.startSpan('short');
    let resume!: () => void;
    const gate = new Promise<void>((r) => (resume = r));
    const late = manager.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
      await gate;
      return api.context.active();
    });
    span.end();
    resume();
    assert.equal(await late, ROOT_CONTEXT);
  });

  it('GIVEN a traced request with awaits and timers WHEN it runs THEN V8’s PromiseHook protector stays intact (AsyncLocalStorage’s does not)', () => {
    // A child process per manager: a process's first promise hook slows its promises for good.
    const script = (native: boolean) => `
      const api = require(${JSON.stringify(require.resolve('@opentelemetry/api'))});
      const { AsyncLocalStorageContextManager } = require(${JSON.stringify(require.resolve('@opentelemetry/context-async-hooks'))});
      const { BasicTracerProvider } = require(${JSON.stringify(require.resolve('@opentelemetry/sdk-trace-base'))});
      const { createNativeContextManager } = require(${JSON.stringify(require.resolve('./context-native.cjs'))});
      const { createLazyContextManager } = require(${JSON.stringify(require.resolve('./context.cjs'))});
      const { loadNativeContext } = require(${JSON.stringify(require.resolve('./native/index.cjs'))});
      const m = ${native} ? createNativeContextManager(api, loadNativeContext(), AsyncLocalStorageContextManager)
        : createLazyContextManager(api, AsyncLocalStorageContextManager);
      api.context.setGlobalContextManager(m.enable([require('node:http')]));
      const p = { onStart: () => m.spanStarted(), onEnd: () => m.spanEnded(), forceFlush: async () => {}, shutdown: async () => {} };
      const tracer = new BasicTracerProvider({ spanProcessors: [p] }).getTracer('t');
      const span = tracer.startSpan('request');
      api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, span), async () => {
        await new Promise((r) => setTimeout(r, 1));
        const child = tracer.startSpan('child');
        await null;
        child.end();
        console.log(api.trace.getActiveSpan() === span ? 'carried' : 'lost');
      }).then(() => span.end());
    `;
    const run = (native: boolean) => {
      const r = spawnSync(process.execPath, ['--trace-protector-invalidation', '-e', script(native)], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout + r.stderr;
    };
    const native = run(true);
    assert.match(native, /carried/);
    assert.doesNotMatch(native, /Invalidating protector cell PromiseHook/);
    const lazy = run(false);
    assert.match(lazy, /carried/);
    assert.match(
      lazy,
      /Invalidating protector cell PromiseHook/,
      'the control: AsyncLocalStorage invalidates it',
    );
  });
});
