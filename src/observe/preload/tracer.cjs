/* global module, performance */
'use strict';
/**
 * The tracing preload's tracer provider: the OpenTelemetry SDK's Tracer and Span, rewritten small.
 *
 * Why: a service records a few traces a second, so a span's code runs a few times a second, and
 * on a shared machine it runs with cold caches every time. Measured in one process on this VM
 * (bench/README.md, session 15): the SDK's startSpan took 10 µs when called back to back, and
 * 110-160 µs when the process had done nothing else for 5 ms (other tenants' work had evicted its
 * code and data); a whole traced call (extract, start, enter, end) 300-600 µs. That is per traced
 * hop, on the request's path. What a cold run costs grows with how much code and data it touches,
 * and the SDK's path is long: attribute sanitizing twice, tracer metrics, time conversions through
 * several helpers, a processor chain, diagnostics. This one does the same work in a few short
 * functions.
 *
 * Same behaviour as the SDK (sdk-trace 2.x) where a service or an instrumentation can see it:
 * - `startSpan(name, options, context)`: a root when `options.root` or no valid parent; a
 *   non-recording span with an invalid context when tracing is suppressed in `context`; the
 *   sampler decides (`shouldSample(context, traceId, name, kind, attributes, links)`, its
 *   attributes and trace state applied); NOT_RECORD gives a non-recording span that still
 *   propagates, RECORD a recording span that is not exported (not sampled).
 * - `startActiveSpan(name[, options[, context]], fn)`.
 * - Spans: setAttribute(s), addEvent, addLink(s), setStatus (OK is final; UNSET ignored),
 *   updateName, recordException (an `exception` event), end (once; times from the
 *   performance clock anchored at the span's start, or as given: HrTime, epoch or performance
 *   milliseconds, Date), isRecording. Nothing changes after end.
 * - Limits: OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT (or OTEL_ATTRIBUTE_COUNT_LIMIT, 128),
 *   OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT (or OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, none),
 *   OTEL_SPAN_EVENT_COUNT_LIMIT (128), OTEL_SPAN_LINK_COUNT_LIMIT (128),
 *   OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT and OTEL_LINK_ATTRIBUTE_COUNT_LIMIT (128). Values that are
 *   not attribute values (objects, mixed arrays) are dropped, as the SDK drops them.
 * - A finished span is a ReadableSpan: name, kind, spanContext(), parentSpanContext, startTime,
 *   endTime, duration, status, attributes, links, events, resource, instrumentationScope,
 *   dropped counts, ended.
 *
 * @param o.api `@opentelemetry/api`
 * @param o.resource `{ attributes }` of every span
 * @param o.sampler optional; without it, the SDK's default (parent-based, always on)
 * @param o.processor `{ onStart(span, context), onEnd(span) }`
 * @param o.isSuppressed (context) => whether tracing is suppressed in it
 * @param o.env the environment the limits are read from
 */
function createTracerProvider(o) {
  const { api, resource, processor, isSuppressed } = o;
  const { trace, SamplingDecision, TraceFlags, SpanKind, SpanStatusCode } = api;
  const limits = spanLimits(o.env || {});
  const sampler = o.sampler;
  const tracers = new Map();

  // The performance clock's zero in epoch milliseconds: a span starts at timeOrigin + now(), and
  // its end adds the performance clock's time since (monotonic, as the SDK measures durations).
  const timeOrigin = performance.timeOrigin;

  class Span {
    constructor(scope, spanContext, name, kind, parentSpanContext, attributes, links, startTime) {
      this._spanContext = spanContext;
      this.name = name;
      this.kind = kind;
      this.parentSpanContext = parentSpanContext;
      this.attributes = {};
      this.links = [];
      this.events = [];
      this.status = { code: SpanStatusCode.UNSET };
      this.resource = resource;
      this.instrumentationScope = scope;
      this.droppedAttributesCount = 0;
      this.droppedEventsCount = 0;
      this.droppedLinksCount = 0;
      this.ended = false;
      this.endTime = [0, 0];
      this.duration = [-1, -1];
      this._attributeCount = 0;
      this._startPerf = performance.now();
      this._startGiven = startTime !== undefined && startTime !== null;
      this.startTime = this._startGiven
        ? toHrTime(startTime, timeOrigin)
        : hrTime(timeOrigin + this._startPerf);
      if (attributes !== undefined) this.setAttributes(attributes);
      if (links !== undefined) for (const link of links) this.addLink(link);
    }

    spanContext() {
      return this._spanContext;
    }

    isRecording() {
      return !this.ended;
    }

    setAttribute(key, value) {
      if (this.ended || value == null || typeof key !== 'string' || key.length === 0) return this;
      const v = attributeValue(value, limits.attributeValueLength);
      if (v === undefined) return this;
      if (!Object.prototype.hasOwnProperty.call(this.attributes, key)) {
        if (this._attributeCount >= limits.attributeCount) {
          this.droppedAttributesCount++;
          return this;
        }
        this._attributeCount++;
      }
      this.attributes[key] = v;
      return this;
    }

    setAttributes(attributes) {
      if (attributes) for (const key in attributes) this.setAttribute(key, attributes[key]);
      return this;
    }

    addEvent(name, attributesOrTime, time) {
      if (this.ended) return this;
      if (isTimeInput(attributesOrTime)) {
        if (!isTimeInput(time)) time = attributesOrTime;
        attributesOrTime = undefined;
      }
      if (limits.eventCount === 0) {
        this.droppedEventsCount++;
        return this;
      }
      if (this.events.length >= limits.eventCount) {
        this.events.shift();
        this.droppedEventsCount++;
      }
      const { attributes, dropped } = limitedAttributes(
        attributesOrTime,
        limits.eventAttributeCount,
        limits.attributeValueLength,
      );
      this.events.push({ name, attributes, time: this._time(time), droppedAttributesCount: dropped });
      return this;
    }

    addLink(link) {
      if (this.ended || !link || !link.context) return this;
      if (limits.linkCount === 0) {
        this.droppedLinksCount++;
        return this;
      }
      if (this.links.length >= limits.linkCount) {
        this.links.shift();
        this.droppedLinksCount++;
      }
      const { attributes, dropped, count } = limitedAttributes(
        link.attributes,
        limits.linkAttributeCount,
        limits.attributeValueLength,
      );
      const out = { context: link.context };
      if (count > 0) out.attributes = attributes;
      if (dropped > 0) out.droppedAttributesCount = dropped;
      this.links.push(out);
      return this;
    }

    addLinks(links) {
      for (const link of links) this.addLink(link);
      return this;
    }

    setStatus(status) {
      if (this.ended || !status || status.code === SpanStatusCode.UNSET) return this;
      if (this.status.code === SpanStatusCode.OK) return this;
      this.status =
        status.code === SpanStatusCode.ERROR && typeof status.message === 'string'
          ? { code: status.code, message: status.message }
          : { code: status.code };
      return this;
    }

    updateName(name) {
      if (!this.ended) this.name = name;
      return this;
    }

    recordException(exception, time) {
      const attributes = {};
      if (typeof exception === 'string') attributes['exception.message'] = exception;
      else if (exception) {
        if (exception.code) attributes['exception.type'] = String(exception.code);
        else if (exception.name) attributes['exception.type'] = exception.name;
        if (exception.message) attributes['exception.message'] = exception.message;
        if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
      }
      if (attributes['exception.type'] || attributes['exception.message'])
        this.addEvent('exception', attributes, time);
    }

    end(endTime) {
      if (this.ended) return;
      let end = this._time(endTime);
      let duration = hrDiff(this.startTime, end);
      if (duration[0] < 0) {
        end = this.startTime.slice();
        duration = [0, 0];
      }
      this.endTime = end;
      this.duration = duration;
      this.ended = true;
      processor.onEnd(this);
    }

    /**
     * A time input as HrTime; none is now: the span's start plus the performance clock's time since
     * (or the wall clock, when the start was given), as the SDK measures it.
     */
    _time(input) {
      if (input !== undefined && input !== null) return toHrTime(input, timeOrigin);
      if (this._startGiven) return hrTime(Date.now());
      return hrAdd(this.startTime, hrTime(performance.now() - this._startPerf));
    }
  }

  class Tracer {
    constructor(scope) {
      this.instrumentationScope = scope;
    }

    startSpan(name, options, context) {
      const opts = options || {};
      const ctx = context || api.context.active();
      if (isSuppressed(ctx)) return trace.wrapSpanContext(api.INVALID_SPAN_CONTEXT);
      const parent = opts.root ? undefined : trace.getSpanContext(ctx);
      const validParent = parent !== undefined && trace.isSpanContextValid(parent) ? parent : undefined;
      // A root's id may have been chosen with its sampling decision (sampling.cjs, decideIncoming).
      const traceId = validParent
        ? validParent.traceId
        : (sampler !== undefined && sampler.rootTraceId !== undefined && sampler.rootTraceId()) ||
          randomHex(32);
      const spanId = randomHex(16);
      const kind = opts.kind === undefined ? SpanKind.INTERNAL : opts.kind;
      const samplingContext = opts.root ? trace.deleteSpan(ctx) : ctx;
      let decision;
      let traceState = validParent && validParent.traceState;
      let attributes = opts.attributes;
      if (sampler === undefined) {
        decision =
          validParent === undefined || validParent.traceFlags & TraceFlags.SAMPLED
            ? SamplingDecision.RECORD_AND_SAMPLED
            : SamplingDecision.NOT_RECORD;
      } else {
        const result = sampler.shouldSample(
          samplingContext,
          traceId,
          name,
          kind,
          attributes || {},
          opts.links || [],
        );
        decision = result.decision;
        if (result.traceState !== undefined) traceState = result.traceState;
        if (result.attributes) attributes = { ...attributes, ...result.attributes };
      }
      const spanContext = {
        traceId,
        spanId,
        traceFlags: decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
        traceState,
      };
      if (decision === SamplingDecision.NOT_RECORD) return trace.wrapSpanContext(spanContext);
      const span = new Span(
        this.instrumentationScope,
        spanContext,
        name,
        kind,
        validParent,
        attributes,
        opts.links,
        opts.startTime,
      );
      processor.onStart(span, samplingContext);
      return span;
    }

    startActiveSpan(name, a, b, c) {
      let options;
      let ctx;
      let fn;
      if (typeof a === 'function') fn = a;
      else if (typeof b === 'function') {
        options = a;
        fn = b;
      } else {
        options = a;
        ctx = b;
        fn = c;
      }
      if (typeof fn !== 'function') return undefined;
      const parent = ctx || api.context.active();
      const span = this.startSpan(name, options, parent);
      return api.context.with(trace.setSpan(parent, span), fn, undefined, span);
    }
  }

  return {
    getTracer(name, version, options) {
      const schemaUrl = options && options.schemaUrl;
      const key = `${name}@${version || ''}:${schemaUrl || ''}`;
      let tracer = tracers.get(key);
      if (!tracer) {
        tracer = new Tracer({
          name,
          ...(version && { version }),
          ...(schemaUrl && { schemaUrl }),
        });
        tracers.set(key, tracer);
      }
      return tracer;
    },
  };
}

/** Span limits from the environment, with the SDK's defaults. */
function spanLimits(env) {
  const num = (names, fallback) => {
    for (const name of names) {
      const v = Number(env[name]);
      if (env[name] !== undefined && env[name] !== '' && Number.isInteger(v) && v >= 0) return v;
    }
    return fallback;
  };
  const attributeCount = num(['OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT'], 128);
  return {
    attributeCount,
    attributeValueLength: num(
      ['OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'],
      Infinity,
    ),
    eventCount: num(['OTEL_SPAN_EVENT_COUNT_LIMIT'], 128),
    linkCount: num(['OTEL_SPAN_LINK_COUNT_LIMIT'], 128),
    eventAttributeCount: num(['OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT'], 128),
    linkAttributeCount: num(['OTEL_LINK_ATTRIBUTE_COUNT_LIMIT'], 128),
  };
}

/**
 * An attribute value as stored (strings cut to the length limit), or undefined when it is not one:
 * a string, number or boolean, or an array of one of those types (nulls allowed). Arrays are copied.
 */
function attributeValue(value, lengthLimit) {
  switch (typeof value) {
    case 'string':
      return value.length > lengthLimit ? value.slice(0, lengthLimit) : value;
    case 'number':
    case 'boolean':
      return value;
    default: {
      if (!Array.isArray(value)) return undefined;
      let type;
      for (const v of value) {
        if (v == null) continue;
        const t = typeof v;
        if (t !== 'string' && t !== 'number' && t !== 'boolean') return undefined;
        if (type === undefined) type = t;
        else if (t !== type) return undefined;
      }
      return type === 'string'
        ? value.map((v) => (typeof v === 'string' && v.length > lengthLimit ? v.slice(0, lengthLimit) : v))
        : value.slice();
    }
  }
}

/** An event's or a link's attributes: valid values only, at most `countLimit`. */
function limitedAttributes(attributes, countLimit, lengthLimit) {
  const out = {};
  let count = 0;
  let dropped = 0;
  if (attributes)
    for (const key in attributes) {
      if (key.length === 0 || attributes[key] == null) continue;
      const v = attributeValue(attributes[key], lengthLimit);
      if (v === undefined) continue;
      if (count >= countLimit) dropped++;
      else {
        out[key] = v;
        count++;
      }
    }
  return { attributes: out, dropped, count };
}

/** Whether `v` is a TimeInput (HrTime, milliseconds, Date). */
function isTimeInput(v) {
  return (
    typeof v === 'number' ||
    v instanceof Date ||
    (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number')
  );
}

/**
 * A TimeInput as epoch milliseconds: HrTime, Date, epoch milliseconds, or milliseconds of the
 * performance clock (anything below its origin, as the SDK reads them).
 */
function toMillis(input, timeOrigin) {
  if (typeof input === 'number') return input < timeOrigin ? timeOrigin + input : input;
  if (input instanceof Date) return input.getTime();
  if (Array.isArray(input)) return input[0] * 1e3 + input[1] / 1e6;
  return timeOrigin + performance.now();
}

/** A TimeInput as HrTime (one given as HrTime is kept as it is). */
function toHrTime(input, timeOrigin) {
  return Array.isArray(input) && input.length === 2 ? input : hrTime(toMillis(input, timeOrigin));
}

function hrAdd(a, b) {
  const ns = a[1] + b[1];
  return ns >= 1e9 ? [a[0] + b[0] + 1, ns - 1e9] : [a[0] + b[0], ns];
}

/** b - a; negative seconds when b is earlier. */
function hrDiff(a, b) {
  const ns = b[1] - a[1];
  return ns < 0 ? [b[0] - a[0] - 1, ns + 1e9] : [b[0] - a[0], ns];
}

/** Epoch (or duration) milliseconds as HrTime [seconds, nanoseconds]. */
function hrTime(ms) {
  let seconds = Math.trunc(ms / 1e3);
  let nanos = Math.round((ms - seconds * 1e3) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

const HEX = '0123456789abcdef';
/** `length` random lowercase hex digits, not all zero (an invalid id). */
function randomHex(length) {
  for (;;) {
    let out = '';
    let zero = true;
    for (let i = 0; i < length; i++) {
      const d = (Math.random() * 16) | 0;
      if (d !== 0) zero = false;
      out += HEX[d];
    }
    if (!zero) return out;
  }
}

module.exports = { createTracerProvider, hrTime, randomHex };
