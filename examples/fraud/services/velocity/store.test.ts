import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { historicalOrders } from '../../db/seed.ts';
import { keyOf } from './logic.ts';
import { copyLines, historyKey, toHistoryKeys } from './store.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('historyKey', () => {
  it('GIVEN a key (SHA-256 hex) THEN its first 128 bits as a UUID, written as PostgreSQL prints one', () => {
    const key = keyOf.email('anna.schmidt@example.org');
    const stored = historyKey(key);
    assert.match(stored, UUID);
    assert.equal(stored.replace(/-/g, ''), key.slice(0, 32));
    assert.notEqual(historyKey(keyOf.email('anna.schmidt2@example.org')), stored);
  });
  it('GIVEN an order THEN every key in stored form, the rest untouched, and no card stays no card', () => {
    const [card, other] = [...historicalOrders(200, 1, Date.parse('2025-03-01T12:00:00Z'))]
      .sort((a, b) => Number(a.cardKey === null) - Number(b.cardKey === null))
      .filter((r, i, all) => i === 0 || i === all.length - 1);
    for (const order of [card!, other!]) {
      const stored = toHistoryKeys(order);
      assert.equal(stored.id, order.id);
      assert.equal(stored.createdAt, order.createdAt);
      assert.equal(stored.amount, order.amount);
      assert.equal(stored.emailKey, historyKey(order.emailKey));
      assert.equal(stored.deviceKey, historyKey(order.deviceKey));
      assert.equal(stored.ipKey, historyKey(order.ipKey));
      assert.equal(stored.addressKey, historyKey(order.addressKey));
      assert.equal(stored.cardKey, order.cardKey === null ? null : historyKey(order.cardKey));
    }
    assert.notEqual(card!.cardKey, null);
    assert.equal(other!.cardKey, null);
  });
});

describe('copyLines', () => {
  it('GIVEN orders THEN one COPY line each, with the keys as the UUIDs the checks look up', () => {
    const rows = [...historicalOrders(500, 1, Date.parse('2025-03-01T12:00:00Z'))];
    // The generator refills one buffer: each chunk is copied before the next is asked for.
    const chunks: Buffer[] = [];
    for (const chunk of copyLines(rows, 4096)) chunks.push(Buffer.from(chunk));
    assert.ok(chunks.length > 1, 'several chunks');
    const text = Buffer.concat(chunks).toString('latin1');
    const lines = text.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, rows.length);
    lines.forEach((line, i) => {
      const r = rows[i]!;
      const [id, at, card, email, device, ip, address, amount] = line.split('\t');
      const asStored = (hex: string | undefined) => historyKey(`${hex}`.padEnd(32, '0'));
      assert.equal(id, r.id);
      assert.equal(Date.parse(at!), r.createdAt);
      assert.equal(card === '\\N' ? null : asStored(card), toHistoryKeys(r).cardKey);
      assert.deepEqual(
        [email, device, ip, address].map(asStored),
        [r.emailKey, r.deviceKey, r.ipKey, r.addressKey].map(historyKey),
      );
      assert.equal(Number(amount), r.amount);
    });
  });
});
