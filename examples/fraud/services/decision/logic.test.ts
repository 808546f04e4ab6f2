import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, resolvePolicies } from './logic.ts';

describe('decision', () => {
  // As rc delivers them from the environment: every value a string, lists as JSON text.
  const policies = resolvePolicies({
    defaults: { rejectAbove: '0.8', reviewAbove: '0.4' },
    merchants: {
      pixelvault: {
        rejectAbove: '0.7',
        reviewAbove: '0.3',
        alwaysReview: '["MANY_CARDS_PER_EMAIL"]',
        alwaysReject: 'EMAIL_DISPOSABLE',
      },
      skyroute: { maxAmountEur: '3000' },
    },
  });
  const base = { merchantId: 'voltmarkt', reasons: [], amount: 10_000 };

  it('GIVEN default thresholds THEN low scores accept, middle ones review, high ones reject', () => {
    assert.deepEqual(
      [0.1, 0.4, 0.79, 0.8].map((score) => decide(policies, { ...base, score }).decision),
      ['accept', 'review', 'review', 'reject'],
    );
    assert.equal(decide(policies, { ...base, score: 0.85 }).rule, 'threshold.reject');
  });

  it('GIVEN a merchant with its own thresholds THEN they apply to it only', () => {
    assert.equal(decide(policies, { ...base, merchantId: 'pixelvault', score: 0.35 }).decision, 'review');
    assert.equal(decide(policies, { ...base, merchantId: 'pixelvault', score: 0.72 }).decision, 'reject');
    assert.equal(decide(policies, { ...base, score: 0.35 }).decision, 'accept');
  });

  it('GIVEN an always-review or always-reject reason THEN it decides whatever the score', () => {
    const r = decide(policies, {
      ...base,
      merchantId: 'pixelvault',
      score: 0.05,
      reasons: ['MANY_CARDS_PER_EMAIL'],
    });
    assert.deepEqual(r, {
      decision: 'review',
      rule: 'rule.always-review.MANY_CARDS_PER_EMAIL',
      reasons: ['MANY_CARDS_PER_EMAIL'],
    });
    assert.equal(
      decide(policies, { ...base, merchantId: 'pixelvault', score: 0.05, reasons: ['EMAIL_DISPOSABLE'] })
        .decision,
      'reject',
    );
  });

  it('GIVEN an amount over the merchant cap (in EUR) THEN the order goes to review', () => {
    const r = decide(policies, {
      ...base,
      merchantId: 'skyroute',
      score: 0.01,
      amount: 400_000,
      currency: 'USD',
    });
    assert.deepEqual(r, {
      decision: 'review',
      rule: 'rule.amount-cap',
      reasons: ['AMOUNT_OVER_MERCHANT_CAP'],
    });
    assert.equal(
      decide(policies, { ...base, merchantId: 'skyroute', score: 0.01, amount: 3_000_000, currency: 'SEK' })
        .decision,
      'accept',
    );
  });

  it('GIVEN review above reject THEN config is refused at start', () => {
    assert.throws(
      () => resolvePolicies({ defaults: { reviewAbove: 0.9, rejectAbove: 0.8 } }),
      /reviewAbove must not exceed rejectAbove/,
    );
    assert.throws(
      () => resolvePolicies({ merchants: { x: { rejectAbove: 'high' } } }),
      /merchants.x.rejectAbove must be a non-negative number/,
    );
  });
});
