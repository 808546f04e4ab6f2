/* global require, process, __filename, Buffer, setTimeout, clearTimeout */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * Rampart's tracing preload, for Node services that know nothing about it:
 *
 *   NODE_OPTIONS="--require /abs/path/to/register.cjs"
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://<control plane>:<port>   (the preload appends /v1/traces)
 *   RAMPART_SERVICE, RAMPART_ENVIRONMENT, RAMPART_NAMESPACE, RAMPART_REPLICA[, RAMPART_REPLICA_ID]
 *   RAMPART_TRACE_IGNORE_PATHS=/healthz,/readyz                  (optional: no spans for these)
 *   RAMPART_TRACING=off                                          (opt-out)
 *   RAMPART_TRACE_CONTEXT=async-hooks        (AsyncLocalStorage even when the native module is built)
 *
 * CommonJS on purpose: `--require` runs it before the service's entry point whether that is CommonJS
 * or ESM. Everything is loaded from Rampart's own node_modules (resolved from this file, never from
 * the service), so a service needs no OpenTelemetry package and its own copies cannot interfere.
 * HTTP server/client (Rampart's own spans, http.cjs), fetch (undici) and pg (Rampart's own
 * statement spans, pg.cjs) are instrumented. Spans
 * are made by the OpenTelemetry API through a small tracer of Rampart's (tracer.cjs, with
 * propagator.cjs and batch.cjs: the SDK's behaviour with a fraction of its code, which matters
 * because tracing code runs a few times a second, with cold caches; decision 0011) and leave as
 * OTLP/JSON (export.cjs: cheaper than the stock exporter for a few spans a second). The SDK's
 * samplers are used as they are. No resource detector runs (no cloud metadata probes).
 * Sampling keeps whole traces: by default a replica starts at most RAMPART_TRACES_PER_SECOND (1)
 * new traces a second on average (adaptive probability, see adaptiveSampler), children follow their
 * parent; the standard OTEL_TRACES_SAMPLER (+ OTEL_TRACES_SAMPLER_ARG) replaces that
 * (`parentbased_always_on`: every trace).
 *
 * Unlike the stock auto-instrumentation, spans are not lost at the end: SIGTERM/SIGINT flush before
 * the default action is re-raised (when the service has no handler of its own), and on
 * `process.exit()` the spans not yet acknowledged are sent synchronously by a short-lived child.
 * Any failure here disables tracing for the process and never breaks the service. Only the main
 * thread is instrumented (spans of worker threads are not recorded).
 */
const KEY = Symbol.for('rampart.preload');
// Worker threads run NODE_OPTIONS' --require too, Node's own module-hooks thread included:
// instrument the main thread only.
if (!globalThis[KEY] && require('node:worker_threads').isMainThread) {
  globalThis[KEY] = true;
  const env = process.env;
  try {
    if (env.RAMPART_TRACING !== 'off' && env.OTEL_SDK_DISABLED !== 'true') startTracing(env);
  } catch (e) {
    process.stderr.write(`rampart preload: tracing disabled: ${e && e.message}\n`);
  }
}

function parseList(value) {
  return (value || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `k=v,k2=v2` (URL-encoded), the format of OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES. */
function parsePairs(value) {
  const out = {};
  for (const pair of parseList(value)) {
    const eq = pair.indexOf('=');
    if (eq > 0)
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
  }
  return out;
}

function tracesUrl(env) {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318';
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

function startTracing(env) {
  // Here, not at the top: worker threads and opted-out services run this file too.
  const { samplerFromEnv } = require('./sampling.cjs');
  const { untracedTraceparent, untracedIn } = require('./untraced.cjs');
  const { sendSync } = require('./exit-send.cjs');
  const { createLazyContextManager } = require('./context.cjs');
  const { createNativeContextManager } = require('./context-native.cjs');
  const { loadNativeContext } = require('./native/index.cjs');
  // Before instrumentHttp: the exporter keeps Node's own request functions.
  const { createJsonExporter, tracesJson } = require('./export.cjs');
  const { createBatcher, DEFAULTS } = require('./batch.cjs');
  const { createRequire } = require('node:module');
  const rampartRequire = createRequire(__filename);
  const sdk = rampartRequire('@opentelemetry/sdk-trace-base');
  const { createTracerProvider } = require('./tracer.cjs');
  const { createPgInstrumentation } = require('./pg.cjs');
  const { resourceFromAttributes } = rampartRequire('@opentelemetry/resources');
  const instrumentation = rampartRequire('@opentelemetry/instrumentation');
  const { registerInstrumentations } = instrumentation;
  const { UndiciInstrumentation } = rampartRequire('@opentelemetry/instrumentation-undici');

  const service = env.RAMPART_SERVICE || env.OTEL_SERVICE_NAME || 'unknown_service:node';
  const attributes = {
    ...parsePairs(env.OTEL_RESOURCE_ATTRIBUTES),
    'service.name': service,
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.distro.name': 'rampart',
  };
  for (const [envName, attr] of [
    ['RAMPART_ENVIRONMENT', 'rampart.environment'],
    ['RAMPART_NAMESPACE', 'rampart.namespace'],
    ['RAMPART_REPLICA', 'rampart.replica'],
    ['RAMPART_REPLICA_ID', 'rampart.replica_id'],
  ]) {
    if (env[envName]) attributes[attr] = env[envName];
  }
  if (env.RAMPART_ENVIRONMENT) attributes['deployment.environment.name'] = env.RAMPART_ENVIRONMENT;
  if (env.RAMPART_REPLICA_ID) attributes['service.instance.id'] = env.RAMPART_REPLICA_ID;

  const headers = {
    ...parsePairs(env.OTEL_EXPORTER_OTLP_HEADERS),
    ...parsePairs(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
  };
  const timeoutMs = Number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT || env.OTEL_EXPORTER_OTLP_TIMEOUT);
  const exporter = createJsonExporter({
    url: tracesUrl(env),
    headers,
    ...(Number.isFinite(timeoutMs) && timeoutMs > 0 && { timeoutMs }),
  });
  const batcher = createBatcher(exporter, {
    delayMs: Number(env.OTEL_BSP_SCHEDULE_DELAY) || DEFAULTS.delayMs,
    maxBatch: Number(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE) || DEFAULTS.maxBatch,
    maxQueue: Number(env.OTEL_BSP_MAX_QUEUE_SIZE) || DEFAULTS.maxQueue,
  });
  // The active span in V8's continuation slot when Rampart's native module is built
  // (context-native.cjs), else AsyncLocalStorage only while a span records (context.cjs). Both
  // count the recording spans.
  const api = rampartRequire('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = rampartRequire('@opentelemetry/context-async-hooks');
  const slot = env.RAMPART_TRACE_CONTEXT === 'async-hooks' ? undefined : loadNativeContext();
  const contextManager = slot
    ? createNativeContextManager(api, slot, AsyncLocalStorageContextManager)
    : createLazyContextManager(api, AsyncLocalStorageContextManager);
  const processor = {
    onStart() {
      contextManager.spanStarted();
    },
    onEnd(span) {
      if (span.spanContext().traceFlags & 1) batcher.add(span);
      contextManager.spanEnded();
    },
    forceFlush: () => batcher.forceFlush(),
    hasPending: () => batcher.unacknowledged > 0,
    takeUnacknowledged() {
      const spans = batcher.takeUnacknowledged();
      return spans.length === 0 ? Buffer.alloc(0) : Buffer.from(tracesJson(spans));
    },
  };
  const sampler = samplerFromEnv(sdk, env, rampartRequire);
  const core = rampartRequire('@opentelemetry/core');
  const { isTracingSuppressed, suppressTracing } = core;
  const provider = createTracerProvider({
    api,
    resource: resourceFromAttributes(attributes),
    processor,
    sampler,
    isSuppressed: isTracingSuppressed,
    env,
  });
  // What NodeTracerProvider.register() does, with our context manager: a request enters its
  // context imperatively, for its connection (http.cjs).
  api.trace.setGlobalTracerProvider(provider);
  const httpModules = [require('node:http'), require('node:https')];
  api.context.setGlobalContextManager(contextManager.enable(httpModules));
  api.propagation.setGlobalPropagator(require('./propagator.cjs').createPropagator(api, core));

  const ignorePaths = parseList(env.RAMPART_TRACE_IGNORE_PATHS);
  // Asked for every incoming request: no array made per call.
  const ignored = (url) => {
    if (ignorePaths.length === 0 || !url) return false;
    const q = url.indexOf('?');
    return ignorePaths.includes(q < 0 ? url : url.slice(0, q));
  };
  // A request that is not traced runs with tracing suppressed, which the context manager keeps as
  // no context at all: its calls make no spans and tell the callee "not sampled", so the callee
  // skips its own (adaptiveSampler, http.cjs). A call or statement is traced only inside a traced
  // request (a recording span): work outside any request starts no trace of its own.
  const untraced = () => untracedIn(api.trace, isTracingSuppressed, api.context.active());
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new UndiciInstrumentation({
        ignoreRequestHook: (request) => {
          if (!untraced()) return false;
          if (typeof request.addHeader === 'function')
            request.addHeader('traceparent', untracedTraceparent());
          return true;
        },
      }),
      // Rampart's own statement spans (pg.cjs, decision 0012): a traced order of the fraud stack
      // is ~0.65 ms faster with them than with the stock PgInstrumentation.
      createPgInstrumentation(instrumentation, {
        api,
        tracer: provider.getTracer('@rampart/pg'),
        isSuppressed: isTracingSuppressed,
      }),
    ],
  });
  // HTTP server and client spans: Rampart's own (http.cjs), which add nothing to Node's objects.
  // ESM services import `node:http` as named bindings, which are copies: patch the CommonJS module
  // now and copy the patched functions into the ESM bindings. pg is CommonJS, and Node loads it
  // through require even from ESM: it is hooked as is.
  const { instrumentHttp } = require('./http.cjs');
  instrumentHttp(httpModules, {
    api,
    tracer: provider.getTracer('@rampart/http'),
    isSuppressed: isTracingSuppressed,
    suppressed: suppressTracing(api.ROOT_CONTEXT),
    runMessage: contextManager.runMessage.bind(contextManager),
    bindMessage: contextManager.bindMessage.bind(contextManager),
    ignored,
    decideIncoming: sampler && sampler.decideIncoming,
  });
  require('node:module').syncBuiltinESMExports();

  // At most timeoutMs, and no longer than the flush takes (a pending timer would delay the exit).
  const flush = (timeoutMs) => {
    let timer;
    return Promise.race([
      processor.forceFlush().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]).finally(() => clearTimeout(timer));
  };

  // Spans still unacknowledged, sent now, synchronously (nothing asynchronous runs after this).
  const sendPendingNow = () => {
    try {
      const body = processor.takeUnacknowledged();
      if (body.length > 0) sendSync(tracesUrl(env), headers, body);
    } catch {
      // Nothing more can be done while exiting.
    }
  };

  for (const signal of ['SIGTERM', 'SIGINT']) {
    const onSignal = () => {
      // Decided now: a service that handles the signal itself decides when to exit.
      const serviceHandles = process.listenerCount(signal) > 1;
      void flush(3000).then(() => {
        if (serviceHandles) return;
        // Death by signal runs no 'exit' listeners: do their work here.
        sendPendingNow();
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal); // the default action, as if we had never listened
      });
    };
    process.on(signal, onSignal);
  }

  let beforeExitRounds = 0;
  process.on('beforeExit', () => {
    // The event loop is empty; the batch timer is unref'd and would not keep it alive.
    if (processor.hasPending() && beforeExitRounds++ < 3) void flush(2000);
  });

  process.on('exit', sendPendingNow);
}
