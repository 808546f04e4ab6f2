/* global require, URL, module */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * What an untraced request costs with the preload loaded: as little as possible. Its calls carry a
 * not-sampled traceparent, and it goes around the HTTP instrumentation's wrappers (register.cjs).
 */

// Ids of untraced calls: unique (a random half per process, then a counter), not random. Nothing
// samples by them (the flag says "not sampled"), and drawing 48 random hex digits for every call
// showed in the gateway's profile.
const untracedPrefix = require('node:crypto').randomBytes(8).toString('hex');
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
              // only for an array (handled above) or an Expect header, and then refuses setHeader
              // (ERR_HTTP_HEADERS_SENT): such a call goes without one, and its callee decides alone.
              const req = plain.apply(this, args);
              try {
                req.setHeader('traceparent', untracedTraceparent());
              } catch {
                // Headers already rendered: see above.
              }
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

module.exports = { untracedTraceparent, bypassUntraced };
