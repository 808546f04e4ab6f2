import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Order, VelocitySignals } from '../lib/types.ts';
import { extractFeatures, FEATURE_NAMES, FEATURE_SOURCES, REASON_CODES } from './features.ts';
import { createSignalComputer } from './signals.ts';

const ORDER: Order = {
  merchantId: 'voltmarkt',
  orderId: 'A-1',
  amount: 4_999,
  currency: 'GBP',
  customer: { name: 'Oliver Smith', email: 'oliver.smith@gmail.com', phone: '+447401234567' },
  billingAddress: { line1: '5 High Street', city: 'London', postalCode: 'SW1 1AA', country: 'GB' },
  shippingAddress: { line1: '5 High Street', city: 'London', postalCode: 'SW1 1AA', country: 'GB' },
  ipAddress: '86.130.1.2',
  deviceId: 'dev-1',
  payment: { method: 'card', bin: '465859', last4: '1234' },
  createdAt: '2026-01-01T10:00:00Z',
};

describe('features', () => {
  it('GIVEN every signal THEN every feature is computed, none other', () => {
    const signals = createSignalComputer().next(ORDER);
    const f = extractFeatures(ORDER, signals);
    assert.deepEqual(Object.keys(f).sort(), [...FEATURE_NAMES].sort());
    assert.ok(Object.values(f).every((v) => Number.isFinite(v)));
    assert.equal(f.amount_eur_log, Math.log1p(49.99 * 1.17));
    assert.equal(f.ip_billing_mismatch, 0);
    assert.equal(f.new_device, 1);
    assert.equal(f.new_email, 1);
  });

  it('GIVEN a missing signal THEN its features are left out (scoring fills in the mean)', () => {
    const { velocity: _, ...rest } = createSignalComputer().next(ORDER);
    const f = extractFeatures(ORDER, rest);
    for (const name of FEATURE_NAMES) assert.equal(name in f, FEATURE_SOURCES[name] !== 'velocity', name);
  });

  it('GIVEN an invoice order without a credit answer THEN credit features are missing, for a card order they are 0', () => {
    const f = extractFeatures({ ...ORDER, payment: { method: 'invoice' } }, {});
    assert.equal('credit_unknown' in f, false);
    assert.equal(extractFeatures(ORDER, {}).credit_unknown, 0);
  });

  it('GIVEN a known email on a new device shipping elsewhere THEN the takeover interactions fire', () => {
    const w = (count: number) => ({
      h1: { count: 0, amountSum: 0 },
      h24: { count: 0, amountSum: 0 },
      d30: { count, amountSum: count * 1000 },
    });
    const velocity: VelocitySignals = {
      card: null,
      email: w(4),
      device: w(0),
      ip: w(0),
      address: w(0),
      distinctEmailsPerDevice30d: 1,
      distinctCardsPerEmail24h: 1,
      newDevice: true,
      reasons: [],
    };
    const f = extractFeatures(
      { ...ORDER, shippingAddress: { ...ORDER.shippingAddress, line1: '9 Dock Road' } },
      { velocity },
    );
    assert.equal(f.known_email_new_device, 1);
    assert.equal(f.new_device_ships_elsewhere, 1);
    assert.equal(f.shipping_address_differs, 1);
  });

  it('GIVEN the reason code table THEN every feature has a distinct stable code', () => {
    const codes = FEATURE_NAMES.map((n) => REASON_CODES[n]);
    assert.equal(new Set(codes).size, codes.length);
    for (const c of codes) assert.match(c, /^[A-Z0-9_]+$/);
  });

  it('GIVEN the same order twice through the signal computer THEN velocity counts the first', () => {
    const s = createSignalComputer();
    s.next(ORDER);
    const f = extractFeatures(
      { ...ORDER, orderId: 'A-2' },
      s.next({ ...ORDER, orderId: 'A-2', createdAt: '2026-01-01T10:05:00Z' }),
    );
    assert.equal(f.vel_email_1h, Math.log1p(1));
    assert.equal(f.new_device, 0);
  });
});
