/* global module, require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
const { tracedIn } = require('./untraced.cjs');
/**
 * The tracing preload's context manager: OpenTelemetry's AsyncLocalStorage one, switched on only
 * while a span is recording in the process.
 *
 * Why: on Node 20, an AsyncLocalStorage that has been entered once keeps an async_hooks init hook
 * and a promise hook running for every async resource and every promise of the process, for good.
 * Measured on the fraud stack's decision service at 50 requests a second (bench/README.md, session
 * 13): 960-1040 µs of CPU per request without tracing, 1080-1190 with the preload and no request
 * traced, 1080-1140 with nothing but one AsyncLocalStorage store entered per request. With the
 * default sampling (a few traces a second per replica) almost every request is untraced, and so
 * almost all of that cost bought nothing.
 *
 * How:
 * - Only a context with a recording span is stored. Any other (no span, a not-sampled span,
 *   tracing suppressed) is "untraced" and stored as nothing, and `run(undefined)` on a switched-off
 *   AsyncLocalStorage does not switch it on. `active()` with nothing stored is ROOT_CONTEXT, and
 *   the preload makes no span for a call or a statement without a recording parent (http.cjs,
 *   register.cjs): what runs outside a traced request is untraced, as it was when it ran with
 *   tracing suppressed.
 * - `spanStarted()`/`spanEnded()` (from the span processor) count recording spans. When the last
 *   one ends, the AsyncLocalStorage is disabled, and its hooks with it, until a traced context is
 *   entered again. A span that is never ended keeps it on: the cost comes back, never a wrong
 *   context.
 * - A store left behind on a long-lived resource (a keep-alive connection whose earlier request
 *   was traced) must not leak into a later, untraced request: `active()` answers ROOT_CONTEXT for a
 *   stored context whose span has ended.
 *
 * Switching off loses nothing that is still traced: resources and promises made while it was off
 * carry no store, and code that runs for them is untraced, which is what it was.
 *
 * @param api `@opentelemetry/api`
 * @param AsyncLocalStorageContextManager from `@opentelemetry/context-async-hooks`
 */
function createLazyContextManager(api, AsyncLocalStorageContextManager) {
  const { trace, ROOT_CONTEXT } = api;
  const traced = (ctx) => tracedIn(trace, ctx);
  const noToken = { dispose() {} };

  class LazyContextManager extends AsyncLocalStorageContextManager {
    constructor() {
      super();
      /** Recording spans not yet ended. */
      this._recording = 0;
      /** Whether a traced context was stored since the last switch-off (its hooks are on). */
      this._on = false;
      /** Times the AsyncLocalStorage was switched off (for tests and diagnostics). */
      this.switchedOff = 0;
    }

    active() {
      const ctx = this._asyncLocalStorage.getStore();
      return traced(ctx) ? ctx : ROOT_CONTEXT;
    }

    with(ctx, fn, thisArg, ...args) {
      if (traced(ctx)) {
        this._on = true;
        return super.with(ctx, fn, thisArg, ...args);
      }
      // Switched off, this is a plain call: nothing is stored, so nothing switches it on.
      return super.with(undefined, fn, thisArg, ...args);
    }

    /** Makes `ctx` current for the rest of this execution (AsyncLocalStorage's enterWith). */
    attach(ctx) {
      const als = this._asyncLocalStorage;
      if (traced(ctx)) {
        const previous = als.getStore();
        this._on = true;
        als.enterWith(ctx);
        return {
          dispose: () => als.enterWith(traced(previous) ? previous : undefined),
        };
      }
      // Clears what an earlier traced execution left on this resource; switched off, nothing to do.
      if (this._on) als.enterWith(undefined);
      return noToken;
    }

    /**
     * `fn.apply(thisArg, args)` in `ctx`, entered on the current async resource (the connection
     * whose request this is), so the request's later events see it too.
     */
    runMessage(ctx, _req, _res, fn, thisArg, args) {
      this.attach(ctx);
      return fn.apply(thisArg, args);
    }

    /** Nothing to do: an outgoing request's callbacks run in the async context of the call. */
    bindMessage() {}

    /** A recording span started (SpanProcessor.onStart). */
    spanStarted() {
      this._recording++;
    }

    /** A recording span ended (SpanProcessor.onEnd): the last one switches the hooks off. */
    spanEnded() {
      if (this._recording > 0) this._recording--;
      if (this._recording === 0 && this._on) {
        this._on = false;
        this.switchedOff++;
        this._asyncLocalStorage.disable();
      }
    }

    /** Whether the AsyncLocalStorage (and its hooks) may be on. */
    get switchedOn() {
      return this._on;
    }
  }
  return new LazyContextManager();
}

module.exports = { createLazyContextManager };
