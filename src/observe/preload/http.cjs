/* global require, URL, module */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * HTTP server and client spans of the tracing preload (register.cjs), in place of OpenTelemetry's
 * HttpInstrumentation, which costs every request of a process once it has traced a few.
 *
 * Measured on the fraud stack at 60 requests a second (bench/README.md, session 10): with the stock
 * instrumentation and its untraced bypass, recording even 0.3 traces a second (0.5% of requests)
 * raised every request's p50 by ~2.5 ms and doubled p99, and the processes never settled back.
 * The instrumentation patches each traced request's and response's emitter methods (`on`, `once`,
 * `addListener`, ...) and `end` as own properties and hangs its state on Node's objects: from the
 * first traced request on, Node's HTTP internals, which every request runs through, see objects of
 * new shapes, and their property accesses turn megamorphic for good (perf showed V8's megamorphic
 * load and store stubs and unoptimised code 60-80% more often, nothing in the kernel).
 *
 * Here nothing is added to Node's objects. A span's state lives in closures; it ends from
 * ordinary `once` listeners (the `finish`/`close` of a server response, the `end`/`close` of a
 * client's response, the request's `error`). The context manager carries a traced exchange's
 * context into its later events (`runMessage`, `bindMessage`): with Rampart's native context slot
 * (context-native.cjs) through a registry and one `emit` on the message prototypes, with
 * AsyncLocalStorage (context.cjs) by entering it on the connection's async resource.
 *
 * What it records (stable HTTP semantic conventions): a SERVER span named by the method, with
 * `http.request.method`, `url.path`, `url.query`, `url.scheme`, `server.address`, `server.port`,
 * `network.peer.address`, `network.protocol.version`, `user_agent.original` and
 * `http.response.status_code`, an error from 500 up (or a response closed unfinished); a CLIENT
 * span likewise, with `server.address`, `server.port`, `url.full` and the status code, an error
 * from 400 up or when no answer came. W3C `traceparent`/`tracestate` are read from incoming
 * requests and written on outgoing ones.
 *
 * An untraced request (ignored, or not sampled by `decideIncoming`) makes no span at all: it runs
 * with tracing suppressed, and its calls carry a not-sampled traceparent (untraced.cjs), so the
 * services it calls skip them too and no trace starts half-way. A call gets a CLIENT span only
 * inside a recording span: one made outside any traced request (a job, a timer) goes as an
 * untraced one, the way an APM agent records an exit call only under an entry.
 */
const { untracedTraceparent, untracedIn, withHeaders, arrayHeaders } = require('./untraced.cjs');

/**
 * Patches `Server.prototype.emit`, `request` and `get` of each module (`node:http`, `node:https`,
 * or stand-ins with the same functions).
 *
 * @param modules objects with `request`, `get` and (optionally) `Server`
 * @param o.api `@opentelemetry/api`
 * @param o.tracer the tracer spans are started with
 * @param o.isSuppressed (context) => whether tracing is suppressed in it
 * @param o.suppressed the context an untraced request runs in (tracing suppressed)
 * @param o.runMessage (context, req, res, fn, thisArg, args) => fn.apply(thisArg, args) in the
 *   context, and the later events of `req` and `res` in it too (context.cjs, context-native.cjs)
 * @param o.bindMessage (req, context) => void: the later events of an outgoing request and its
 *   response run in `context`
 * @param o.ignored (url) => whether an incoming request gets no span (health checks)
 * @param o.decideIncoming optional (traceparent) => whether to trace an incoming request, decided
 *   before any span exists; without it every request gets a span and the sampler decides
 */
function instrumentHttp(modules, o) {
  const { api, tracer } = o;
  const { context, propagation, trace, SpanKind, SpanStatusCode, ROOT_CONTEXT } = api;

  for (const mod of modules) {
    const scheme = mod.globalAgent && mod.globalAgent.protocol === 'https:' ? 'https' : 'http';
    const proto = mod.Server && mod.Server.prototype;
    if (proto && typeof proto.emit === 'function') {
      const plainEmit = proto.emit;
      proto.emit = function emit(event, req, res) {
        if (event !== 'request') return plainEmit.apply(this, arguments);
        if (
          o.ignored(req.url) ||
          (o.decideIncoming !== undefined && !o.decideIncoming(req.headers.traceparent))
        ) {
          return o.runMessage(o.suppressed, req, res, plainEmit, this, arguments);
        }
        const parent = propagation.extract(ROOT_CONTEXT, req.headers);
        const span = tracer.startSpan(
          req.method,
          { kind: SpanKind.SERVER, attributes: serverAttributes(req, scheme) },
          parent,
        );
        if (span.isRecording()) endServerSpan(span, res, SpanStatusCode);
        return o.runMessage(trace.setSpan(parent, span), req, res, plainEmit, this, arguments);
      };
    }

    const plainRequest = mod.request;
    if (typeof plainRequest !== 'function') continue;
    const request = function request(...args) {
      const active = context.active();
      // Traced only inside a traced request: a call of untraced work (or of none, a job's) starts
      // no trace of its own, and tells the callee "not sampled".
      if (untracedIn(trace, o.isSuppressed, active)) return untracedRequest(plainRequest, this, args);
      const target = clientTarget(args, scheme);
      const span = tracer.startSpan(
        target.method,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'http.request.method': target.method,
            'server.address': target.host,
            'server.port': target.port,
            'url.full': target.url,
          },
        },
        active,
      );
      const carrier = {};
      propagation.inject(trace.setSpan(active, span), carrier);
      let req;
      try {
        req = plainRequest.apply(this, withHeaders(args, carrier));
      } catch (error) {
        if (span.isRecording()) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: String(error && error.message) });
          span.end();
        }
        throw error;
      }
      if (span.isRecording()) {
        endClientSpan(span, req, SpanStatusCode);
        o.bindMessage(req, active);
      }
      return req;
    };
    mod.request = request;
    // Node's own get() calls its module's request, not the export: it is rebuilt on the patched one.
    mod.get = function get(...args) {
      const req = request.apply(this, args);
      req.end();
      return req;
    };
  }
}

/**
 * A call made with tracing suppressed: Node's request, with a traceparent saying "not sampled".
 * The header is set on the request Node built, rather than on copies of the caller's options and
 * headers (no allocation per call). Node renders headers at construction only for an array
 * (handled first) or an Expect header, and then refuses setHeader (ERR_HTTP_HEADERS_SENT): such a
 * call goes without one, and its callee decides alone.
 */
function untracedRequest(plainRequest, self, args) {
  if (arrayHeaders(args))
    return plainRequest.apply(self, withHeaders(args, { traceparent: untracedTraceparent() }));
  const req = plainRequest.apply(self, args);
  try {
    req.setHeader('traceparent', untracedTraceparent());
  } catch {
    // Headers already rendered: see above.
  }
  return req;
}

function serverAttributes(req, scheme) {
  const url = req.url || '/';
  const q = url.indexOf('?');
  const socket = req.socket || {};
  const host = req.headers.host;
  const attributes = {
    'http.request.method': req.method,
    'url.path': q < 0 ? url : url.slice(0, q),
    'url.scheme': scheme,
    'network.protocol.version': req.httpVersion,
  };
  if (q >= 0) attributes['url.query'] = url.slice(q + 1);
  if (typeof host === 'string') attributes['server.address'] = hostName(host);
  if (socket.localPort !== undefined) attributes['server.port'] = socket.localPort;
  if (socket.remoteAddress !== undefined) attributes['network.peer.address'] = socket.remoteAddress;
  if (req.headers['user-agent'] !== undefined) attributes['user_agent.original'] = req.headers['user-agent'];
  return attributes;
}

/** `host[:port]` or `[v6][:port]` without the port. */
function hostName(host) {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(1, close);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** Ends the server span when the response is sent, or when the connection closes first. */
function endServerSpan(span, res, SpanStatusCode) {
  let done = false;
  const end = () => {
    if (done) return;
    done = true;
    const status = res.statusCode;
    span.setAttribute('http.response.status_code', status);
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    else if (!res.writableFinished)
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the response ended' });
    span.end();
  };
  res.once('finish', end);
  res.once('close', end);
}

/** Ends the client span when the response has been read, or with an error when none comes. */
function endClientSpan(span, req, SpanStatusCode) {
  let done = false;
  const end = (status, message) => {
    if (done) return;
    done = true;
    if (status !== undefined) span.setAttribute('http.response.status_code', status);
    if (status === undefined || status >= 400)
      span.setStatus({ code: SpanStatusCode.ERROR, ...(message !== undefined && { message }) });
    span.end();
  };
  req.prependOnceListener('response', (res) => {
    // A response nobody listens for is dumped by Node only when no 'response' listener exists:
    // this one must not keep it (and its socket) unread.
    if (req.listenerCount('response') === 0) res.resume();
    res.once('end', () => end(res.statusCode));
    res.once('error', (e) => end(res.statusCode >= 400 ? res.statusCode : undefined, e.message));
    res.once('close', () => {
      if (!res.complete) end(undefined, 'response closed before its end');
    });
  });
  req.once('error', (e) => end(undefined, e.message));
  req.once('close', () => {
    if (!req.res) end(undefined, 'request closed without a response');
  });
}

/** Method, host, port and URL of `http.request`'s arguments ((url[, options][, cb]) or (options[, cb])). */
function clientTarget(args, scheme) {
  const first = args[0];
  let url;
  let options = first;
  if (typeof first === 'string' || first instanceof URL) {
    url = typeof first === 'string' ? new URL(first) : first;
    options = args[1] && typeof args[1] === 'object' ? args[1] : {};
  }
  options = options || {};
  const protocol = options.protocol || (url && url.protocol) || `${scheme}:`;
  const host = String(options.hostname || options.host || (url && url.hostname) || 'localhost').replace(
    /^\[(.*)\]$/,
    '$1',
  );
  const port = Number(
    options.port || (url && url.port) || (options.defaultPort ?? (protocol === 'https:' ? 443 : 80)),
  );
  const path = options.path || (url ? `${url.pathname}${url.search}` : '/');
  const method = String(options.method || 'GET').toUpperCase();
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { method, host, port, url: `${protocol}//${shownHost}:${port}${path}` };
}

module.exports = { instrumentHttp };
