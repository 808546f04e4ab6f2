import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binInfo } from '../services/payment/logic.ts';
import { DAY_MS, VelocityIndex, keyOf } from '../services/velocity/logic.ts';
import { COUNTRY_DATA, streamRand, syntheticPerson } from './people.ts';
import { historicalOrders, seedCustomer } from './seed.ts';

const now = Date.parse('2025-03-01T12:00:00Z');

describe('syntheticPerson', () => {
  it('GIVEN an index THEN the same person every time, from a known country', () => {
    assert.deepEqual(syntheticPerson(42), syntheticPerson(42));
    assert.notDeepEqual(syntheticPerson(42), syntheticPerson(43));
    for (let i = 0; i < 500; i++) {
      const p = syntheticPerson(i);
      assert.ok(COUNTRY_DATA[p.address.country], p.address.country);
      assert.match(p.dateOfBirth, /^(19[4-9]\d|200[0-5])-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])$/);
    }
  });
  it('GIVEN two streams THEN their draws differ', () => {
    assert.notEqual(streamRand('a', 1)(), streamRand('b', 1)());
    assert.notEqual(streamRand('a', 1)(), streamRand('a', 2)());
    assert.notEqual(streamRand('a', 1, 1)(), streamRand('a', 1, 2)());
  });
});

describe('seedCustomer', () => {
  it('GIVEN an index THEN the person of that index with a plausible email, cards from home and devices', () => {
    for (let i = 0; i < 300; i++) {
      const c = seedCustomer(i);
      const p = syntheticPerson(i);
      assert.equal(c.name, p.name);
      assert.deepEqual(c.address, p.address);
      assert.match(c.email, /^[a-z._0-9]+@[a-z0-9.-]+$/);
      assert.ok(c.devices.length >= 1 && c.devices.length <= 3);
      assert.equal(c.cards.length > 0, c.method === 'card');
      for (const card of c.cards) assert.equal(binInfo(card.bin)?.country, c.address.country);
      assert.deepEqual(c.shippingAddresses[0], c.address);
    }
  });
});

describe('historicalOrders', () => {
  const rows = [...historicalOrders(20_000, 7, now)];
  it('GIVEN (n, seed, now) THEN exactly n rows, the same every time and a prefix of longer ones; another seed gives others', () => {
    assert.equal(rows.length, 20_000);
    assert.deepEqual([...historicalOrders(50, 7, now)], rows.slice(0, 50));
    assert.notDeepEqual([...historicalOrders(50, 8, now)], rows.slice(0, 50));
  });
  it('GIVEN the rows THEN unique ids, times in the last 30 days, amounts between €1.99 and €5,000', () => {
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length);
    for (const r of rows) {
      assert.ok(r.createdAt > now - 30 * DAY_MS && r.createdAt <= now);
      assert.ok(r.amount >= 199 && r.amount <= 500_000);
      assert.match(r.emailKey, /^[0-9a-f]{64}$/);
    }
  });
  it('GIVEN the rows THEN about half are card orders and customer 0 is in them with his keys', () => {
    const cards = rows.filter((r) => r.cardKey !== null).length / rows.length;
    assert.ok(cards > 0.45 && cards < 0.65, String(cards));
    const c0 = seedCustomer(0);
    const mine = rows.filter((r) => r.emailKey === keyOf.email(c0.email));
    assert.ok(mine.length >= 1);
    for (const r of mine) assert.ok(c0.devices.map(keyOf.device).includes(r.deviceKey));
  });
  it('GIVEN normal customers only THEN velocity reasons are rare (it is a history of good orders)', () => {
    const index = new VelocityIndex();
    let flagged = 0;
    for (const r of [...rows].sort((a, b) => a.createdAt - b.createdAt))
      if (index.check(r).reasons.length > 0) flagged++;
    assert.ok(flagged / rows.length < 0.02, `${flagged} of ${rows.length} flagged`);
  });
});
