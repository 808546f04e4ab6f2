/* global require, URL, module */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * What an untraced request's calls carry (a not-sampled traceparent), and the header helpers of the
 * HTTP spans (http.cjs).
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
 * Whether a call made in `ctx` goes untraced: a call is traced only under a recording span (inside
 * a traced request), and never with tracing suppressed.
 *
 * @param trace `@opentelemetry/api`'s trace
 * @param isSuppressed (context) => whether tracing is suppressed in it
 */
function untracedIn(trace, isSuppressed, ctx) {
  return !tracedIn(trace, ctx) || isSuppressed(ctx);
}

/**
 * Whether `ctx` holds a span that is recording (of a trace being kept, not ended): the only
 * contexts the preload's context managers store (context.cjs, context-native.cjs).
 */
function tracedIn(trace, ctx) {
  const span = ctx === undefined ? undefined : trace.getSpan(ctx);
  return span !== undefined && span.isRecording();
}

/** Whether `http.request`'s arguments give the headers as a raw array (rendered at construction). */
function arrayHeaders(args) {
  const first = args[0];
  const options = typeof first === 'string' || first instanceof URL ? args[1] : first;
  return !!options && typeof options === 'object' && Array.isArray(options.headers);
}

/**
 * `http.request`'s arguments ((url[, options][, cb]) or (options[, cb])) with more headers, as
 * copies: the caller's options and headers are left as they were.
 */
function withHeaders(args, extra) {
  const add = (headers) => {
    if (Array.isArray(headers)) {
      const out = [...headers];
      for (const name of Object.keys(extra)) out.push(name, extra[name]);
      return out;
    }
    return { ...headers, ...extra };
  };
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

module.exports = { untracedTraceparent, untracedIn, tracedIn, arrayHeaders, withHeaders };
