/* global require, module, process */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
const { tracedIn } = require('./untraced.cjs');
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
  const traced = (ctx) => tracedIn(trace, ctx);
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
      return this._apply(traced(ctx) ? ctx : undefined, fn, thisArg, args);
    }

    /** `fn.apply(thisArg, args)` with the slot holding `stored` (a traced context or undefined). */
    _apply(stored, fn, thisArg, args) {
      const previous = slot.get();
      if (stored === previous) return fn.apply(thisArg, args);
      slot.set(stored);
      try {
        return fn.apply(thisArg, args);
      } finally {
        slot.set(previous);
      }
    }

    /**
     * `fn.apply(thisArg, args)` in `ctx`, and the later events of `req` and `res` in it too. Taken
     * by every incoming request: no closure or array is made for it.
     */
    runMessage(ctx, req, res, fn, thisArg, args) {
      if (!traced(ctx)) return this._apply(undefined, fn, thisArg, args);
      messages.set(req, ctx);
      if (res) messages.set(res, ctx);
      return this._apply(ctx, fn, thisArg, args);
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
          return manager._apply(ctx, fn, this, args);
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
        // `node:timers` exports the same functions: it gets the patched ones too.
        const sameInTimers = timers[name] === globalThis[name];
        patch(globalThis, name, callbackFirst);
        if (sameInTimers) patch(timers, name, () => globalThis[name]);
      }
      patch(globalThis, 'queueMicrotask', callbackFirst);
      patch(process, 'nextTick', callbackFirst);
      // node:https has no message classes of its own: its messages are node:http's.
      const protos = new Set();
      for (const mod of http)
        for (const cls of [mod.IncomingMessage, mod.OutgoingMessage]) if (cls) protos.add(cls.prototype);
      for (const proto of protos)
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
              return manager._apply(ctx, plain, this, arguments);
            },
        );
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
