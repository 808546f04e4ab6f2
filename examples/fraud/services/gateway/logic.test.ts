import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Assessment, Order } from '../../lib/types.ts';
import { hashApiKey, merchantRegistry, RateLimiter, TokenBucket } from './auth.ts';
import { assess, type AuditRecord, type Upstreams } from './pipeline.ts';
import { validateOrder } from './validate.ts';

const ORDER: Order = {
  merchantId: 'voltmarkt',
  orderId: 'A-1001',
  amount: 12999,
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
  deviceId: 'dev-1',
  payment: { method: 'card', bin: '455600', last4: '4242' },
  createdAt: '2026-01-31T12:00:00.000Z',
};

describe('validateOrder', () => {
  it('GIVEN a complete order THEN it is accepted and normalised', () => {
    const r = validateOrder({ ...ORDER, payment: { method: 'iban', iban: 'de89 3704 0044 0532 0130 00' } });
    assert.ok('order' in r);
    assert.deepEqual(r.order.payment, { method: 'iban', iban: 'DE89370400440532013000' });
  });

  it('GIVEN no createdAt THEN it defaults to now', () => {
    const { createdAt: _, ...rest } = ORDER;
    const r = validateOrder(rest, new Date('2026-02-01T00:00:00Z'));
    assert.ok('order' in r);
    assert.equal(r.order.createdAt, '2026-02-01T00:00:00.000Z');
  });

  it('GIVEN several bad fields THEN every one is reported with its dotted path', () => {
    const r = validateOrder({
      ...ORDER,
      amount: 12.5,
      currency: 'JPY',
      customer: { name: '', email: 'not-an-email', phone: '+49 151 2345678' },
      billingAddress: { ...ORDER.billingAddress, country: 'Germany' },
      ipAddress: '300.1.1.1',
      payment: { method: 'card', bin: '4556', last4: '42' },
    });
    assert.ok('errors' in r);
    assert.deepEqual(
      r.errors.map((e) => e.field),
      [
        'amount',
        'currency',
        'customer.name',
        'customer.email',
        'billingAddress.country',
        'ipAddress',
        'payment.bin',
        'payment.last4',
      ],
    );
    assert.equal(r.errors.find((e) => e.field === 'customer.email')?.message, 'must be an email address');
  });

  it('GIVEN missing objects THEN each is reported once, not field by field', () => {
    const r = validateOrder({ merchantId: 'voltmarkt', orderId: 'x', amount: 1, currency: 'EUR' });
    assert.ok('errors' in r);
    assert.deepEqual(
      r.errors.map((e) => `${e.field} ${e.message}`),
      [
        'customer is required',
        'customer.name is required',
        'customer.email is required',
        'customer.phone is required',
        'billingAddress is required',
        'shippingAddress is required',
        'ipAddress is required',
        'deviceId is required',
        'payment is required',
      ],
    );
  });

  it('GIVEN a body that is not an object THEN it says so', () => {
    assert.deepEqual(validateOrder([1]), { errors: [{ field: '(body)', message: 'must be a JSON object' }] });
  });

  it('GIVEN a date of birth in the future or not a date THEN it is refused', () => {
    const bad = (dob: string) =>
      validateOrder(
        { ...ORDER, customer: { ...ORDER.customer, dateOfBirth: dob } },
        new Date('2026-01-01T00:00:00Z'),
      );
    assert.deepEqual(bad('2030-01-01'), {
      errors: [{ field: 'customer.dateOfBirth', message: 'must be in the past' }],
    });
    assert.deepEqual(bad('1990-02-30'), {
      errors: [{ field: 'customer.dateOfBirth', message: 'must be a date, YYYY-MM-DD' }],
    });
  });
});

describe('merchant keys and rate limits', () => {
  const registry = merchantRegistry(
    { voltmarkt: { apiKeyHash: hashApiKey('secret-1'), rateLimit: { perSecond: '2', burst: '2' } } },
    { perSecond: 100, burst: 100 },
  );

  it('GIVEN the plaintext key THEN its merchant is found by hash; another key finds nothing', () => {
    assert.equal(registry.byKey('secret-1')?.merchantId, 'voltmarkt');
    assert.equal(registry.byKey('secret-2'), undefined);
  });

  it('GIVEN a hash that is not SHA-256 hex THEN the registry refuses to start', () => {
    assert.throws(
      () => merchantRegistry({ m: { apiKeyHash: 'plaintext' } }, { perSecond: 1, burst: 1 }),
      /apiKeyHash must be a SHA-256/,
    );
  });

  it('GIVEN a bucket of 2 at 2/s WHEN 3 requests arrive at once THEN the third waits 500 ms, and a token is back after 500 ms', () => {
    const bucket = new TokenBucket({ perSecond: 2, burst: 2 }, 0);
    assert.equal(bucket.take(0), 0);
    assert.equal(bucket.take(0), 0);
    assert.equal(bucket.take(0), 500);
    assert.equal(bucket.take(500), 0);
  });

  it('GIVEN a limiter THEN buckets are per merchant', () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    const m = registry.byKey('secret-1')!;
    assert.deepEqual([limiter.take(m), limiter.take(m), limiter.take(m)], [0, 0, 500]);
    now = 1000;
    assert.equal(limiter.take(m), 0);
  });
});

function fakeUpstreams(
  over: Partial<Upstreams> = {},
): Upstreams & { stored: AuditRecord[]; creditBodies: unknown[] } {
  const stored: AuditRecord[] = [];
  const creditBodies: unknown[] = [];
  return {
    stored,
    creditBodies,
    identity: async () => ({
      emailValid: true,
      emailDisposable: false,
      emailFreeMail: true,
      phoneValid: true,
      phoneCountry: 'DE',
      phoneCountryMatchesBilling: true,
      nameEmailSimilarity: 1,
      reasons: [],
    }),
    geo: async () => ({
      ipCountry: 'DE',
      ipCountryMatchesBilling: true,
      ipCountryMatchesShipping: true,
      billingMatchesShipping: true,
      billingShippingDistanceKm: 0,
      reasons: [],
    }),
    payment: async () => ({
      method: 'card',
      binValid: true,
      binCountry: 'DE',
      binCountryMatchesBilling: true,
      binPrepaid: false,
      ibanValid: null,
      ibanCountry: null,
      ibanCountryMatchesBilling: null,
      reasons: [],
    }),
    velocity: async () => {
      const w = {
        h1: { count: 0, amountSum: 0 },
        h24: { count: 0, amountSum: 0 },
        d30: { count: 2, amountSum: 5000 },
      };
      return {
        card: w,
        email: w,
        device: w,
        ip: w,
        address: w,
        distinctEmailsPerDevice30d: 1,
        distinctCardsPerEmail24h: 1,
        newDevice: false,
        reasons: [],
      };
    },
    credit: async (body) => {
      creditBodies.push(body);
      return { decision: 'good', reasons: [] };
    },
    score: async ({ features }) => ({
      score: features.vel_email_1h === undefined ? 0.5 : 0.1,
      modelVersion: 'v1',
      reasons: [],
    }),
    decide: async ({ score, reasons }) => ({
      decision: score >= 0.4 ? 'review' : 'accept',
      rule: 'threshold',
      reasons,
    }),
    store: async (record) => {
      stored.push(record);
      return record;
    },
    byOrder: async () => undefined,
    ...over,
  };
}

describe('assess', () => {
  it('GIVEN every service answers THEN the decision is stored with its features and answered', async () => {
    const up = fakeUpstreams();
    const answer = await assess(up, ORDER, { newId: () => '00000000-0000-4000-8000-000000000001' });
    assert.deepEqual(answer, {
      assessmentId: '00000000-0000-4000-8000-000000000001',
      decision: 'accept',
      score: 0.1,
      reasons: [],
    });
    assert.equal(up.stored.length, 1);
    assert.equal(up.stored[0]!.features.email_disposable, 0);
    assert.deepEqual(up.stored[0]!.unavailable, []);
  });

  it('GIVEN a card order THEN credit is not asked', async () => {
    const up = fakeUpstreams();
    await assess(up, ORDER);
    assert.equal(up.creditBodies.length, 0);
  });

  it('GIVEN an invoice order THEN credit gets only name, date of birth, billing address, amount and currency', async () => {
    const up = fakeUpstreams();
    await assess(up, { ...ORDER, payment: { method: 'invoice' } });
    assert.deepEqual(up.creditBodies, [
      {
        customer: { name: 'Anna Schmidt', dateOfBirth: '1988-04-12' },
        billingAddress: ORDER.billingAddress,
        amount: 12999,
        currency: 'EUR',
      },
    ]);
  });

  it('GIVEN velocity times out THEN the assessment still completes, without its features, with VELOCITY_UNAVAILABLE', async () => {
    const missed: string[] = [];
    const up = fakeUpstreams({ velocity: () => Promise.reject(new Error('timed out')) });
    const answer = await assess(up, ORDER, { onUnavailable: (s) => missed.push(s) });
    assert.equal(answer.decision, 'review');
    assert.deepEqual(answer.reasons, ['VELOCITY_UNAVAILABLE']);
    assert.deepEqual(missed, ['velocity']);
    assert.equal('vel_email_1h' in up.stored[0]!.features, false);
  });

  it('GIVEN the order was assessed before THEN the stored answer comes back, not scored or stored again', async () => {
    const before: Assessment = {
      assessmentId: 'a-1',
      merchantId: 'voltmarkt',
      orderId: 'A-1001',
      decision: 'reject',
      score: 0.93,
      reasons: ['EMAIL_DISPOSABLE'],
      createdAt: '2026-01-01T00:00:00Z',
    };
    const up = fakeUpstreams({
      byOrder: async () => before,
      score: () => assert.fail('scored again'),
      store: () => assert.fail('stored again'),
    });
    assert.deepEqual(await assess(up, ORDER), {
      assessmentId: 'a-1',
      decision: 'reject',
      score: 0.93,
      reasons: ['EMAIL_DISPOSABLE'],
    });
  });

  it("GIVEN no lookup first and a retried order THEN audit's stored answer comes back", async () => {
    const first: Assessment = {
      assessmentId: 'a-1',
      merchantId: 'voltmarkt',
      orderId: 'A-1001',
      decision: 'review',
      score: 0.5,
      reasons: ['NEW_DEVICE'],
      createdAt: '2026-01-01T00:00:00Z',
    };
    const up = fakeUpstreams({
      byOrder: () => assert.fail('looked up'),
      store: async () => ({ ...first, existing: true }),
    });
    assert.deepEqual(await assess(up, ORDER, { lookupFirst: false }), {
      assessmentId: 'a-1',
      decision: 'review',
      score: 0.5,
      reasons: ['NEW_DEVICE'],
    });
  });

  it('GIVEN scoring fails THEN the assessment fails', async () => {
    const up = fakeUpstreams({ score: () => Promise.reject(new Error('down')) });
    await assert.rejects(assess(up, ORDER), /down/);
    assert.equal(up.stored.length, 0);
  });
});
