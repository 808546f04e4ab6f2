import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FieldError, isUuid, parseFeedback, parseNewAssessment, toAssessment } from './logic.ts';

const valid = {
  merchantId: 'm-1',
  orderId: 'o-1',
  decision: 'review',
  score: 0.42,
  reasons: ['IP_COUNTRY_MISMATCH'],
  features: { ipCountryMismatch: 1, amountEur: 49.9 },
};

describe('parseNewAssessment', () => {
  it('GIVEN a valid body THEN the same fields back, id and time normalised', () => {
    assert.deepEqual(parseNewAssessment(valid), valid);
    assert.deepEqual(
      parseNewAssessment({
        ...valid,
        assessmentId: 'AE418374-A58E-4182-A79F-D129CA890F60',
        createdAt: '2025-03-01T12:00:00+01:00',
      }),
      {
        assessmentId: 'ae418374-a58e-4182-a79f-d129ca890f60',
        ...valid,
        createdAt: '2025-03-01T11:00:00.000Z',
      },
    );
  });
  const bad: [string, Record<string, unknown>][] = [
    ['assessmentId', { assessmentId: 'nope' }],
    ['merchantId', { merchantId: '' }],
    ['orderId', { orderId: 7 }],
    ['decision', { decision: 'maybe' }],
    ['score', { score: 1.5 }],
    ['score', { score: '0.4' }],
    ['reasons', { reasons: 'X' }],
    ['reasons', { reasons: [1] }],
    ['features', { features: [1] }],
    ['features', { features: { a: 'high' } }],
    ['createdAt', { createdAt: 'yesterday' }],
  ];
  for (const [field, change] of bad) {
    it(`GIVEN a bad ${field} (${JSON.stringify(change)}) THEN a FieldError naming it`, () => {
      assert.throws(
        () => parseNewAssessment({ ...valid, ...change }),
        (e: unknown) => e instanceof FieldError && e.field === field,
      );
    });
  }
  it('GIVEN no body THEN merchantId is the first missing field', () => {
    assert.throws(() => parseNewAssessment(undefined), { field: 'merchantId' });
  });
});

describe('parseFeedback', () => {
  it('GIVEN a label for a well-formed id THEN both', () => {
    assert.deepEqual(
      parseFeedback({ assessmentId: 'AE418374-A58E-4182-A79F-D129CA890F60', label: 'chargeback' }),
      {
        assessmentId: 'ae418374-a58e-4182-a79f-d129ca890f60',
        label: 'chargeback',
      },
    );
  });
  it('GIVEN a malformed id THEN null (no such assessment), a missing one THEN a FieldError', () => {
    assert.deepEqual(parseFeedback({ assessmentId: '42', label: 'confirmed-good' }), {
      assessmentId: null,
      label: 'confirmed-good',
    });
    assert.throws(() => parseFeedback({ label: 'chargeback' }), { field: 'assessmentId' });
  });
  it('GIVEN an unknown label THEN a FieldError', () => {
    assert.throws(
      () => parseFeedback({ assessmentId: 'ae418374-a58e-4182-a79f-d129ca890f60', label: 'fraud' }),
      { field: 'label' },
    );
  });
});

describe('toAssessment and isUuid', () => {
  it('GIVEN a row THEN the API shape', () => {
    assert.deepEqual(
      toAssessment({
        id: 'x',
        merchant_id: 'm',
        order_id: 'o',
        decision: 'accept',
        score: '0.1',
        reasons: [],
        created_at: new Date('2025-03-01T12:00:00Z'),
      }),
      {
        assessmentId: 'x',
        merchantId: 'm',
        orderId: 'o',
        decision: 'accept',
        score: 0.1,
        reasons: [],
        createdAt: '2025-03-01T12:00:00.000Z',
      },
    );
  });
  it('GIVEN strings THEN only UUIDs pass', () => {
    assert.equal(isUuid('ae418374-a58e-4182-a79f-d129ca890f60'), true);
    assert.equal(isUuid('ae418374a58e4182a79fd129ca890f60'), false);
    assert.equal(isUuid(undefined), false);
  });
});
