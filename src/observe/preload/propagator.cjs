/* global module */
'use strict';
/**
 * The tracing preload's propagator: W3C Trace Context (`traceparent`, `tracestate`) and W3C Baggage,
 * what the SDK registers by default, with the trace context read and written here in a few lines
 * (tracer.cjs says why: it runs once per traced hop, with cold caches). Baggage, rarely present, is
 * left to `@opentelemetry/core`'s propagator, which is asked only when there is some.
 *
 * `traceparent` (W3C Trace Context level 1, section 3.2): `version-traceid-parentid-flags` in
 * lowercase hex; version `ff` is invalid; version 00 is exactly 55 characters; a later version may
 * append `-...`, which is ignored; an all-zero trace or parent id is invalid. An invalid header is
 * ignored (the request starts a new trace), and so is its `tracestate`.
 *
 * @param api `@opentelemetry/api`
 * @param core `@opentelemetry/core` (TraceState, W3CBaggagePropagator, isTracingSuppressed)
 */
function createPropagator(api, core) {
  const { trace, propagation } = api;
  const baggage = new core.W3CBaggagePropagator();
  const FIELDS = ['traceparent', 'tracestate', ...baggage.fields()];

  return {
    inject(context, carrier, setter) {
      const sc = trace.getSpanContext(context);
      if (sc !== undefined && !core.isTracingSuppressed(context) && trace.isSpanContextValid(sc)) {
        const flags = (sc.traceFlags || 0) & 0xff;
        setter.set(
          carrier,
          'traceparent',
          `00-${sc.traceId}-${sc.spanId}-${flags < 16 ? '0' : ''}${flags.toString(16)}`,
        );
        if (sc.traceState) setter.set(carrier, 'tracestate', sc.traceState.serialize());
      }
      if (propagation.getBaggage(context) !== undefined) baggage.inject(context, carrier, setter);
    },

    extract(context, carrier, getter) {
      let ctx = context;
      const parent = parseTraceparent(first(getter.get(carrier, 'traceparent')));
      if (parent !== undefined) {
        const state = getter.get(carrier, 'tracestate');
        if (state !== undefined && state !== '') {
          const value = Array.isArray(state) ? state.join(',') : state;
          if (typeof value === 'string') parent.traceState = new core.TraceState(value);
        }
        ctx = trace.setSpanContext(ctx, parent);
      }
      if (getter.get(carrier, 'baggage') !== undefined) ctx = baggage.extract(ctx, carrier, getter);
      return ctx;
    },

    fields() {
      return FIELDS;
    },
  };
}

const WHITESPACE = /\s/;

function first(value) {
  return Array.isArray(value) ? value[0] : value;
}

/** A remote SpanContext from a `traceparent` value, or undefined when it is not a valid one. */
function parseTraceparent(header) {
  if (typeof header !== 'string') return undefined;
  // As the SDK: one whitespace character is tolerated at either end.
  let value = header;
  if (value.length > 55 && WHITESPACE.test(value[0])) value = value.slice(1);
  if (value.length > 55 && WHITESPACE.test(value[value.length - 1])) value = value.slice(0, -1);
  if (value.length < 55) return undefined;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  const version = value.slice(0, 2);
  if (!isHex(version) || version === 'ff') return undefined;
  if (value.length > 55 && (version === '00' || value[55] !== '-')) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!isHex(traceId) || !isHex(spanId) || !isHex(flags)) return undefined;
  if (isZero(traceId) || isZero(spanId)) return undefined;
  return { traceId, spanId, isRemote: true, traceFlags: Number.parseInt(flags, 16) };
}

/** Lowercase hex digits only. */
function isHex(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function isZero(s) {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

module.exports = { createPropagator, parseTraceparent };
