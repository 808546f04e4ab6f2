import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isRampartError } from '../platform/errors.ts';
import { TraceStore } from './traces.ts';
import type { SpanRecord } from './types.ts';
import { renderWaterfall } from './waterfall.ts';

const T = 1_700_000_000_000_000_000n; // ns
const TRACE_A = 'a'.repeat(32);
const TRACE_B = 'b'.repeat(32);
const resource = { 'service.name': 'x' };

function span(over: Partial<SpanRecord> & { start: bigint; id: string }): SpanRecord {
  const { start, id, ...rest } = over;
  return {
    traceId: TRACE_A,
    spanId: id.padStart(16, '0'),
    parentSpanId: null,
    service: 'gateway',
    operation: 'op',
    kind: 'internal',
    startTimeUnixNano: start.toString(),
    durationNs: 1_000_000,
    status: 'unset',
    statusMessage: '',
    attributes: {},
    events: 0,
    resource,
    environment: 'prod',
    replica: '0',
    ...rest,
  };
}

// One assessment: gateway → identity (HTTP) and gateway → scoring → database.
const ASSESSMENT: SpanRecord[] = [
  span({ id: '1', start: T, durationNs: 120_000_000, kind: 'server', operation: 'POST /assess' }),
  span({
    id: '2',
    parentSpanId: '0000000000000001',
    start: T + 5_000_000n,
    durationNs: 30_000_000,
    kind: 'client',
    operation: 'GET',
  }),
  span({
    id: '3',
    parentSpanId: '0000000000000002',
    start: T + 7_000_000n,
    durationNs: 25_000_000,
    kind: 'server',
    service: 'identity',
    operation: 'GET /verify',
  }),
  span({
    id: '4',
    parentSpanId: '0000000000000001',
    start: T + 40_000_000n,
    durationNs: 70_000_000,
    kind: 'client',
    operation: 'POST',
  }),
  span({
    id: '5',
    parentSpanId: '0000000000000004',
    start: T + 42_000_000n,
    durationNs: 65_000_000,
    kind: 'server',
    service: 'scoring',
    operation: 'POST /score',
  }),
  span({
    id: '6',
    parentSpanId: '0000000000000005',
    start: T + 50_000_000n,
    durationNs: 50_000_000,
    kind: 'client',
    service: 'scoring',
    operation: 'SELECT',
    status: 'error',
    statusMessage: 'deadlock',
    attributes: { 'db.system': 'postgresql', 'server.address': 'maindb' },
  }),
];

describe('trace store', () => {
  it('GIVEN spans WHEN stored twice (exporter retry) THEN a trace reads back whole, each span once', () => {
    const store = new TraceStore({ path: ':memory:' });
    assert.equal(store.insert(ASSESSMENT), 6);
    assert.equal(store.insert(ASSESSMENT.slice(0, 2)), 2);
    assert.equal(store.listTraces()[0]?.spanCount, 6);
    const trace = store.getTrace(TRACE_A.toUpperCase());
    assert.deepEqual(
      trace.map((s) => s.spanId.slice(-1)),
      ['1', '2', '3', '4', '5', '6'],
    );
    assert.deepEqual(trace[5], ASSESSMENT[5]);
    assert.deepEqual(store.getTrace(TRACE_B), []);
    assert.throws(
      () => store.getTrace('nope'),
      (e: unknown) => isRampartError(e) && e.code === 'RAMPART_E_BAD_REQUEST',
    );
    store.close();
  });

  it('GIVEN injected secrets WHEN spans carry them THEN only *** is stored', () => {
    const store = new TraceStore({ path: ':memory:' });
    store.redact(['pa55word']);
    store.insert([
      span({
        id: '1',
        start: T,
        statusMessage: 'auth pa55word failed',
        attributes: { 'db.connection_string': 'postgres://u:pa55word@db/x' },
      }),
    ]);
    const [s] = store.getTrace(TRACE_A);
    assert.equal(s?.statusMessage, 'auth *** failed');
    assert.deepEqual(s?.attributes, { 'db.connection_string': 'postgres://u:***@db/x' });
    store.close();
  });

  it('GIVEN several traces WHEN listed with service, duration and error filters THEN the matching ones, newest first', () => {
    const store = new TraceStore({ path: ':memory:' });
    store.insert(ASSESSMENT);
    store.insert([
      span({
        traceId: TRACE_B,
        id: '1',
        start: T + 1_000_000_000n,
        durationNs: 2_000_000,
        kind: 'server',
        operation: 'GET /health',
      }),
    ]);
    const all = store.listTraces();
    assert.deepEqual(
      all.map((t) => t.traceId),
      [TRACE_B, TRACE_A],
    );
    assert.deepEqual(all[1], {
      traceId: TRACE_A,
      rootService: 'gateway',
      rootOperation: 'POST /assess',
      startTimeUnixNano: T.toString(),
      durationNs: 120_000_000,
      spanCount: 6,
      errorCount: 1,
      services: ['gateway', 'identity', 'scoring'],
    });
    assert.deepEqual(
      store.listTraces({ service: 'identity' }).map((t) => t.traceId),
      [TRACE_A],
    );
    assert.deepEqual(
      store.listTraces({ minDurationMs: 100 }).map((t) => t.traceId),
      [TRACE_A],
    );
    assert.deepEqual(
      store.listTraces({ error: true }).map((t) => t.traceId),
      [TRACE_A],
    );
    assert.deepEqual(
      store.listTraces({ since: 1_700_000_000_500 }).map((t) => t.traceId),
      [TRACE_B],
    );
    assert.deepEqual(
      store.listTraces({ limit: 1 }).map((t) => t.traceId),
      [TRACE_B],
    );
    assert.deepEqual(store.listTraces({ environment: 'staging' }), []);
    store.close();
  });

  it('GIVEN retention by age, count and size WHEN pruned THEN the oldest spans go', () => {
    const byAge = new TraceStore({ path: ':memory:', retention: { maxAgeMs: 60_000 } });
    byAge.insert(ASSESSMENT);
    byAge.insert([span({ traceId: TRACE_B, id: '9', start: T + 120_000_000_000n })]);
    assert.equal(byAge.prune(1_700_000_000_000 + 150_000).deleted, 6);
    assert.equal(byAge.count(), 1);
    byAge.close();

    const byCount = new TraceStore({ path: ':memory:', retention: { maxSpans: 4 } });
    byCount.insert(ASSESSMENT);
    byCount.prune();
    assert.deepEqual(
      byCount.getTrace(TRACE_A).map((s) => s.spanId.slice(-1)),
      ['3', '4', '5', '6'],
    );
    byCount.close();

    const bySize = new TraceStore({ path: ':memory:', retention: { maxBytes: 1 << 20 } });
    const many = Array.from({ length: 5000 }, (_, i) =>
      span({
        traceId: i.toString(16).padStart(32, '0'),
        id: '1',
        start: T + BigInt(i) * 1_000_000n,
        attributes: { pad: 'x'.repeat(300) },
      }),
    );
    bySize.insert(many);
    assert.ok(bySize.bytes() > 1 << 20);
    bySize.prune();
    assert.ok(bySize.bytes() <= 1 << 20);
    assert.ok(bySize.count() > 0);
    assert.equal(bySize.listTraces({ limit: 1 })[0]?.traceId, (4999).toString(16).padStart(32, '0'));
    bySize.close();
  });

  it('GIVEN a store over its limits WHEN pruned in steps THEN each step deletes at most its limit, oldest first, until within them', () => {
    const store = new TraceStore({ path: ':memory:', retention: { maxAgeMs: 60_000, maxSpans: 10 } });
    const at = (i: number) => T + BigInt(i) * 1_000_000_000n; // one span a second
    store.insert(
      Array.from({ length: 100 }, (_, i) =>
        span({ traceId: (i + 1).toString(16).padStart(32, '0'), id: '1', start: at(i) }),
      ),
    );
    const now = 1_700_000_000_000 + 100_000; // spans 0-39 are older than a minute
    const steps: { deleted: number; more: boolean }[] = [];
    for (;;) {
      const step = store.pruneStep(now, 15);
      steps.push(step);
      if (!step.more) break;
    }
    // Age first (40 spans in steps of 15), then the count (50 more, down to 10).
    assert.deepEqual(
      steps.map((s) => s.deleted),
      [15, 15, 10, 15, 15, 15, 5],
    );
    assert.equal(store.count(), 10);
    assert.deepEqual(
      store
        .listTraces({ limit: 100 })
        .map((t) => Number.parseInt(t.traceId, 16))
        .sort((a, b) => a - b),
      Array.from({ length: 10 }, (_, i) => 91 + i),
    );
    assert.deepEqual(store.pruneStep(now, 15), { deleted: 0, more: false });
    store.close();
  });

  it('GIVEN a window WHEN map spans are read THEN only client spans carry their peer attributes', () => {
    const store = new TraceStore({ path: ':memory:' });
    store.insert(ASSESSMENT.map((s) => ({ ...s, attributes: { ...s.attributes, 'http.route': '/x' } })));
    const spans = store.mapSpans({ since: 0 });
    assert.equal(spans.length, 6);
    assert.deepEqual(spans.find((s) => s.spanId.endsWith('6'))?.attributes, {
      'db.system': 'postgresql',
      'server.address': 'maindb',
    });
    assert.deepEqual(spans.find((s) => s.spanId.endsWith('1'))?.attributes, {});
    store.close();
  });
});

describe('waterfall', () => {
  it('GIVEN a trace WHEN rendered THEN a tree of bars scaled to the trace (golden)', () => {
    // Shuffled input: the tree comes from parent ids, the order from start times.
    const shuffled = [3, 5, 0, 2, 4, 1].map((i) => ASSESSMENT[i] as SpanRecord);
    const golden = new URL('./fixtures/waterfall.golden.txt', import.meta.url);
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, renderWaterfall(shuffled, 90));
    assert.equal(renderWaterfall(shuffled, 90), readFileSync(golden, 'utf8'));
  });

  it('GIVEN a span whose parent is missing WHEN rendered THEN it starts its own tree, marked', () => {
    const out = renderWaterfall([ASSESSMENT[0] as SpanRecord, ASSESSMENT[2] as SpanRecord], 80);
    assert.match(out, /\n⋯ identity: GET \/verify/);
    assert.equal(renderWaterfall([]), '(no spans)\n');
  });
});
