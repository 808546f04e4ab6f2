import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Order } from '../../lib/types.ts';
import { VELOCITY_DEFAULTS, resolveVelocityConfig } from './config.ts';
import {
  DEFAULT_THRESHOLDS,
  VelocityIndex,
  assembleSignals,
  keyOf,
  mergeBatchPrior,
  normaliseAddress,
  normaliseCard,
  normaliseEmail,
  normaliseKeys,
  orderUuid,
  toEurCents,
  velocityReasons,
  type OrderKeys,
  type VelocityThresholds,
} from './logic.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const T = Date.parse('2025-03-01T12:00:00Z');

const order: Order = {
  merchantId: 'm-1',
  orderId: 'o-1',
  amount: 10_000,
  currency: 'GBP',
  customer: { name: 'Anna Müller', email: 'Anna.Mueller+shop@gmx.de', phone: '+4915123456789' },
  billingAddress: { line1: 'Hauptstraße 5', city: 'Berlin', postalCode: '10115', country: 'DE' },
  shippingAddress: { line1: 'Hauptstraße 5', city: 'Berlin', postalCode: '10115', country: 'DE' },
  ipAddress: '91.0.0.1',
  deviceId: 'Dev-1',
  payment: { method: 'card', bin: '45560012', last4: '1234' },
  createdAt: '2025-03-01T12:00:00Z',
};

describe('normalisation and keys', () => {
  it('GIVEN email variants of one mailbox THEN one normal form', () => {
    assert.equal(normaliseEmail(' Anna.Mueller+shop@GMX.de'), 'anna.mueller@gmx.de');
    assert.equal(normaliseEmail('J.Doe+x@GoogleMail.com'), 'jdoe@gmail.com');
    assert.equal(normaliseEmail('j.d.o.e@gmail.com'), 'jdoe@gmail.com');
    assert.equal(normaliseEmail('no-at-sign'), 'no-at-sign');
  });
  it('GIVEN address variants THEN case, accents, spacing and punctuation do not matter', () => {
    assert.equal(
      normaliseAddress({ line1: 'Hauptstraße 5', postalCode: '10 115', country: 'de' }),
      'DE|10115|hauptstrasse5',
    );
    assert.equal(
      normaliseAddress({ line1: '12, Rue de Rivoli', postalCode: '75001', country: 'FR' }),
      'FR|75001|12ruederivoli',
    );
    assert.equal(
      normaliseAddress({ line1: 'Rue Éloïse 3', postalCode: '1000', country: 'BE' }),
      'BE|1000|rueeloise3',
    );
  });
  it('GIVEN an 8-digit BIN THEN the card is its first six digits and last four', () => {
    assert.equal(normaliseCard('45560012', '1234'), '4556001234');
  });
  it('GIVEN keyOf THEN SHA-256 hex over kind and normal form', () => {
    assert.equal(keyOf.card('455600', '1234'), sha('card:4556001234'));
    assert.equal(keyOf.email('ANNA@gmx.de'), sha('email:anna@gmx.de'));
    assert.equal(keyOf.device(' Dev-1 '), sha('device:dev-1'));
    assert.equal(keyOf.ip('91.0.0.1'), sha('ip:91.0.0.1'));
    assert.notEqual(keyOf.device('x'), keyOf.ip('x'), 'kinds never collide');
  });
  it('GIVEN a merchant and order id THEN a stable version-8 UUID', () => {
    assert.equal(orderUuid('m1', 'o1'), '2acc615b-d81f-8efb-9b07-8b2aff066823');
    assert.match(
      orderUuid('m1', 'o2'),
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.notEqual(orderUuid('m1', 'o2'), orderUuid('m2', 'o1'));
  });
  it('GIVEN amounts in other currencies THEN EUR cents', () => {
    assert.equal(toEurCents(10_000, 'GBP'), 11_700);
    assert.equal(toEurCents(999, 'SEK'), 88);
    assert.equal(toEurCents(500, 'EUR'), 500);
  });
  it('GIVEN an order THEN its history row', () => {
    assert.deepEqual(normaliseKeys(order), {
      id: orderUuid('m-1', 'o-1'),
      createdAt: T,
      cardKey: sha('card:4556001234'),
      emailKey: sha('email:anna.mueller@gmx.de'),
      deviceKey: sha('device:dev-1'),
      ipKey: sha('ip:91.0.0.1'),
      addressKey: sha('address:DE|10115|hauptstrasse5'),
      amount: 11_700,
    });
  });
  it('GIVEN no createdAt or no card THEN now is the time and the card key is null', () => {
    const keys = normaliseKeys({ ...order, createdAt: undefined, payment: { method: 'invoice' } }, 42);
    assert.equal(keys.createdAt, 42);
    assert.equal(keys.cardKey, null);
  });
});

/** A row at `minutesAgo` before T with keys named by letters. */
function row(
  id: string,
  minutesAgo: number,
  k: Partial<Record<'card' | 'email' | 'device' | 'ip' | 'address', string | null>> = {},
  amount = 100,
): OrderKeys {
  return {
    id,
    createdAt: T - minutesAgo * 60_000,
    cardKey: k.card === undefined ? 'card-a' : k.card,
    emailKey: k.email ?? 'email-a',
    deviceKey: k.device ?? 'device-a',
    ipKey: k.ip ?? 'ip-a',
    addressKey: k.address ?? 'address-a',
    amount,
  };
}

describe('VelocityIndex', () => {
  it('GIVEN no history THEN zero windows, a new device, one email on it and one card on the email', () => {
    const s = new VelocityIndex().signals(row('now', 0));
    const zero = { count: 0, amountSum: 0 };
    assert.deepEqual(s, {
      card: { h1: zero, h24: zero, d30: zero },
      email: { h1: zero, h24: zero, d30: zero },
      device: { h1: zero, h24: zero, d30: zero },
      ip: { h1: zero, h24: zero, d30: zero },
      address: { h1: zero, h24: zero, d30: zero },
      distinctEmailsPerDevice30d: 1,
      distinctCardsPerEmail24h: 1,
      newDevice: true,
      reasons: [],
    });
  });
  it('GIVEN orders at several ages THEN each lands in the windows it belongs to (T-w < t <= T)', () => {
    const index = new VelocityIndex();
    index.add(row('a', 10, {}, 100)); // 1h, 24h, 30d
    index.add(row('b', 60, {}, 200)); // exactly 1h ago: not in 1h
    index.add(row('c', 23 * 60, {}, 300)); // 24h, 30d
    index.add(row('d', 29 * 24 * 60, {}, 400)); // 30d
    index.add(row('e', 31 * 24 * 60, {}, 500)); // only `ever`
    index.add(row('f', -5, {}, 600)); // after T: ignored
    const s = index.signals(row('now', 0));
    assert.deepEqual(s.card, {
      h1: { count: 1, amountSum: 100 },
      h24: { count: 3, amountSum: 600 },
      d30: { count: 4, amountSum: 1000 },
    });
    assert.deepEqual(s.ip, s.card);
    assert.equal(s.newDevice, false);
  });
  it('GIVEN the order itself already recorded (a re-sent order) THEN it does not count', () => {
    const index = new VelocityIndex();
    index.add(row('same', 0));
    const s = index.signals(row('same', 0));
    assert.equal(s.email.h1.count, 0);
    assert.equal(s.newDevice, true);
  });
  it('GIVEN shared devices and many cards THEN distinct counts include this order', () => {
    const index = new VelocityIndex();
    index.add(row('1', 60 * 24 * 10, { email: 'e1' })); // 10 days ago
    index.add(row('2', 60 * 24 * 40, { email: 'e2' })); // 40 days ago: outside 30d
    index.add(row('3', 60, { email: 'e3', card: 'c1' }));
    index.add(row('4', 30, { email: 'email-a', card: 'c1' })); // same email as now, other device below
    index.add(row('5', 20, { email: 'email-a', card: 'c2', device: 'other' }));
    index.add(row('6', 20, { email: 'email-a', card: null, device: 'other' }));
    index.add(row('7', 60 * 25, { email: 'email-a', card: 'c3', device: 'other' })); // 25h: outside 24h
    const s = index.signals(row('now', 0, { card: 'c9' }));
    assert.equal(
      s.distinctEmailsPerDevice30d,
      3,
      "e1, e3 and this order's email-a; e2 is older than 30 days",
    );
    assert.equal(s.distinctCardsPerEmail24h, 3, 'c1, c2 and this order c9');
    const noCard = index.signals(row('now', 0, { card: null }));
    assert.equal(noCard.card, null);
    assert.equal(noCard.distinctCardsPerEmail24h, 2);
  });
  it('GIVEN check THEN it answers and then records', () => {
    const index = new VelocityIndex();
    assert.equal(index.check(row('1', 2)).card?.h1.count, 0);
    assert.equal(index.check(row('2', 1)).card?.h1.count, 1);
    assert.equal(index.signals(row('3', 0)).card?.h1.count, 2);
  });
  it('GIVEN a card-testing burst THEN the card and email reasons fire', () => {
    const index = new VelocityIndex();
    for (let i = 0; i < 4; i++) index.add(row(`b${i}`, 5 + i, { card: `c${i}` }));
    for (let i = 0; i < 3; i++) index.add(row(`s${i}`, 10 + i));
    const s = index.signals(row('now', 0));
    assert.deepEqual(s.reasons, [
      'VELOCITY_CARD_1H',
      'VELOCITY_EMAIL_1H',
      'VELOCITY_EMAIL_24H',
      'VELOCITY_DEVICE_1H',
      'VELOCITY_ADDRESS_1H',
      'VELOCITY_ADDRESS_24H',
      'EMAIL_MANY_CARDS',
    ]);
  });
});

describe('mergeBatchPrior', () => {
  // A batch mixing a card-testing burst (one device, new cards), a shared email, a non-card order
  // and orders out of time order: what one statement plus the merge answers must be what checking
  // them one by one answers.
  const batch = [
    row('b1', 50, { card: 'card-1' }),
    row('b2', 40, { card: 'card-2' }, 250),
    row('b3', 45, { card: null, email: 'email-b', ip: 'ip-b' }),
    row('b4', 30, { card: 'card-3', address: 'address-b' }),
    row('b5', 60 * 30, { card: 'card-4', email: 'email-c' }),
    row('b6', 10, { card: 'card-2', device: 'device-b' }),
  ];

  it('GIVEN an empty history WHEN a batch is merged THEN each order gets what sequential checks give', () => {
    const merged = mergeBatchPrior(
      batch,
      batch.map(() => ({})),
    );
    const sequential = new VelocityIndex();
    batch.forEach((keys, i) => {
      assert.deepEqual(
        assembleSignals(keys, merged[i]!, DEFAULT_THRESHOLDS),
        sequential.check(keys),
        `order ${keys.id}`,
      );
    });
  });

  it('GIVEN what the database read WHEN merged THEN counts and sums add and distinct values are unioned', () => {
    const prior = {
      h1: { count: 2, amountSum: 500 },
      h24: { count: 3, amountSum: 700 },
      d30: { count: 4, amountSum: 900 },
    };
    const [first, second] = mergeBatchPrior(
      [row('x1', 20, { card: 'card-1' }), row('x2', 10, { card: 'card-2' })],
      [
        { email: { ...prior, others: ['card-9'], ever: 0 }, device: { ...prior, others: [], ever: 7 } },
        {
          email: { ...prior, others: ['card-9', 'card-1'], ever: 0 },
          device: { ...prior, others: [], ever: 7 },
        },
      ],
    );
    assert.deepEqual(first!.email, { ...prior, distinctOthers: 1, ever: 0 });
    assert.deepEqual(second!.email.h1, { count: 3, amountSum: 600 });
    // card-1 came from the database and from the batch's first order: counted once.
    assert.equal(second!.email.distinctOthers, 2);
    assert.equal(second!.device.ever, 8);
    assert.deepEqual(second!.ip.d30, { count: 1, amountSum: 100 });
  });

  it('GIVEN a re-sent order in the batch WHEN merged THEN neither it nor a copy whose row already existed counts', () => {
    const a = row('r1', 20);
    const merged = mergeBatchPrior(
      [a, a, row('r2', 10), row('r3', 5)],
      [{}, {}, {}, {}],
      // r2's row was already in the history (a retry of an older order): the database counted it.
      [true, false, false, true],
    );
    assert.equal(merged[1]!.card!.h1.count, 0, 'a copy does not count its original (same id)');
    assert.equal(merged[2]!.card!.h1.count, 1, 'the first copy counts once');
    assert.equal(merged[3]!.card!.h1.count, 1, 'r2 was not recorded by this batch');
  });

  it('GIVEN an order not paid by card WHEN merged THEN it has no card aggregate', () => {
    const [merged] = mergeBatchPrior([row('n1', 1, { card: null })], [{}]);
    assert.equal(merged!.card, undefined);
  });
});

describe('velocityReasons', () => {
  const w = (count: number) => ({ count, amountSum: 0 });
  const win = (h1: number, h24: number, d30: number) => ({ h1: w(h1), h24: w(h24), d30: w(d30) });
  const base = {
    card: null,
    email: win(0, 0, 0),
    device: win(0, 0, 0),
    ip: win(0, 0, 0),
    address: win(0, 0, 0),
    distinctEmailsPerDevice30d: 1,
    distinctCardsPerEmail24h: 0,
    newDevice: true,
  };
  it('GIVEN counts at and below thresholds THEN reasons only at or above', () => {
    assert.deepEqual(
      velocityReasons(
        { ...base, ip: win(8, 24, 150), distinctEmailsPerDevice30d: 3, distinctCardsPerEmail24h: 2 },
        DEFAULT_THRESHOLDS,
      ),
      ['VELOCITY_IP_1H', 'VELOCITY_IP_30D', 'DEVICE_MANY_EMAILS'],
    );
  });
  it('GIVEN a threshold of 0 THEN that check is off', () => {
    const t: VelocityThresholds = {
      ...DEFAULT_THRESHOLDS,
      ip: { h1: 0, h24: 0, d30: 0 },
      distinctEmailsPerDevice30d: 0,
    };
    assert.deepEqual(
      velocityReasons({ ...base, ip: win(100, 100, 1000), distinctEmailsPerDevice30d: 9 }, t),
      [],
    );
  });
});

describe('resolveVelocityConfig', () => {
  it('GIVEN nothing THEN the defaults', () => {
    assert.deepEqual(resolveVelocityConfig({}), VELOCITY_DEFAULTS);
    assert.equal(VELOCITY_DEFAULTS.seed.orders, 1_000_000);
  });
  it('GIVEN env-style strings THEN numbers, other keys kept', () => {
    const c = resolveVelocityConfig({
      seed: { orders: '5000' },
      thresholds: { card: { h1: ' 4 ' } },
      pool: { max: 2 },
      _: [],
    });
    assert.equal(c.seed.orders, 5000);
    assert.equal(c.seed.seed, 1);
    assert.equal(c.thresholds.card.h1, 4);
    assert.equal(c.thresholds.card.h24, 5);
    assert.equal(c.pool.max, 2);
    assert.deepEqual(c.batch, { maxBatch: 64, maxConcurrent: 3 });
  });
  it('GIVEN a value that is not a number THEN an error naming the key', () => {
    assert.throws(() => resolveVelocityConfig({ thresholds: { ip: { d30: 'lots' } } }), {
      message: 'config thresholds.ip.d30: expected a number, got "lots"',
    });
  });
});
