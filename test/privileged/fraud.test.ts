// The fraud workload end to end through Rampart: the stack comes up in namespaces with a small
// seed, a merchant's order gets a decision through the published gateway, bad input and unknown
// keys are refused as documented, the same order twice is one assessment, feedback is recorded,
// and a short traffic run has no errors. Then everything goes down.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { MERCHANT_BY_ID } from '../../examples/fraud/generator/data.ts';
import { fraudStackText } from '../../examples/fraud/generator/stack-file.ts';
import { runTraffic, trafficOrders } from '../../examples/fraud/generator/traffic.ts';
import type { Order } from '../../examples/fraud/lib/types.ts';
import {
  startControlPlaneForTest,
  testEnvironmentName,
  type TestControlPlane,
} from '../../src/testing/control-plane.ts';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const VOLT_KEY = MERCHANT_BY_ID.get('voltmarkt')!.apiKey;
const NORD_KEY = MERCHANT_BY_ID.get('nordlicht')!.apiKey;

const SAMPLE: Order = {
  merchantId: 'voltmarkt',
  orderId: `it-${Date.now().toString(36)}`,
  amount: 24_999,
  currency: 'EUR',
  customer: {
    name: 'Anna Schmidt',
    email: 'anna.schmidt@gmx.de',
    phone: '+4915123456789',
    dateOfBirth: '1988-04-12',
  },
  billingAddress: { line1: 'Hauptstraße 5', city: 'Berlin', postalCode: '10115', country: 'DE' },
  shippingAddress: { line1: 'Hauptstraße 5', city: 'Berlin', postalCode: '10115', country: 'DE' },
  ipAddress: '91.12.34.56',
  deviceId: 'dev-9f2c41d7a1b3e5f0',
  payment: { method: 'card', bin: '455600', last4: '4242' },
};

describe('fraud stack through Rampart', { timeout: 240_000 }, () => {
  let cp: TestControlPlane;
  const env = testEnvironmentName('fr');
  let base = '';

  const call = async (method: string, path: string, body?: unknown, key: string | null = VOLT_KEY) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    cp = await startControlPlaneForTest({ readyTimeoutMs: 150_000 });
    const hostPort = await freePort();
    base = `http://127.0.0.1:${hostPort}`;
    const file = await cp.writeStack(fraudStackText({ environment: env, hostPort, overlayFrom: 'test' }));
    await cp.daemon.controlPlane.up({ file, environment: env, clientEnv: {} }, () => undefined);
  });

  after(async () => {
    try {
      await cp.daemon.controlPlane.down({ environment: env }, () => undefined);
    } finally {
      await cp.stop({ removeState: true });
    }
  });

  it('GIVEN the stack is up THEN every replica runs and is healthy', () => {
    const ps = cp.daemon.controlPlane.ps({ environment: env });
    assert.ok(ps.length >= 10);
    assert.deepEqual(
      ps.filter((r) => r.state !== 'running' || !r.healthy).map((r) => r.id),
      [],
    );
  });

  let assessmentId = '';

  it('GIVEN a sample order WHEN posted with a merchant key THEN it gets a decision, a score and reasons', async () => {
    const r = await call('POST', '/v1/assessments', SAMPLE);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(String(r.body.assessmentId), /^[0-9a-f-]{36}$/);
    assert.ok(['accept', 'review', 'reject'].includes(String(r.body.decision)));
    assert.ok(typeof r.body.score === 'number' && r.body.score >= 0 && r.body.score <= 1);
    assert.ok(Array.isArray(r.body.reasons));
    assessmentId = String(r.body.assessmentId);
  });

  it('GIVEN the same order again THEN the stored assessment comes back (idempotent on the order id)', async () => {
    const r = await call('POST', '/v1/assessments', SAMPLE);
    assert.equal(r.status, 200);
    assert.equal(r.body.assessmentId, assessmentId);
  });

  it('GIVEN an assessment id THEN its merchant can read it and another merchant cannot', async () => {
    const mine = await call('GET', `/v1/assessments/${assessmentId}`);
    assert.equal(mine.status, 200);
    assert.equal(mine.body.orderId, SAMPLE.orderId);
    const theirs = await call('GET', `/v1/assessments/${assessmentId}`, undefined, NORD_KEY);
    assert.deepEqual(theirs, { status: 404, body: { error: 'no such assessment' } });
  });

  it('GIVEN a bad order THEN 400 names every bad field', async () => {
    const r = await call('POST', '/v1/assessments', {
      ...SAMPLE,
      amount: -5,
      customer: { ...SAMPLE.customer, email: 'anna.schmidt' },
      billingAddress: { ...SAMPLE.billingAddress, country: 'Germany' },
    });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, {
      error: 'invalid order',
      fields: [
        { field: 'amount', message: 'must be between 1 and 1000000000' },
        { field: 'customer.email', message: 'must be an email address' },
        {
          field: 'billingAddress.country',
          message: 'must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE',
        },
      ],
    });
  });

  it('GIVEN an unknown or missing API key THEN 401', async () => {
    assert.deepEqual(await call('POST', '/v1/assessments', SAMPLE, 'fk_not_a_key'), {
      status: 401,
      body: { error: 'unknown API key' },
    });
    assert.equal((await call('POST', '/v1/assessments', SAMPLE, null)).status, 401);
  });

  it('GIVEN feedback on an assessment THEN it is recorded; a bad label is refused', async () => {
    const ok = await call('POST', '/v1/feedback', { assessmentId, label: 'chargeback' });
    assert.deepEqual(ok, { status: 200, body: { assessmentId, label: 'chargeback', recorded: true } });
    const bad = await call('POST', '/v1/feedback', { assessmentId, label: 'maybe' });
    assert.equal(bad.status, 400);
  });

  it('GIVEN a short traffic run THEN every generated order gets an answer', async () => {
    const orders = trafficOrders({ seed: 5, historyOrders: 20_000 }, 150);
    const r = await runTraffic({ url: base, rate: 50, durationMs: 3_000, orders });
    assert.equal(r.sent, 150);
    assert.equal(r.errors, 0, JSON.stringify(r.errorsByStatus));
    assert.equal(r.ok, 150);
  });
});
