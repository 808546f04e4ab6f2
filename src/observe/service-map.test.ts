import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyHistogram } from './histogram.ts';
import { deriveCalls, peerOf, serviceMap, type CallSpan } from './service-map.ts';

let next = 0;
function s(over: Partial<CallSpan> & Pick<CallSpan, 'service' | 'kind'>): CallSpan {
  next++;
  return {
    traceId: 't1',
    spanId: `s${next}`,
    parentSpanId: null,
    durationNs: 10_000_000,
    status: 'unset',
    attributes: {},
    ...over,
  };
}

/** One fraud assessment: gateway calls identity and scoring; scoring queries the database. */
function assessment(
  traceId: string,
  opts: { slowScoring?: boolean; scoringFails?: boolean } = {},
): CallSpan[] {
  const root = s({ traceId, service: 'gateway', kind: 'server', durationNs: 80_000_000 });
  const callIdentity = s({
    traceId,
    service: 'gateway',
    kind: 'client',
    parentSpanId: root.spanId,
    durationNs: 20_000_000,
  });
  const identity = s({
    traceId,
    service: 'identity',
    kind: 'server',
    parentSpanId: callIdentity.spanId,
    durationNs: 18_000_000,
  });
  const callScoring = s({
    traceId,
    service: 'gateway',
    kind: 'client',
    parentSpanId: root.spanId,
    durationNs: opts.slowScoring ? 300_000_000 : 40_000_000,
  });
  const scoring = s({
    traceId,
    service: 'scoring',
    kind: 'server',
    parentSpanId: callScoring.spanId,
    durationNs: 35_000_000,
    status: opts.scoringFails ? 'error' : 'unset',
  });
  const query = s({
    traceId,
    service: 'scoring',
    kind: 'client',
    parentSpanId: scoring.spanId,
    durationNs: 5_000_000,
    attributes: { 'db.system': 'postgresql', 'server.address': '198.18.14.2', 'server.port': 5432 },
  });
  const internal = s({ traceId, service: 'scoring', kind: 'internal', parentSpanId: scoring.spanId });
  return [root, callIdentity, identity, callScoring, scoring, query, internal];
}

describe('service map', () => {
  it('GIVEN client/server span pairs and a db span WHEN calls are derived THEN edges A→B and A→database', () => {
    const calls = deriveCalls(assessment('t1'), (a) =>
      a === '198.18.14.2' ? { name: 'maindb', kind: 'service' } : undefined,
    );
    assert.deepEqual(
      calls.map((c) => `${c.from}->${c.to} (${c.toKind}) ${c.durationNs / 1e6}ms`),
      [
        'gateway->identity (service) 20ms',
        'gateway->scoring (service) 40ms',
        'scoring->maindb (database) 5ms',
      ],
    );
  });

  it('GIVEN traces in a window plus flows WHEN mapped THEN nodes and edges with rate, error rate and percentiles', () => {
    const spans = [
      ...assessment('t1'),
      ...assessment('t2', { slowScoring: true }),
      ...assessment('t3', { scoringFails: true }),
      ...assessment('t4'),
    ];
    const map = serviceMap({
      spans,
      windowMs: 2_000,
      flows: [
        { from: 'gateway', to: 'identity', connections: 3 },
        { from: 'audit', to: 'maindb', toKind: 'database', connections: 7 },
      ],
      resolveAddress: (a) => (a === '198.18.14.2' ? { name: 'maindb', kind: 'service' } : undefined),
    });
    assert.deepEqual(
      map.nodes.map((n) => [n.id, n.kind, n.requests]),
      [
        ['audit', 'service', 0],
        ['gateway', 'service', 4],
        ['identity', 'service', 4],
        ['maindb', 'database', 4],
        ['scoring', 'service', 4],
      ],
    );
    const scoring = map.edges.find((e) => e.from === 'gateway' && e.to === 'scoring');
    assert.deepEqual(scoring, {
      from: 'gateway',
      to: 'scoring',
      sources: ['trace'],
      connections: 0,
      requests: 4,
      errors: 1,
      rate: 2,
      errorRate: 0.25,
      p50Ms: 40,
      p95Ms: 300,
      p99Ms: 300,
    });
    const identity = map.edges.find((e) => e.to === 'identity');
    assert.deepEqual(identity?.sources, ['flow', 'trace']);
    assert.equal(identity?.connections, 3);
    const flowOnly = map.edges.find((e) => e.from === 'audit');
    assert.deepEqual(
      [flowOnly?.to, flowOnly?.requests, flowOnly?.connections, flowOnly?.p50Ms],
      ['maindb', 0, 7, null],
    );
    assert.equal(map.nodes.find((n) => n.id === 'scoring')?.errorRate, 0.25);
  });

  it('GIVEN client spans nobody answered WHEN named THEN peer.service, resolved address, host:port or URL host', () => {
    const peer = (attributes: CallSpan['attributes']) =>
      peerOf(s({ service: 'a', kind: 'client', attributes }));
    assert.deepEqual(peer({ 'server.address': 'api.stripe.com', 'server.port': 443 }), {
      name: 'api.stripe.com:443',
      kind: 'external',
    });
    assert.deepEqual(peer({ 'net.peer.name': 'legacy' }), { name: 'legacy', kind: 'external' });
    assert.deepEqual(peer({ 'url.full': 'https://geo.example/v1?x' }), {
      name: 'geo.example',
      kind: 'external',
    });
    assert.deepEqual(peer({ 'peer.service': 'ledger' }), { name: 'ledger', kind: 'service' });
    assert.deepEqual(peer({ 'db.system': 'postgresql', 'db.namespace': 'shop' }), {
      name: 'shop',
      kind: 'database',
    });
    assert.deepEqual(peer({}), { name: 'unknown', kind: 'external' });
    assert.deepEqual(peer({ 'url.full': 'http://[::1]:8080/x' }), { name: '[::1]:8080', kind: 'external' });
  });

  it('GIVEN a call by URL to a service whose spans have not arrived WHEN named THEN the URL host resolves to that service', () => {
    // A traced call to http://audit:8080 whose server span is still in audit's export queue (or
    // an uninstrumented callee): the service Rampart knows by that name, not an outside address.
    const resolve = (address: string) =>
      address === 'audit' ? { name: 'audit', kind: 'service' as const } : undefined;
    const call = s({
      service: 'gateway',
      kind: 'client',
      attributes: { 'url.full': 'http://audit:8080/store' },
    });
    assert.deepEqual(peerOf(call, resolve), { name: 'audit', kind: 'service' });
    assert.deepEqual(
      deriveCalls([call], resolve).map((c) => `${c.from}->${c.to}`),
      ['gateway->audit'],
    );
    const outside = s({
      service: 'gateway',
      kind: 'client',
      attributes: { 'url.full': 'http://audit.example:8080/' },
    });
    assert.deepEqual(peerOf(outside, resolve), { name: 'audit.example:8080', kind: 'external' });
  });

  it('GIVEN a server span whose parent is a non-client span of another service WHEN derived THEN it is a call', () => {
    const parent = s({ service: 'worker', kind: 'internal' });
    const child = s({ service: 'api', kind: 'server', parentSpanId: parent.spanId });
    assert.deepEqual(
      deriveCalls([parent, child]).map((c) => `${c.from}->${c.to}`),
      ['worker->api'],
    );
  });
});

describe('latency histogram', () => {
  it('GIVEN durations WHEN quantiles are read THEN within the bucket error; merging adds counts', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) h.add(i * 1_000_000);
    for (const [q, exact] of [
      [0.5, 50e6],
      [0.95, 95e6],
      [0.99, 99e6],
    ] as const) {
      const v = h.quantile(q) as number;
      assert.ok(Math.abs(v - exact) / exact < 0.09, `${q}: ${v} vs ${exact}`);
    }
    const round = LatencyHistogram.parse(h.serialize());
    assert.equal(round.total, 100);
    assert.equal(round.merge(h).total, 200);
    assert.equal(new LatencyHistogram().quantile(0.5), null);
  });
  it('GIVEN sampled traces with adjusted counts WHEN the map is built THEN requests, rates, errors and quantiles count what each span stands for', () => {
    // 4 assessments kept whole, each standing for 10 (sampled at p = 0.1); one failed at scoring.
    const spans: CallSpan[] = ['w1', 'w2', 'w3', 'w4'].flatMap((t, i) =>
      assessment(t, { scoringFails: i === 0, slowScoring: i === 3 }).map((x) => ({ ...x, weight: 10 })),
    );
    // Plus one trace kept with a probability of 1 (no weight): a slow scoring call.
    spans.push(...assessment('w5', { slowScoring: true }));
    const map = serviceMap({ spans, windowMs: 10_000 });
    const edge = map.edges.find((e) => e.from === 'gateway' && e.to === 'scoring');
    assert.equal(edge?.requests, 41);
    assert.equal(edge?.rate, 4.1);
    assert.equal(edge?.errors, 10);
    assert.equal(edge?.errorRate, 10 / 41);
    // 30 of 41 calls took 40 ms, 11 took 300 ms: the median is 40 ms, p95 300 ms.
    assert.equal(edge?.p50Ms, 40);
    assert.equal(edge?.p95Ms, 300);
    const gateway = map.nodes.find((n) => n.id === 'gateway');
    assert.equal(gateway?.requests, 41);
  });
});
