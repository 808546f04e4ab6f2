/* global require, module, process */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * The tracing preload's context manager on Node 20 when Rampart's native module is built
 * (native/context.cc, scripts/build-native.mjs): the active context lives in V8's
 * continuation-preserved embedder data, a slot V8 carries into every promise continuation (an
 * `await`, a `then`) from where it was scheduled. No async_hooks, no promise hooks (decision
 * 0013).
 *
 * Why: the first V8 promise hook a process installs (which any AsyncLocalStorage does when it is
 * first entered, even for a moment, context.cjs) invalidates V8's PromiseHook protector, and from
 * then on every promise of the process takes a slower path, for good: 25-30% more time in a loop
 * of awaits, measured on this Node 20 (`node --trace-protector-invalidation`). With 1 trace a
 * second, every replica paid it from its first trace on. While the hooks are on (a traced request
 * in flight), every promise of the process costs ~3×. This is how Node 22+ carries
 * AsyncLocalStorage too (AsyncContextFrame).
 *
 * What carries a context, and what does not:
 * - `with(ctx, fn)` and `bind(ctx, fn)`: `fn` and every promise continuation scheduled under it;
 * - an incoming request's and its response's events, and an outgoing request's and its response's
 *   (`bindMessage`, from http.cjs): `http.IncomingMessage` and `http.OutgoingMessage` get one
 *   `emit` on their prototypes (nothing on the objects themselves) that runs a registered
 *   message's listeners in its context;
 * - callbacks given to `setTimeout`, `setInterval`, `setImmediate`, `process.nextTick` and
 *   `queueMicrotask` in a traced context.
 * Other callbacks (a raw socket's, another library's native events) run untraced: a context is
 * lost there, never wrong, and a call made from them goes out as an untraced one.
 *
 * Only a context with a recording span is stored, as in context.cjs: anything else is stored as
 * nothing, and `active()` answers ROOT_CONTEXT for a stored context whose span has ended. While no
 * span records in the process, the patched functions do one comparison and go straight through.
 *
 * @param api `@opentelemetry/api`
 * @param slot `{ get(), set(value) }`: the native module
 * @param Base `AsyncLocalStorageContextManager` (for `bind` of event emitters; its own
 *   AsyncLocalStorage is never entered)
 */
function createNativeContextManager(api, slot, Base) {
  const { trace, ROOT_CONTEXT } = api;
  const traced = (ctx) => {
    const span = ctx === undefined ? undefined : trace.getSpan(ctx);
    return span !== undefined && span.isRecording();
  };
  /** Messages (requests, responses) of traced exchanges, and the context their events run in. */
  const messages = new WeakMap();
  const patched = [];

  class NativeContextManager extends Base {
    constructor() {
      super();
      /** Recording spans not yet ended: none, and nothing needs carrying. */
      this._recording = 0;
    }

    active() {
      const ctx = slot.get();
      return traced(ctx) ? ctx : ROOT_CONTEXT;
    }

    with(ctx, fn, thisArg, ...args) {
      const previous = slot.get();
      const next = traced(ctx) ? ctx : undefined;
      if (next === previous) return fn.call(thisArg, ...args);
      slot.set(next);
      try {
        return fn.call(thisArg, ...args);
      } finally {
        slot.set(previous);
      }
    }

    /** Runs `fn` in `ctx`, and the later events of `messages` (a request, its response) in it too. */
    run(ctx, fn, ...messagesOfCtx) {
      if (traced(ctx)) for (const m of messagesOfCtx) if (m) messages.set(m, ctx);
      return this.with(ctx, fn);
    }

    /** The later events of `message` (an outgoing request) run in `ctx` (its caller's). */
    bindMessage(message, ctx) {
      if (traced(ctx)) messages.set(message, ctx);
    }

    spanStarted() {
      this._recording++;
    }

    spanEnded() {
      if (this._recording > 0) this._recording--;
    }

    /** Patches what carries a context across callbacks (see above); undone by disable(). */
    enable(http) {
      super.enable();
      // `this` of the functions below is their caller's object (a message, process), not the manager.
      const manager = this; // eslint-disable-line @typescript-eslint/no-this-alias
      const wrap = (ctx, fn) =>
        function carried(...args) {
          return manager.with(ctx, fn, this, ...args);
        };
      const patch = (owner, name, make) => {
        const plain = owner && owner[name];
        if (typeof plain !== 'function') return;
        owner[name] = make(plain);
        patched.push(() => (owner[name] = plain));
      };
      const callbackFirst = (plain) =>
        function withContext(callback) {
          if (manager._recording === 0 || typeof callback !== 'function') return plain.apply(this, arguments);
          const ctx = slot.get();
          if (!traced(ctx)) return plain.apply(this, arguments);
          const args = Array.prototype.slice.call(arguments);
          args[0] = wrap(ctx, callback);
          return plain.apply(this, args);
        };
      const timers = require('node:timers');
      for (const name of ['setTimeout', 'setInterval', 'setImmediate']) {
        const plain = globalThis[name];
        patch(globalThis, name, callbackFirst);
        if (timers[name] === plain) {
          const global = globalThis[name];
          patch(timers, name, () => global);
        }
      }
      patch(globalThis, 'queueMicrotask', callbackFirst);
      patch(process, 'nextTick', callbackFirst);
      for (const mod of http) {
        for (const proto of [
          mod.IncomingMessage && mod.IncomingMessage.prototype,
          mod.OutgoingMessage && mod.OutgoingMessage.prototype,
        ]) {
          if (!proto || patched.some((p) => p.proto === proto)) continue;
          patch(
            proto,
            'emit',
            (plain) =>
              function emit(event, value) {
                if (manager._recording === 0) return plain.apply(this, arguments);
                const ctx = messages.get(this);
                if (ctx === undefined) return plain.apply(this, arguments);
                // A client request's response belongs where the request did.
                if (event === 'response' && value) messages.set(value, ctx);
                return manager.with(ctx, plain, this, ...arguments);
              },
          );
          patched[patched.length - 1].proto = proto;
        }
      }
      return this;
    }

    disable() {
      while (patched.length > 0) patched.pop()();
      slot.set(undefined);
      return super.disable();
    }
  }
  return new NativeContextManager();
}

module.exports = { createNativeContextManager };
