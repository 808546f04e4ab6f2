import * as api from '@opentelemetry/api';
import {
  ROOT_CONTEXT,
  SamplingDecision,
  SpanKind,
  SpanStatusCode,
  trace,
  type Sampler,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed, suppressTracing, TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type ReadableSpan, type SpanLimits } from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';

const require = createRequire(import.meta.url);
const { createTracerProvider, hrTime } = require('./tracer.cjs') as {
  createTracerProvider(o: {
    api: typeof api;
    resource: unknown;
    processor: { onStart(span: unknown, ctx: unknown): void; onEnd(span: ReadableSpan): void };
    sampler?: Sampler;
    isSuppressed: (ctx: api.Context) => boolean;
    env?: Record<string, string>;
  }): api.TracerProvider;
  hrTime(ms: number): [number, number];
};
const { tracesJson } = require('./export.cjs') as { tracesJson(spans: ReadableSpan[]): string };

const resource = resourceFromAttributes({ 'service.name': 'test' });

/** Rampart's tracer and the SDK's, with the same sampler and limits, each collecting what ends. */
function pair(o: { sampler?: Sampler; env?: Record<string, string>; limits?: SpanLimits } = {}) {
  const ours: ReadableSpan[] = [];
  const theirs: ReadableSpan[] = [];
  const started: unknown[] = [];
  const rampart = createTracerProvider({
    api,
    resource,
    processor: { onStart: (s) => started.push(s), onEnd: (s) => ours.push(s) },
    ...(o.sampler && { sampler: o.sampler }),
    isSuppressed: isTracingSuppressed,
    env: o.env ?? {},
  }).getTracer('t', '1.0');
  const sdk = new BasicTracerProvider({
    resource,
    spanProcessors: [
      {
        onStart: () => undefined,
        onEnd: (s) => theirs.push(s),
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      },
    ],
    ...(o.sampler && { sampler: o.sampler }),
    ...(o.limits && { spanLimits: o.limits }),
  }).getTracer('t', '1.0');
  return { rampart, sdk, ours, theirs, started };
}

/** What an exported span says, without its ids and times (which differ by nature). */
function shape(span: ReadableSpan) {
  const json = JSON.parse(tracesJson([span])) as {
    resourceSpans: { scopeSpans: { scope: unknown; spans: Record<string, unknown>[] }[] }[];
  };
  const { scope, spans } = json.resourceSpans[0]!.scopeSpans[0]!;
  const s = { ...spans[0]! } as Record<string, unknown>;
  for (const k of ['traceId', 'spanId', 'parentSpanId', 'startTimeUnixNano', 'endTimeUnixNano']) delete s[k];
  for (const e of (s.events as { timeUnixNano?: string }[] | undefined) ?? []) delete e.timeUnixNano;
  for (const l of (s.links as { traceId?: string; spanId?: string }[] | undefined) ?? []) {
    delete l.traceId;
    delete l.spanId;
  }
  return {
    scope,
    span: s,
    flags: span.spanContext().traceFlags,
    hasParent: span.parentSpanContext !== undefined,
    recording: (span as unknown as api.Span).isRecording(),
    ended: span.ended,
  };
}

const remote = trace.setSpanContext(ROOT_CONTEXT, {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: 1,
  isRemote: true,
  traceState: new TraceState('ot=th:8'),
});

/** The same calls on a tracer; returns the spans it started. */
function script(tracer: Tracer, err: Error) {
  const link = {
    context: trace.getSpanContext(remote)!,
    attributes: { why: 'batched', bad: { x: 1 } as never },
  };
  const root = tracer.startSpan('GET', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'GET',
      n: 3,
      ok: true,
      list: ['a', 'b'],
      nums: [1, null as never, 2],
      mixed: ['a', 1] as never,
      obj: { a: 1 } as never,
      nothing: undefined,
      '': 'empty key',
    },
    links: [link],
  });
  root.setAttribute('later', 'x');
  root.setAttributes({ more: 1, also: false });
  root.addEvent('plain');
  root.addEvent('with attributes', { a: 'b', bad: { c: 1 } as never });
  root.addEvent('timed', [1_700_000_000, 5]);
  root.addEvent('timed with attributes', { k: 'v' }, new Date(1_700_000_000_000));
  root.setStatus({ code: SpanStatusCode.UNSET });
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'first' });
  root.setStatus({ code: SpanStatusCode.OK });
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'after OK: ignored' });
  root.updateName('GET /orders');
  const child = tracer.startSpan('SELECT', { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, root));
  child.recordException(err);
  child.recordException({ code: 'ECONNRESET', message: 'reset' });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  child.end();
  child.setAttribute('after end', 1);
  child.addEvent('after end');
  const remoteChild = tracer.startSpan('POST', { kind: SpanKind.SERVER }, remote);
  remoteChild.end();
  const forcedRoot = tracer.startSpan('root', { root: true }, remote);
  forcedRoot.end();
  root.end();
  root.end(); // a second end is ignored
  return [root, child, remoteChild, forcedRoot];
}

describe('preload tracer (tracer.cjs), side by side with the OpenTelemetry SDK', () => {
  const manager = new AsyncLocalStorageContextManager();
  before(() => api.context.setGlobalContextManager(manager.enable()));
  after(() => {
    api.context.disable();
  });

  it('GIVEN the same calls THEN the spans it exports say what the SDK says', () => {
    const { rampart, sdk, ours, theirs, started } = pair();
    const err = new Error('boom');
    script(rampart, err);
    script(sdk, err);
    assert.equal(ours.length, 4);
    assert.equal(started.length, 4, 'onStart once per recording span');
    assert.deepEqual(ours.map(shape), theirs.map(shape));
    const [child, remoteChild, forcedRoot, root] = ours; // in the order they ended
    assert.equal(child!.parentSpanContext!.spanId, root!.spanContext().spanId);
    assert.equal(child!.spanContext().traceId, root!.spanContext().traceId);
    assert.equal(remoteChild!.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(
      remoteChild!.spanContext().traceState!.serialize(),
      'ot=th:8',
      'the parent trace state goes on',
    );
    assert.notEqual(forcedRoot!.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.match(root!.spanContext().traceId, /^[0-9a-f]{32}$/);
    assert.match(root!.spanContext().spanId, /^[0-9a-f]{16}$/);
  });

  it('GIVEN span limits from the environment THEN it drops and cuts as the SDK does with the same limits', () => {
    const { rampart, sdk, ours, theirs } = pair({
      env: {
        OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '3',
        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '4',
        OTEL_SPAN_EVENT_COUNT_LIMIT: '2',
        OTEL_SPAN_LINK_COUNT_LIMIT: '1',
        OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: '1',
        OTEL_LINK_ATTRIBUTE_COUNT_LIMIT: '1',
      },
      limits: {
        attributeCountLimit: 3,
        attributeValueLengthLimit: 4,
        eventCountLimit: 2,
        linkCountLimit: 1,
        attributePerEventCountLimit: 1,
        attributePerLinkCountLimit: 1,
      },
    });
    for (const tracer of [rampart, sdk]) {
      const span = tracer.startSpan('limited', {
        attributes: { a: 'abcdefgh', b: ['long string', 'ok'], c: 1 },
        links: [
          { context: trace.getSpanContext(remote)!, attributes: { x: 1, y: 2 } },
          { context: trace.getSpanContext(remote)!, attributes: { z: 3 } },
        ],
      });
      span.setAttribute('d', 'dropped');
      span.setAttribute('a', 'replaced, not new');
      for (const name of ['e1', 'e2', 'e3']) span.addEvent(name, { p: 1, q: 2 });
      span.end();
    }
    assert.deepEqual(shape(ours[0]!), shape(theirs[0]!));
    assert.equal(ours[0]!.droppedAttributesCount, 1);
    assert.equal(ours[0]!.droppedEventsCount, 1);
    assert.equal(ours[0]!.droppedLinksCount, 1);
  });

  it('GIVEN a sampler THEN its decision, trace state and attributes apply as in the SDK', () => {
    const decisions = [
      { decision: SamplingDecision.NOT_RECORD },
      { decision: SamplingDecision.RECORD },
      {
        decision: SamplingDecision.RECORD_AND_SAMPLED,
        traceState: new TraceState('ot=th:c'),
        attributes: { 'sampler.rule': 'x' },
      },
    ];
    const calls: unknown[][] = [];
    let i = 0;
    const sampler: Sampler = {
      shouldSample: (...args) => {
        calls.push(args);
        return decisions[i++ % 3]!;
      },
    };
    const { rampart, sdk, ours, theirs } = pair({ sampler });
    const spans = [];
    for (const tracer of [rampart, sdk])
      for (let k = 0; k < 3; k++) {
        const span = tracer.startSpan(`s${k}`, { kind: SpanKind.CLIENT, attributes: { k } }, remote);
        spans.push(span);
        span.end();
      }
    assert.equal(spans[0]!.isRecording(), false, 'NOT_RECORD: a non-recording span');
    assert.equal(
      spans[0]!.spanContext().traceId,
      '0af7651916cd43dd8448eb211c80319c',
      'that still propagates',
    );
    assert.equal(spans[0]!.spanContext().traceFlags, 0);
    assert.deepEqual(ours.map(shape), theirs.map(shape));
    assert.equal(ours[0]!.spanContext().traceFlags, 0, 'RECORD: recorded, not sampled');
    assert.equal(ours[1]!.spanContext().traceState!.serialize(), 'ot=th:c');
    assert.equal(ours[1]!.attributes['sampler.rule'], 'x');
    // The sampler sees the same arguments (trace ids aside, random on both sides; the SDK then
    // merges the sampler's attributes into the object it was given).
    const args = (c: unknown[]) => [c[0], c[2], c[3], (c[4] as { k: number }).k, c[5]];
    assert.deepEqual(calls.slice(0, 3).map(args), calls.slice(3).map(args));
  });

  it('GIVEN tracing suppressed in the context THEN the span is a non-recording one with an invalid context', () => {
    const { rampart, ours, started } = pair();
    const span = rampart.startSpan('x', {}, suppressTracing(remote));
    assert.equal(span.isRecording(), false);
    assert.equal(trace.isSpanContextValid(span.spanContext()), false);
    span.end();
    assert.equal(ours.length + started.length, 0);
  });

  it('GIVEN startActiveSpan in its three forms THEN fn runs with the span active, under the given context', () => {
    const { rampart, ours } = pair();
    const seen: (string | undefined)[] = [];
    const record = (span: api.Span) => {
      seen.push(trace.getActiveSpan() === span ? 'active' : undefined);
      span.end();
      return 7;
    };
    assert.equal(rampart.startActiveSpan('a', record), 7);
    assert.equal(rampart.startActiveSpan('b', { kind: SpanKind.PRODUCER }, record), 7);
    assert.equal(rampart.startActiveSpan('c', {}, remote, record), 7);
    assert.deepEqual(seen, ['active', 'active', 'active']);
    assert.equal(ours[1]!.kind, SpanKind.PRODUCER);
    assert.equal(ours[2]!.parentSpanContext!.spanId, 'b7ad6b7169203331');
  });

  it('GIVEN times THEN start and end are epoch HrTime, the duration is measured, and given times are kept', async () => {
    const { rampart, ours } = pair();
    const before = Date.now();
    const span = rampart.startSpan('timed');
    await new Promise((r) => setTimeout(r, 20));
    span.end();
    const s = ours[0]!;
    const startMs = s.startTime[0] * 1e3 + s.startTime[1] / 1e6;
    assert.ok(Math.abs(startMs - before) < 50, `start ${startMs} near ${before}`);
    const durationMs = s.duration[0] * 1e3 + s.duration[1] / 1e6;
    assert.ok(durationMs >= 19 && durationMs < 500, `duration ${durationMs}`);
    const given = rampart.startSpan('given', { startTime: [1_700_000_000, 1] });
    given.end(new Date(1_700_000_001_000));
    assert.deepEqual(ours[1]!.startTime, [1_700_000_000, 1]);
    assert.deepEqual(ours[1]!.endTime, [1_700_000_001, 0]);
    assert.deepEqual(ours[1]!.duration, [0, 999_999_999]);
    const backwards = rampart.startSpan('backwards', { startTime: 1_700_000_001_000 });
    backwards.end(1_700_000_000_000);
    assert.deepEqual(ours[2]!.duration, [0, 0], 'an end before the start is a zero duration');
    assert.deepEqual(hrTime(1_500.25), [1, 500_250_000]);
    assert.deepEqual(hrTime(999.9999999999), [1, 0], 'rounding carries into the seconds');
  });

  it('GIVEN getTracer THEN one tracer per name, version and schema, carrying its scope', () => {
    const provider = createTracerProvider({
      api,
      resource,
      processor: { onStart: () => undefined, onEnd: () => undefined },
      isSuppressed: isTracingSuppressed,
    });
    assert.equal(provider.getTracer('a', '1'), provider.getTracer('a', '1'));
    assert.notEqual(provider.getTracer('a', '1'), provider.getTracer('a', '2'));
    const scoped = provider.getTracer('a', '1', {
      schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
    }) as Tracer & {
      instrumentationScope: unknown;
    };
    assert.deepEqual(scoped.instrumentationScope, {
      name: 'a',
      version: '1',
      schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
    });
  });
});
