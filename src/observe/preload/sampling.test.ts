import * as api from '@opentelemetry/api';
import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import * as sdk from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

const require = createRequire(import.meta.url);
interface AdaptiveSampler extends sdk.Sampler {
  decideIncoming(traceparent: unknown): boolean;
  rootTraceId(): string | undefined;
}
const { samplerFromEnv } = require('./sampling.cjs') as {
  samplerFromEnv(s: typeof sdk, env: Record<string, string>, r: NodeRequire): AdaptiveSampler;
};
const { createTracerProvider } = require('./tracer.cjs') as {
  createTracerProvider(o: {
    api: typeof api;
    resource: unknown;
    processor: { onStart(): void; onEnd(): void };
    sampler: sdk.Sampler;
    isSuppressed: () => boolean;
  }): api.TracerProvider;
};

/** The rejection threshold of an `ot=th:<hex>` trace state, as a 56-bit number. */
function thresholdOf(traceState: string): bigint {
  const th = /ot=th:([0-9a-f]{1,14})/.exec(traceState)?.[1];
  assert.ok(th, `no ot=th in "${traceState}"`);
  return BigInt(`0x${th.padEnd(14, '0')}`);
}
const randomnessOf = (traceId: string): bigint => BigInt(`0x${traceId.slice(18)}`);

describe('adaptive sampler (sampling.cjs)', () => {
  it('GIVEN more new roots than its budget WHEN incoming requests are decided THEN each kept root’s own trace id is at or above the threshold it carries', () => {
    const sampler = samplerFromEnv(sdk, { RAMPART_TRACES_PER_SECOND: '10' }, require);
    const tracer = createTracerProvider({
      api,
      resource: { attributes: {} },
      processor: { onStart() {}, onEnd() {} },
      sampler,
      isSuppressed: () => false,
    }).getTracer('test');
    let kept = 0;
    let underOne = 0;
    for (let i = 0; i < 2000; i++) {
      if (!sampler.decideIncoming(undefined)) continue;
      kept++;
      // The request's server span starts right after the decision, as http.cjs starts it.
      const span = tracer.startSpan('GET', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
      const ctx = span.spanContext();
      assert.equal(ctx.traceFlags & 1, 1, 'a kept root records');
      const state = ctx.traceState?.serialize();
      if (state === undefined) continue; // p = 1: no threshold
      underOne++;
      assert.ok(
        randomnessOf(ctx.traceId) >= thresholdOf(state),
        `trace ${ctx.traceId} kept under its own threshold (${state})`,
      );
      span.end();
    }
    assert.ok(underOne > 10, `${underOne} roots kept with p < 1 (of ${kept} kept)`);
    assert.ok(kept < 200, `${kept} of 2000 roots kept in well under a second, budget 10 a second`);
  });

  it('GIVEN a root the sampler rejected WHEN the next span starts THEN it gets an id of its own, not a stale one', () => {
    const sampler = samplerFromEnv(sdk, { RAMPART_TRACES_PER_SECOND: '1' }, require);
    const ids = new Set<string>();
    for (let i = 0; i < 500; i++) {
      if (sampler.decideIncoming(undefined)) {
        const id = sampler.rootTraceId();
        if (id !== undefined) {
          assert.ok(!ids.has(id), `trace id ${id} handed out twice`);
          ids.add(id);
        }
        // The root span takes the decision (and its id) with it.
        sampler.shouldSample(
          ROOT_CONTEXT,
          id ?? '0af7651916cd43dd8448eb211c80319c',
          'GET',
          SpanKind.SERVER,
          {},
          [],
        );
        assert.equal(sampler.rootTraceId(), undefined, 'the decision is used once');
      }
    }
  });

  it('GIVEN an incoming traceparent WHEN decided THEN its sampled flag decides and no root id is chosen', () => {
    const sampler = samplerFromEnv(sdk, { RAMPART_TRACES_PER_SECOND: '1' }, require);
    assert.equal(sampler.decideIncoming('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), true);
    assert.equal(sampler.decideIncoming('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00'), false);
    assert.equal(sampler.rootTraceId(), undefined);
  });
});
