import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Observability } from '../../observe/index.ts';
import { CLAIMED_SERVICE_ATTRIBUTE, buildOtlpGatewayApp, type ReplicaIdentity } from './otlp-gateway.ts';

// Real OTLP/JSON as the OpenTelemetry JS exporter sends it; it claims service.name "checkout".
const TRACES = readFileSync(new URL('../../observe/fixtures/otel-js-traces.json', import.meta.url));
const REPLICA = '198.18.16.10';
const PAYMENT: ReplicaIdentity = {
  environment: 'prod',
  namespace: 'shop',
  service: 'payment',
  replica: 1,
  id: 'shop/payment-1',
};

let app: FastifyInstance;
let observe: Observability;

before(() => {
  observe = new Observability();
  app = buildOtlpGatewayApp({ observe, identify: (ip) => (ip === REPLICA ? PAYMENT : undefined) });
});

after(async () => {
  await app.close();
  await observe.close();
});

describe('OTLP receiver on the gateways', () => {
  it('GIVEN spans from a replica that claims another service WHEN received THEN they are stored as the replica’s, the claim kept', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      remoteAddress: REPLICA,
      headers: { 'content-type': 'application/json' },
      payload: TRACES,
    });
    assert.equal(res.statusCode, 200);
    const traces = observe.traces.listTraces({});
    assert.ok(traces.length > 0);
    const spans = observe.traces.getTrace(traces[0]!.traceId);
    assert.ok(spans.length > 0);
    for (const s of spans) {
      assert.equal(s.service, 'payment');
      assert.equal(s.environment, 'prod');
      assert.equal(s.replica, '1');
    }
    assert.ok(spans.some((s) => s.resource[CLAIMED_SERVICE_ATTRIBUTE] === 'checkout'));
    assert.equal(observe.traces.listTraces({ service: 'checkout' }).length, 0);
  });

  it('GIVEN a sender that is no replica WHEN it posts spans THEN 403 and nothing is stored', async () => {
    const before = observe.traces.listTraces({}).length;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      remoteAddress: '198.18.16.99',
      headers: { 'content-type': 'application/json' },
      payload: TRACES,
    });
    assert.equal(res.statusCode, 403);
    assert.match(res.json<{ message: string }>().message, /198\.18\.16\.99 is not a replica/);
    assert.equal(observe.traces.listTraces({}).length, before);
  });

  it('GIVEN OTLP logs from a replica WHEN received THEN they are the replica’s lines', async () => {
    const payload = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'someone-else' } }] },
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: '1700000000000000000',
                  severityText: 'ERROR',
                  body: { stringValue: 'card declined' },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await app.inject({
      method: 'POST',
      url: '/v1/logs',
      remoteAddress: REPLICA,
      headers: { 'content-type': 'application/json' },
      payload,
    });
    assert.equal(res.statusCode, 200);
    const lines = observe.logs.search({ query: '"card declined"' });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.service, 'payment');
    assert.equal(lines[0]!.replica, '1');
    assert.equal(lines[0]!.environment, 'prod');
  });

  it('GIVEN the query API or _bulk WHEN asked on the gateway THEN 404: only the three OTLP paths are served', async () => {
    for (const [method, url] of [
      ['GET', '/v1/observe/traces'],
      ['POST', '/_bulk'],
      ['GET', '/'],
    ] as const) {
      const res = await app.inject({ method, url, remoteAddress: REPLICA });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
    }
  });
});
