import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FEATURE_NAMES } from '../../model/features.ts';
import { loadModel, scoreFeatures, type WeightsFile } from './logic.ts';

const WEIGHTS: WeightsFile = {
  version: 'test',
  features: ['a', 'b', 'c'],
  means: [0, 0.5, 1],
  stds: [1, 0.5, 2],
  coefficients: [2, 1, -1],
  intercept: -1,
  reasonCodes: { a: 'A_HIGH', b: 'B_HIGH', c: 'C_HIGH' },
  trainedAt: '2026-01-01T00:00:00Z',
  metrics: {},
};

describe('scoring', () => {
  const model = loadModel(WEIGHTS);

  it('GIVEN features at their means THEN the score is sigmoid(intercept) and there are no reasons', () => {
    const r = scoreFeatures(model, { a: 0, b: 0.5, c: 1 });
    assert.equal(r.score, Math.round((1 / (1 + Math.exp(1))) * 10_000) / 10_000);
    assert.deepEqual(r.reasons, []);
    assert.equal(r.modelVersion, 'test');
  });

  it('GIVEN risky readings THEN reasons are the largest positive contributions, largest first', () => {
    // a: 2 * (1 - 0) / 1 = 2; b: 1 * (1 - 0.5) / 0.5 = 1; c below its mean with a negative weight: +1 but protective.
    const r = scoreFeatures(model, { a: 1, b: 1, c: -1 });
    assert.deepEqual(r.reasons, ['A_HIGH', 'B_HIGH']);
    assert.ok(r.score > 0.95);
  });

  it('GIVEN a missing feature THEN it counts as its training mean (no effect)', () => {
    assert.deepEqual(scoreFeatures(model, { a: 1, b: 0.5 }), scoreFeatures(model, { a: 1, b: 0.5, c: 1 }));
    assert.deepEqual(
      scoreFeatures(model, { a: 1, b: Number.NaN, c: 1 }),
      scoreFeatures(model, { a: 1, c: 1 }),
    );
  });

  it('GIVEN maxReasons 1 THEN only the top reason is named', () => {
    assert.deepEqual(scoreFeatures(model, { a: 1, b: 1 }, { maxReasons: 1 }).reasons, ['A_HIGH']);
  });

  it('GIVEN a weights file with arrays of different lengths THEN loading fails', () => {
    assert.throws(() => loadModel({ ...WEIGHTS, means: [0] }), /one length/);
  });

  it('GIVEN the shipped weights file THEN it loads and covers exactly the features features.ts computes', () => {
    const shipped = JSON.parse(
      readFileSync(new URL('../../model/weights.v1.json', import.meta.url), 'utf8'),
    ) as WeightsFile;
    const m = loadModel(shipped);
    assert.deepEqual([...m.names], [...FEATURE_NAMES]);
    assert.ok((shipped.metrics as { auc: number }).auc >= 0.9);
  });
});
