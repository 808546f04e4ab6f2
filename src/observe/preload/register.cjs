/* global require, process, __filename, __dirname, Buffer, URL, setInterval, setTimeout, clearTimeout */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * Rampart's tracing preload, for Node services that know nothing about it:
 *
 *   NODE_OPTIONS="--require /abs/path/to/register.cjs"
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://<control plane>:<port>   (the preload appends /v1/traces)
 *   RAMPART_SERVICE, RAMPART_ENVIRONMENT, RAMPART_NAMESPACE, RAMPART_REPLICA[, RAMPART_REPLICA_ID]
 *   RAMPART_MODULES_FILE=/path/modules.json                     (optional: modules loaded, issue 7)
 *   RAMPART_TRACE_IGNORE_PATHS=/healthz,/readyz                  (optional: no spans for these)
 *   RAMPART_TRACING=off                                          (opt-out, modules still recorded)
 *
 * CommonJS on purpose: `--require` runs it before the service's entry point whether that is CommonJS
 * or ESM. Everything is loaded from Rampart's own node_modules (resolved from this file, never from
 * the service), so a service needs no OpenTelemetry package and its own copies cannot interfere.
 * HTTP server/client, fetch (undici) and pg are instrumented; spans leave through a
 * BatchSpanProcessor as OTLP/protobuf. No resource detector runs (no cloud metadata probes).
 * Sampling keeps whole traces: by default a replica starts at most RAMPART_TRACES_PER_SECOND (5)
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
// New traces a replica starts per second by default (RAMPART_TRACES_PER_SECOND; see adaptiveSampler).
const DEFAULT_TRACES_PER_SECOND = 5;
// Worker threads run NODE_OPTIONS' --require too, Node's own module-hooks thread included (which
// the module list below starts): instrument the main thread only.
if (!globalThis[KEY] && require('node:worker_threads').isMainThread) {
  globalThis[KEY] = true;
  const env = process.env;
  let writeModules = () => undefined;
  try {
    if (env.RAMPART_MODULES_FILE) writeModules = recordModules(env.RAMPART_MODULES_FILE);
  } catch (e) {
    process.stderr.write(`rampart preload: module list disabled: ${e && e.message}\n`);
  }
  try {
    if (env.RAMPART_TRACING !== 'off' && env.OTEL_SDK_DISABLED !== 'true') startTracing(env, writeModules);
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

/**
 * The standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG; unset, Rampart's adaptive sampler. A
 * ratio keeps whole traces: the root decides, children follow the sampled flag it propagates.
 * Undefined for parentbased_always_on (the SDK's own default: every trace).
 */
function samplerFromEnv(sdk, env, rampartRequire) {
  const name = (env.OTEL_TRACES_SAMPLER || '').trim().toLowerCase();
  if (!name) {
    const perSecond = Number(env.RAMPART_TRACES_PER_SECOND || DEFAULT_TRACES_PER_SECOND);
    return adaptiveSampler(
      sdk,
      Number.isFinite(perSecond) && perSecond >= 0 ? perSecond : DEFAULT_TRACES_PER_SECOND,
      rampartRequire,
    );
  }
  if (name === 'parentbased_always_on') return undefined;
  const arg = Number(env.OTEL_TRACES_SAMPLER_ARG);
  const ratio = () =>
    new sdk.TraceIdRatioBasedSampler(Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1);
  const roots = {
    always_on: () => new sdk.AlwaysOnSampler(),
    always_off: () => new sdk.AlwaysOffSampler(),
    traceidratio: ratio,
  };
  if (roots[name]) return roots[name]();
  const parentBased = /^parentbased_(.+)$/.exec(name);
  if (parentBased && roots[parentBased[1]])
    return new sdk.ParentBasedSampler({ root: roots[parentBased[1]]() });
  process.stderr.write(`rampart preload: OTEL_TRACES_SAMPLER=${name} unknown, every trace is kept\n`);
  return undefined;
}

/**
 * At most `perSecond` new traces a second on average, whole traces kept, whatever the load: a root
 * span is sampled with probability p = min(1, perSecond / root rate) (the rate: see countRoot), and
 * a child follows its parent. The decision is OpenTelemetry's consistent probability sampling: the
 * trace is kept when the trace id's randomness (its last 56 bits) is at or above the rejection
 * threshold (1 - p) * 2^56, and that threshold travels with the trace in the W3C tracestate as
 * `ot=th:<hex>`. Every span of the trace carries it to the control plane, which counts the span as
 * 1/p requests (its adjusted count), so request rates and latencies stay right while tracing costs
 * only ~perSecond traces a second per replica. Under perSecond roots a second every trace is kept
 * and no tracestate is added.
 *
 * An incoming request is decided before any span exists (`decideIncoming`, from the HTTP
 * instrumentation's ignore hook): one that is not traced skips the instrumentation altogether (no
 * attributes, span or context of its own), the most of what tracing costs per request; its outgoing
 * calls carry a `traceparent` with the sampled flag off (`untracedTraceparent`), so the services
 * it calls skip them too and no trace starts half-way.
 */
function adaptiveSampler(sdk, perSecond, rampartRequire) {
  const { SamplingDecision } = sdk;
  const api = rampartRequire('@opentelemetry/api');
  const { TraceState } = rampartRequire('@opentelemetry/core');
  let windowStart = Date.now();
  let roots = 0; // roots seen in the current one-second window
  let lastRate = 0; // roots a second in the window before
  let decided; // a root kept by decideIncoming, for the span about to start for it
  // Probabilities are powers of 2^(1/4) (19% apart), each with its threshold and tracestate made once.
  const levels = new Map();
  const level = (k) => {
    let l = levels.get(k);
    if (!l) {
      const p = 2 ** (-k / 4);
      // 56-bit threshold, rounded to 52 significant bits (a double's), trailing zeros dropped.
      const threshold = BigInt(Math.min(Math.round((1 - p) * 2 ** 52), 2 ** 52 - 1)) << 4n;
      const th = threshold.toString(16).padStart(14, '0').replace(/0+$/, '') || '0';
      l = { p, threshold, state: new TraceState().set('ot', `th:${th}`) };
      levels.set(k, l);
    }
    return l;
  };
  /**
   * Counts one more root; the level to decide it at, undefined for "keep" (p = 1). The rate is the
   * larger of the last second's and the roots seen so far in this one, so a burst after a quiet
   * spell is sampled from its first second on (a few traces, not a whole second of them), and
   * under `perSecond` roots a second every trace is kept.
   */
  const countRoot = () => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      lastRate = (roots * 1000) / (now - windowStart);
      windowStart = now;
      roots = 0;
    }
    roots++;
    const rate = Math.max(lastRate, roots);
    if (rate <= perSecond) return undefined;
    return level(Math.min(Math.ceil(-4 * Math.log2(perSecond / rate)), 160));
  };
  return {
    /** Whether to trace an incoming request, from its `traceparent` header (absent: a new root). */
    decideIncoming(traceparent) {
      if (typeof traceparent === 'string' && TRACEPARENT.test(traceparent))
        return (Number.parseInt(traceparent.slice(53, 55), 16) & 1) === 1;
      const l = countRoot();
      if (l && Math.random() >= l.p) return false;
      decided = l || KEEP;
      return true;
    },
    shouldSample(context, traceId) {
      const parent = api.trace.getSpanContext(context);
      if (parent && api.isSpanContextValid(parent))
        return {
          decision:
            parent.traceFlags & api.TraceFlags.SAMPLED
              ? SamplingDecision.RECORD_AND_SAMPLED
              : SamplingDecision.NOT_RECORD,
        };
      if (decided !== undefined) {
        const kept = decided;
        decided = undefined;
        return {
          decision: SamplingDecision.RECORD_AND_SAMPLED,
          ...(kept.state && { traceState: kept.state }),
        };
      }
      const l = countRoot();
      if (!l) return { decision: SamplingDecision.RECORD_AND_SAMPLED };
      const randomness = BigInt(`0x${traceId.slice(18)}`);
      return randomness >= l.threshold
        ? { decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: l.state }
        : { decision: SamplingDecision.NOT_RECORD, traceState: l.state };
    },
    toString: () => `RampartAdaptiveSampler{${perSecond}/s}`,
  };
}

const KEEP = { state: undefined };
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/;

const randomHex = (chars) => {
  let out = '';
  while (out.length < chars) out += ((Math.random() * 2 ** 32) >>> 0).toString(16).padStart(8, '0');
  return out.slice(0, chars);
};

// Ids of untraced calls: unique (a random half per process, then a counter), not random. Nothing
// samples by them (the flag says "not sampled"), and drawing 48 random hex digits for every call
// showed in the gateway's profile.
const untracedPrefix = randomHex(16);
let untracedCount = 0;

/** A W3C traceparent saying "not sampled": what an untraced request passes on. */
function untracedTraceparent() {
  const n = (++untracedCount).toString(16).padStart(16, '0');
  return `00-${untracedPrefix}${n}-${n}-00`;
}

/**
 * The instrumentation costs even a request it does not trace (its wrappers parse the request
 * options, bind the request and response emitters to a context, compute what it needs to decide):
 * a third of a small service's CPU per request here. In front of its wrappers, an untraced request
 * goes straight to Node's own functions: a server request enters a context with tracing suppressed
 * (for the whole connection until its next request, so the body's events and the handler see it),
 * and a call made in one carries a traceparent saying "not sampled". Whatever this does not
 * recognise (the instrumentation's wrappers without `__original`) is left to the instrumentation.
 */
function bypassUntraced(modules, o) {
  for (const mod of modules) {
    const proto = mod.Server && mod.Server.prototype;
    const tracedEmit = proto && proto.emit;
    const plainEmit = tracedEmit && tracedEmit.__original;
    if (typeof plainEmit === 'function') {
      proto.emit = function emit(event, req) {
        if (event !== 'request') return plainEmit.apply(this, arguments);
        const traced = o.traced(req);
        o.enter(traced);
        return (traced ? tracedEmit : plainEmit).apply(this, arguments);
      };
    }
    for (const name of ['request', 'get']) {
      const traced = mod[name];
      const plain = traced && traced.__original;
      if (typeof plain !== 'function') continue;
      mod[name] =
        name === 'request'
          ? function request(...args) {
              if (!o.untraced()) return traced.apply(this, args);
              if (arrayHeaders(args))
                return plain.apply(this, withHeader(args, 'traceparent', untracedTraceparent()));
              // The header set on the request Node built, rather than on copies of the caller's
              // options and headers: no allocation per call. Node renders headers at construction
              // only for an array (handled above) or an Expect header: such a call goes without
              // one, and its callee decides alone.
              const req = plain.apply(this, args);
              if (!req.headersSent && !req._header) req.setHeader('traceparent', untracedTraceparent());
              return req;
            }
          : // get() ends its request before returning: the header has to be in the arguments.
            function get(...args) {
              if (!o.untraced()) return traced.apply(this, args);
              return plain.apply(this, withHeader(args, 'traceparent', untracedTraceparent()));
            };
    }
  }
}

/** Whether `http.request`'s arguments give the headers as a raw array (rendered at construction). */
function arrayHeaders(args) {
  const first = args[0];
  const options = typeof first === 'string' || first instanceof URL ? args[1] : first;
  return !!options && typeof options === 'object' && Array.isArray(options.headers);
}

/** `http.request`'s arguments ((url[, options][, cb]) or (options[, cb])) with one more header. */
function withHeader(args, name, value) {
  const add = (headers) =>
    Array.isArray(headers) ? [...headers, name, value] : { ...headers, [name]: value };
  const out = [...args];
  const first = out[0];
  if (typeof first === 'string' || first instanceof URL) {
    if (out[1] && typeof out[1] === 'object') out[1] = { ...out[1], headers: add(out[1].headers) };
    else out.splice(1, 0, { headers: add(undefined) });
  } else if (first && typeof first === 'object') {
    out[0] = { ...first, headers: add(first.headers) };
  }
  return out;
}

function startTracing(env, beforeSignalExit) {
  const { createRequire } = require('node:module');
  const rampartRequire = createRequire(__filename);
  const sdk = rampartRequire('@opentelemetry/sdk-trace-node');
  const { NodeTracerProvider } = sdk;
  const { resourceFromAttributes } = rampartRequire('@opentelemetry/resources');
  const exporterPath = rampartRequire.resolve('@opentelemetry/exporter-trace-otlp-proto');
  // The OTLP exporter's own protobuf serializer (resolved next to the exporter Rampart ships).
  const { ProtobufTraceSerializer } = createRequire(exporterPath)('@opentelemetry/otlp-transformer');
  const { registerInstrumentations } = rampartRequire('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = rampartRequire('@opentelemetry/instrumentation-http');
  const { UndiciInstrumentation } = rampartRequire('@opentelemetry/instrumentation-undici');
  const { PgInstrumentation } = rampartRequire('@opentelemetry/instrumentation-pg');

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
  const { OTLPTraceExporter } = rampartRequire(exporterPath);
  const exporter = new OTLPTraceExporter({ url: tracesUrl(env) });
  // Spans ended but not yet acknowledged by the exporter: what process.exit() would lose.
  const pending = new Set();
  const MAX_PENDING = 16384;
  const tracking = {
    export(spans, done) {
      exporter.export(spans, (result) => {
        for (const s of spans) pending.delete(s);
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => (exporter.forceFlush ? exporter.forceFlush() : Promise.resolve()),
  };
  const batch = new sdk.BatchSpanProcessor(tracking, {
    scheduledDelayMillis: Number(env.OTEL_BSP_SCHEDULE_DELAY) || 1000,
    maxExportBatchSize: Number(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE) || 512,
    maxQueueSize: Number(env.OTEL_BSP_MAX_QUEUE_SIZE) || 4096,
  });
  const processor = {
    onStart: (span, ctx) => batch.onStart(span, ctx),
    onEnd(span) {
      if (span.spanContext().traceFlags & 1) {
        pending.add(span);
        // The batch processor drops spans when its queue is full; forget the oldest likewise.
        if (pending.size > MAX_PENDING) pending.delete(pending.values().next().value);
      }
      batch.onEnd(span);
    },
    forceFlush: () => batch.forceFlush(),
    shutdown: () => batch.shutdown(),
    hasPending: () => pending.size > 0,
    takeUnacknowledged() {
      const spans = [...pending];
      pending.clear();
      return spans.length === 0
        ? Buffer.alloc(0)
        : Buffer.from(ProtobufTraceSerializer.serializeRequest(spans));
    },
  };
  const sampler = samplerFromEnv(sdk, env, rampartRequire);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes(attributes),
    spanProcessors: [processor],
    ...(sampler && { sampler }),
  });
  // Our own instance: an untraced request enters its context imperatively (bypassUntraced).
  const { AsyncLocalStorageContextManager } = rampartRequire('@opentelemetry/context-async-hooks');
  const contextManager = new AsyncLocalStorageContextManager().enable();
  provider.register({ contextManager });

  const ignorePaths = parseList(env.RAMPART_TRACE_IGNORE_PATHS);
  const ignored = (url) => {
    const path = (url || '').split('?')[0];
    return ignorePaths.includes(path);
  };
  // A request that is not traced runs with tracing suppressed (the HTTP instrumentation's way for
  // an ignored request): its calls skip the client instrumentation and tell the callee "not
  // sampled", so the callee skips its own (adaptiveSampler).
  const { isTracingSuppressed, suppressTracing } = rampartRequire('@opentelemetry/core');
  const { context: apiContext, ROOT_CONTEXT } = rampartRequire('@opentelemetry/api');
  const untraced = () => isTracingSuppressed(apiContext.active());
  const decideIncoming = sampler && sampler.decideIncoming;
  // Requests bypassUntraced already decided to trace (the instrumentation must not decide again).
  const DECIDED = Symbol('rampart.traced');
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) =>
          req[DECIDED] !== true &&
          (ignored(req.url) || (decideIncoming !== undefined && !decideIncoming(req.headers.traceparent))),
        ignoreOutgoingRequestHook: (options) => {
          if (!untraced()) return false;
          const traceparent = untracedTraceparent();
          if (Array.isArray(options.headers)) options.headers.push('traceparent', traceparent);
          else options.headers = { ...options.headers, traceparent };
          return true;
        },
      }),
      new UndiciInstrumentation({
        ignoreRequestHook: (request) => {
          if (!untraced()) return false;
          if (typeof request.addHeader === 'function')
            request.addHeader('traceparent', untracedTraceparent());
          return true;
        },
      }),
      new PgInstrumentation(),
    ],
  });
  // ESM services import `node:http` as named bindings, which are copies: patch the CommonJS module
  // now (requiring it runs the instrumentation hook) and copy the patched functions into the ESM
  // bindings. pg is CommonJS, and Node loads it through require even from ESM: it is hooked as is.
  const modules = [require('node:http'), require('node:https')];
  if (decideIncoming !== undefined) {
    const suppressed = suppressTracing(ROOT_CONTEXT);
    bypassUntraced(modules, {
      traced(req) {
        if (ignored(req.url) || !decideIncoming(req.headers.traceparent)) return false;
        req[DECIDED] = true;
        return true;
      },
      untraced,
      enter: (traced) => contextManager.attach(traced ? ROOT_CONTEXT : suppressed),
    });
  }
  require('node:module').syncBuiltinESMExports();

  // At most timeoutMs, and no longer than the flush takes (a pending timer would delay the exit).
  const flush = (timeoutMs) => {
    let timer;
    return Promise.race([
      provider.forceFlush().catch(() => undefined),
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
        beforeSignalExit();
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

// Runs in a child at exit: reads the body from stdin and POSTs it.
const SENDER = `
const [url, headers] = process.argv.slice(1);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c)).on('end', () => {
  const body = Buffer.concat(chunks);
  const u = new URL(url);
  const req = require(u.protocol === 'https:' ? 'node:https' : 'node:http').request(u, {
    method: 'POST',
    headers: { ...JSON.parse(headers), 'content-type': 'application/x-protobuf', 'content-length': body.length },
  }, (res) => { res.resume(); res.on('end', () => process.exit(0)); });
  req.on('error', () => process.exit(1));
  req.setTimeout(2500, () => req.destroy());
  req.end(body);
});`;

/** process.exit() allows no asynchronous work: a child process does the request while we wait. */
function sendSync(url, headers, body) {
  const { spawnSync } = require('node:child_process');
  const childEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS; // not this preload again
  delete childEnv.RAMPART_MODULES_FILE;
  spawnSync(process.execPath, ['-e', SENDER, url, JSON.stringify(headers)], {
    input: Buffer.from(body),
    env: childEnv,
    stdio: ['pipe', 'ignore', 'ignore'],
    timeout: 3000,
  });
}

/**
 * Writes the modules this process loaded (path, package name and version) to `file`, every 30 s and
 * at exit. CommonJS modules come from the require cache; ES modules from a resolve hook on the
 * loader thread that appends each file URL to `<file>.esm`.
 */
function recordModules(file) {
  const fs = require('node:fs');
  const path = require('node:path');
  const Module = require('node:module');
  const { fileURLToPath, pathToFileURL } = require('node:url');
  // ES modules: the loader-thread hook appends each resolved file URL to this side file.
  const esmFile = `${file}.esm`;
  try {
    fs.writeFileSync(esmFile, '');
    if (typeof Module.register === 'function') {
      Module.register(pathToFileURL(path.join(__dirname, 'modules-hook.mjs')), { data: { file: esmFile } });
    }
  } catch {
    // No ES module list then; CommonJS modules are still recorded.
  }
  const rampartRoot = path.resolve(__dirname, '..', '..', '..');
  const packageOf = new Map(); // directory -> { name, version, dir } | null
  const findPackage = (dir) => {
    if (packageOf.has(dir)) return packageOf.get(dir);
    let found = null;
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name) found = { name: pkg.name, version: pkg.version || null, dir };
    } catch {
      // No (readable) package.json here.
    }
    if (!found) {
      const parent = path.dirname(dir);
      found = parent === dir ? null : findPackage(parent);
    }
    packageOf.set(dir, found);
    return found;
  };
  const write = () => {
    try {
      const paths = new Set(Object.keys(require.cache));
      let esm = [];
      try {
        esm = fs.readFileSync(esmFile, 'utf8').split('\n').filter(Boolean);
      } catch {
        // Not written (yet).
      }
      for (const url of esm) {
        try {
          paths.add(fileURLToPath(url));
        } catch {
          // Not a file URL.
        }
      }
      const modules = [];
      const packages = new Map();
      for (const p of [...paths].sort()) {
        if (!path.isAbsolute(p)) continue;
        const pkg = findPackage(path.dirname(p));
        const rampart = p.startsWith(rampartRoot + path.sep);
        modules.push({ path: p, package: pkg ? pkg.name : null, version: pkg ? pkg.version : null, rampart });
        if (pkg) packages.set(`${pkg.dir}`, { name: pkg.name, version: pkg.version, path: pkg.dir, rampart });
      }
      const doc = {
        pid: process.pid,
        service: process.env.RAMPART_SERVICE || null,
        replica: process.env.RAMPART_REPLICA || null,
        node: process.version,
        writtenAt: new Date().toISOString(),
        packages: [...packages.values()],
        modules,
      };
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(doc));
      fs.renameSync(tmp, file); // readers never see half a file
    } catch {
      // The directory may be gone (replica being removed): nothing to record into.
    }
  };
  const timer = setInterval(write, 30_000);
  timer.unref();
  setTimeout(write, 2_000).unref();
  process.on('exit', write);
  return write;
}
