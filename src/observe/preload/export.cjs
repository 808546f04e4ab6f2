/* global require, module, Buffer, setTimeout, URL */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * The preload's span exporter: OTLP/HTTP with the JSON encoding (OTLP specification, "JSON
 * Protobuf Encoding": hex trace and span ids, enums as integers, 64-bit times as decimal strings).
 *
 * Why not the stock `@opentelemetry/exporter-trace-otlp-proto`: a service exports a few spans a
 * second, so the exporter's code never gets hot. Measured in one process exporting ~25 spans once a
 * second (bench/README.md, observe-fraud), the stock exporter cost ~6 ms of CPU per export (its
 * protobuf writer, transformer and transport layers run cold), this one ~2 ms: the body is built
 * as plain objects and written by `JSON.stringify`, which is native. Every replica of every Node
 * service pays this every few seconds, on the same cores as the requests.
 *
 * Sending: Node's own `http.request`/`https.request`, taken before the preload instruments them
 * (an export makes no span of its own), on a keep-alive agent. Retried (at most `retries` times,
 * 1 s then 2 s, or the server's Retry-After up to 5 s) on a connection error and on 429, 502, 503
 * and 504, the OTLP specification's retryable answers; any other answer fails the batch.
 */
const http = require('node:http');
const https = require('node:https');

// Taken at load, before instrumentHttp patches the modules: exports must not trace themselves.
const requestOf = { 'http:': http.request, 'https:': https.request };
const RETRYABLE = new Set([429, 502, 503, 504]);
const SUCCESS = 0; // ExportResultCode.SUCCESS
const FAILED = 1; // ExportResultCode.FAILED

/** An HrTime ([seconds, nanoseconds]) as OTLP's decimal string of nanoseconds, exact. */
function nanos(time) {
  const [s, ns] = time;
  return s > 0 ? `${s}${String(ns).padStart(9, '0')}` : String(ns);
}

function anyValue(v) {
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'number':
      if (Number.isSafeInteger(v)) return { intValue: v };
      // An integer past 2^53 as an exact decimal string (as the stock exporter's int64 would be).
      if (Number.isInteger(v) && Math.abs(v) < 2 ** 63) return { intValue: BigInt(v).toString() };
      // proto3 JSON spells the non-finite doubles as strings.
      return { doubleValue: Number.isFinite(v) ? v : String(v) };
    default:
      if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
      if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v).toString('base64') };
      return v == null ? {} : { stringValue: String(v) };
  }
}

function keyValues(attributes) {
  const out = [];
  if (attributes) for (const key in attributes) out.push({ key, value: anyValue(attributes[key]) });
  return out;
}

/** One ReadableSpan (sdk-trace-base 2.x) as an OTLP/JSON span. */
function otlpSpan(span) {
  const ctx = span.spanContext();
  const out = {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    name: span.name,
    kind: span.kind + 1, // the API's INTERNAL is 0, OTLP's SPAN_KIND_INTERNAL 1
    startTimeUnixNano: nanos(span.startTime),
    endTimeUnixNano: nanos(span.endTime),
    attributes: keyValues(span.attributes),
    status: span.status.message
      ? { code: span.status.code, message: span.status.message }
      : { code: span.status.code },
  };
  const parent = span.parentSpanContext;
  if (parent && parent.spanId) out.parentSpanId = parent.spanId;
  if (ctx.traceState) out.traceState = ctx.traceState.serialize();
  if (span.droppedAttributesCount) out.droppedAttributesCount = span.droppedAttributesCount;
  if (span.events.length > 0) {
    out.events = span.events.map((e) => ({
      name: e.name,
      timeUnixNano: nanos(e.time),
      attributes: keyValues(e.attributes),
      ...(e.droppedAttributesCount && { droppedAttributesCount: e.droppedAttributesCount }),
    }));
  }
  if (span.droppedEventsCount) out.droppedEventsCount = span.droppedEventsCount;
  if (span.links.length > 0) {
    out.links = span.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      ...(l.context.traceState && { traceState: l.context.traceState.serialize() }),
      attributes: keyValues(l.attributes),
      ...(l.droppedAttributesCount && { droppedAttributesCount: l.droppedAttributesCount }),
    }));
  }
  if (span.droppedLinksCount) out.droppedLinksCount = span.droppedLinksCount;
  return out;
}

/** An ExportTraceServiceRequest in OTLP/JSON: spans grouped by resource, then by scope. */
function tracesJson(spans) {
  const resources = new Map();
  for (const span of spans) {
    let scopes = resources.get(span.resource);
    if (!scopes) resources.set(span.resource, (scopes = new Map()));
    const s = span.instrumentationScope;
    const key = `${s.name}\n${s.version || ''}\n${s.schemaUrl || ''}`;
    let entry = scopes.get(key);
    if (!entry) {
      const scope = s.version ? { name: s.name, version: s.version } : { name: s.name };
      entry = { scope, spans: [], ...(s.schemaUrl && { schemaUrl: s.schemaUrl }) };
      scopes.set(key, entry);
    }
    entry.spans.push(otlpSpan(span));
  }
  const resourceSpans = [];
  for (const [resource, scopes] of resources) {
    resourceSpans.push({
      resource: { attributes: keyValues(resource.attributes) },
      scopeSpans: [...scopes.values()],
    });
  }
  return JSON.stringify({ resourceSpans });
}

/** Seconds of a Retry-After header (delay-seconds form only), capped; undefined if absent or bad. */
function retryAfterMs(value, capMs) {
  const seconds = Number(value);
  return value && Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, capMs) : undefined;
}

/**
 * A SpanExporter (export/shutdown/forceFlush) that POSTs OTLP/JSON to `url`.
 * @param {{ url: string, headers?: Record<string, string>, timeoutMs?: number, retries?: number }} options
 */
function createJsonExporter(options) {
  const url = new URL(options.url);
  const request = requestOf[url.protocol];
  if (!request) throw new Error(`OTLP endpoint ${options.url}: only http: and https: are supported`);
  const agent = new (url.protocol === 'https:' ? https : http).Agent({ keepAlive: true, maxSockets: 2 });
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retries = options.retries ?? 2;
  const inFlight = new Set();
  let stopped = false;

  function post(body, attempt, done) {
    // One outcome per attempt: a response error and a request error can both fire for one failure,
    // and must not send two retries.
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      done(result);
    };
    const retry = (delayMs, error) => {
      if (settled) return;
      if (attempt >= retries || stopped) return finish({ code: FAILED, error });
      settled = true;
      setTimeout(() => post(body, attempt + 1, done), delayMs ?? 1000 * (attempt + 1)).unref();
    };
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          ...options.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('error', (error) => retry(undefined, error));
        res.on('end', () => {
          const status = res.statusCode;
          if (status >= 200 && status < 300) return finish({ code: SUCCESS });
          const error = new Error(`OTLP export to ${options.url} answered ${status}`);
          if (RETRYABLE.has(status)) retry(retryAfterMs(res.headers['retry-after'], 5000), error);
          else finish({ code: FAILED, error });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`OTLP export timed out after ${timeoutMs} ms`)));
    // A kept-alive socket the server closed just now fails at once: that one is retried at once.
    req.on('error', (error) => retry(req.reusedSocket && attempt === 0 ? 0 : undefined, error));
    req.end(body);
  }

  return {
    export(spans, resultCallback) {
      if (stopped) return resultCallback({ code: FAILED, error: new Error('exporter shut down') });
      let body;
      try {
        body = tracesJson(spans);
      } catch (error) {
        return resultCallback({ code: FAILED, error });
      }
      const sent = new Promise((resolve) => post(body, 0, resolve)).then((result) => {
        inFlight.delete(sent);
        resultCallback(result);
      });
      inFlight.add(sent);
    },
    forceFlush: () => Promise.all([...inFlight]).then(() => undefined),
    shutdown() {
      stopped = true;
      return Promise.all([...inFlight]).then(() => agent.destroy());
    },
  };
}

module.exports = { createJsonExporter, tracesJson };
