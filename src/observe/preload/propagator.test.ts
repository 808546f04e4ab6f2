import * as api from '@opentelemetry/api';
import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api';
import * as core from '@opentelemetry/core';
import {
  CompositePropagator,
  TraceState,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

const require = createRequire(import.meta.url);
const { createPropagator } = require('./propagator.cjs') as {
  createPropagator(a: typeof api, c: typeof core): api.TextMapPropagator;
};

const ours = createPropagator(api, core);
const sdk = new CompositePropagator({
  propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
});

const T = '0af7651916cd43dd8448eb211c80319c';
const S = 'b7ad6b7169203331';

/** What a context holds after extract: its remote span context and baggage, as plain values. */
function held(ctx: api.Context) {
  const sc = trace.getSpanContext(ctx);
  const bag = propagation.getBaggage(ctx);
  return {
    span: sc && { ...sc, traceState: sc.traceState?.serialize() },
    baggage: bag?.getAllEntries().map(([k, e]) => [k, e.value, e.metadata?.toString()]),
  };
}

describe('preload propagator (propagator.cjs), side by side with the SDK default', () => {
  const headers: Record<string, string | string[]>[] = [
    { traceparent: `00-${T}-${S}-01` },
    { traceparent: `00-${T}-${S}-00` },
    { traceparent: `00-${T}-${S}-09` },
    { traceparent: `00-${T}-${S}-01`, tracestate: 'ot=th:8,vendor=x' },
    { traceparent: `00-${T}-${S}-01`, tracestate: ['ot=th:8', 'vendor=x'] },
    { traceparent: [`00-${T}-${S}-01`, `00-${T}-${S}-00`] },
    { traceparent: ` 00-${T}-${S}-01` },
    { traceparent: `00-${T}-${S}-01 ` },
    { traceparent: `  00-${T}-${S}-01` },
    { traceparent: `00-${T}-${S}-01-extra` },
    { traceparent: `01-${T}-${S}-01-extra` },
    { traceparent: `01-${T}-${S}-01` },
    { traceparent: `01-${T}-${S}-01x` },
    { traceparent: `ff-${T}-${S}-01` },
    { traceparent: `00-${T.toUpperCase()}-${S}-01` },
    { traceparent: `00-${'0'.repeat(32)}-${S}-01` },
    { traceparent: `00-${T}-${'0'.repeat(16)}-01` },
    { traceparent: `00-${T}-${S}-0g` },
    { traceparent: `00-${T}-${S}-1` },
    { traceparent: `00_${T}-${S}-01` },
    { traceparent: '' },
    { traceparent: 'garbage' },
    {},
    { traceparent: `00-${T}-${S}-01`, baggage: 'user=alice,tier=gold;p=1' },
    { baggage: 'only=baggage' },
    { traceparent: 'bad', tracestate: 'ot=th:8' },
  ];
  for (const carrier of headers) {
    it(`GIVEN ${JSON.stringify(carrier)} THEN it extracts what the SDK extracts`, () => {
      assert.deepEqual(
        held(ours.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter)),
        held(sdk.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter)),
      );
    });
  }

  it('GIVEN contexts to inject THEN it writes the headers the SDK writes', () => {
    const span = (traceFlags: number, traceState?: TraceState) =>
      trace.setSpanContext(ROOT_CONTEXT, {
        traceId: T,
        spanId: S,
        traceFlags,
        ...(traceState && { traceState }),
      });
    const contexts = [
      span(1),
      span(0),
      span(1, new TraceState('ot=th:8')),
      propagation.setBaggage(span(1), propagation.createBaggage({ user: { value: 'alice' } })),
      propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ only: { value: 'baggage' } })),
      core.suppressTracing(span(1)),
      trace.setSpanContext(ROOT_CONTEXT, { traceId: '0'.repeat(32), spanId: S, traceFlags: 1 }),
      ROOT_CONTEXT,
    ];
    for (const ctx of contexts) {
      const a: Record<string, string> = {};
      const b: Record<string, string> = {};
      ours.inject(ctx, a, defaultTextMapSetter);
      sdk.inject(ctx, b, defaultTextMapSetter);
      assert.deepEqual(a, b);
    }
    assert.deepEqual(ours.fields(), sdk.fields());
  });

  it('GIVEN flags of two hex digits THEN traceparent keeps two (the SDK would write three)', () => {
    const carrier: Record<string, string> = {};
    const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: T, spanId: S, traceFlags: 0x81 });
    ours.inject(ctx, carrier, defaultTextMapSetter);
    assert.equal(carrier.traceparent, `00-${T}-${S}-81`);
  });
});
