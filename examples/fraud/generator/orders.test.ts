import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isValidIBAN } from 'ibantools';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { seedCustomer } from '../db/seed.ts';
import { isDisposableDomain } from '../services/identity/logic.ts';
import { COUNTRIES, DISPOSABLE_MAIL } from './data.ts';
import { customerAt, ibanFor } from './customers.ts';
import { createWorld, customerIndex, orderStream, takeOrders } from './orders.ts';
import { mulberry32 } from './random.ts';
import { defaultSources } from './sources.ts';
import { fill } from './customers.ts';

const world = createWorld({ seed: 42, historyOrders: 20_000, sources: defaultSources() });
const START = Date.parse('2026-03-01T00:00:00Z');

describe('generator', () => {
  it('GIVEN the same seeds THEN the same orders come out', () => {
    const a = takeOrders(orderStream(world, { seed: 1, start: START }), 300);
    const b = takeOrders(
      orderStream(createWorld({ seed: 42, historyOrders: 20_000, sources: defaultSources() }), {
        seed: 1,
        start: START,
      }),
      300,
    );
    assert.deepEqual(a, b);
    assert.notDeepEqual(takeOrders(orderStream(world, { seed: 2, start: START }), 300), a);
  });

  it('GIVEN a stream THEN orders come in time order with unique ids, and labels stay out of the order', () => {
    const orders = takeOrders(orderStream(world, { seed: 3, start: START, orderIdPrefix: 'x-' }), 3000);
    const ids = new Set(orders.map((o) => o.order.orderId));
    assert.equal(ids.size, orders.length);
    for (let i = 1; i < orders.length; i++)
      assert.ok(orders[i]!.order.createdAt! >= orders[i - 1]!.order.createdAt!);
    for (const o of orders) {
      assert.equal('label' in o.order, false);
      assert.equal('pattern' in o.order, false);
      assert.ok(o.order.orderId.startsWith('x-'));
    }
  });

  it('GIVEN a fraud-heavy stream THEN every fraud pattern appears, labelled fraud', () => {
    const orders = takeOrders(orderStream(world, { seed: 4, start: START, fraudShare: 0.5 }), 4000);
    const fraud = new Set(orders.filter((o) => o.label === 'fraud').map((o) => o.pattern));
    assert.deepEqual([...fraud].sort(), [
      'account-takeover',
      'bin-ip-mismatch',
      'card-testing',
      'disposable-email',
      'friendly-fraud',
      'triangulation',
      'velocity-spike',
    ]);
    for (const o of orders.filter((x) => x.label === 'legit')) {
      assert.ok(
        ['normal', 'new-device', 'travel', 'gift', 'repeat-buyer', 'big-ticket', 'holiday-home'].includes(
          o.pattern,
        ),
      );
    }
  });

  it('GIVEN card testing THEN one device tries many cards with small amounts', () => {
    const orders = takeOrders(
      orderStream(world, {
        seed: 5,
        start: START,
        fraudShare: 1,
        fraudWeights: {
          'card-testing': 1,
          'account-takeover': 0,
          triangulation: 0,
          'disposable-email': 0,
          'bin-ip-mismatch': 0,
          'velocity-spike': 0,
          'friendly-fraud': 0,
        },
      }),
      200,
    );
    const byDevice = new Map<string, typeof orders>();
    for (const o of orders) byDevice.set(o.order.deviceId, [...(byDevice.get(o.order.deviceId) ?? []), o]);
    const burst = [...byDevice.values()].sort((a, b) => b.length - a.length)[0]!;
    assert.ok(burst.length >= 6);
    const cards = new Set(
      burst.map((o) =>
        o.order.payment.method === 'card' ? o.order.payment.bin + o.order.payment.last4 : '',
      ),
    );
    assert.ok(cards.size >= burst.length - 1);
    for (const o of burst) assert.ok(o.order.amount <= 100_000); // under 10 EUR-equivalent even in SEK
  });

  it('GIVEN a customer THEN it is a pure function of seed and index, with valid phone, IBAN and a known BIN', () => {
    for (let i = 0; i < 200; i++) {
      const c = customerAt(world, i);
      assert.deepEqual(
        c,
        customerAt(createWorld({ seed: 42, historyOrders: 20_000, sources: defaultSources() }), i),
      );
      assert.ok(parsePhoneNumberFromString(c.phone)?.isValid(), `${c.phone} is a valid number`);
      if (c.iban) assert.ok(isValidIBAN(c.iban), c.iban);
      assert.ok(c.email.includes('@'));
    }
  });

  it("GIVEN a returning customer THEN it is the seeded history's person, email, devices and cards", () => {
    for (const i of [0, 17, 4_999]) {
      const c = customerAt(world, i);
      const h = seedCustomer(i);
      assert.equal(c.known, true);
      assert.deepEqual(
        [c.name, c.email, c.dateOfBirth, c.address, c.devices, c.homeIp],
        [h.name, h.email, h.dateOfBirth, h.address, h.devices, h.homeIp],
      );
      if (h.cards.length > 0) assert.deepEqual(c.cards, h.cards);
    }
    assert.equal(customerAt(world, world.customers).known, false);
  });

  it('GIVEN every country phone template THEN libphonenumber accepts the numbers', () => {
    const rand = mulberry32(9);
    for (const c of COUNTRIES) {
      for (const t of c.phones) {
        for (let i = 0; i < 5; i++) {
          const n = fill(rand, t);
          assert.ok(parsePhoneNumberFromString(n)?.isValid(), `${c.code} ${n}`);
        }
      }
    }
  });

  it('GIVEN every IBAN country THEN generated IBANs are valid', () => {
    const rand = mulberry32(10);
    for (const c of ['DE', 'FR', 'NL', 'ES', 'IT', 'AT', 'BE', 'GB', 'CH', 'SE', 'PL']) {
      for (let i = 0; i < 20; i++) assert.ok(isValidIBAN(ibanFor(rand, c)), c);
    }
  });

  it('GIVEN the throwaway domains THEN mailchecker (as the identity service) lists them all', () => {
    for (const d of DISPOSABLE_MAIL) assert.ok(isDisposableDomain(d), d);
  });

  it('GIVEN many draws THEN returning customers are mostly heavy shoppers but all appear, and one in ten is a first-time buyer', () => {
    const rand = mulberry32(11);
    const seen = new Array<number>(100).fill(0);
    let firstTime = 0;
    for (let i = 0; i < 100_000; i++) {
      const c = customerIndex(rand, 100);
      if (c >= 100) firstTime++;
      else seen[c]!++;
    }
    assert.ok(seen[0]! > 5 * seen[99]!);
    assert.ok(seen.every((n) => n > 0));
    assert.ok(firstTime > 9_000 && firstTime < 11_000, `${firstTime} first-time buyers`);
  });
});
