import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32, normal } from '../generator/random.ts';
import { auc, choleskySolve, confusion, fitLogistic, fitStandardiser, predict } from './logistic.ts';

describe('logistic regression', () => {
  it('GIVEN scores THEN AUC is the share of positive/negative pairs ranked right, ties half', () => {
    assert.equal(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
    assert.equal(auc([0.5, 0.5], [0, 1]), 0.5);
    assert.equal(auc([1, 2, 3], [1, 1, 1]), Number.NaN);
  });

  it('GIVEN flags and labels THEN precision and recall follow', () => {
    const c = confusion([true, true, false, false], [1, 0, 1, 0]);
    assert.deepEqual([c.precision, c.recall, c.flagged, c.truePositives, c.positives], [0.5, 0.5, 2, 1, 2]);
  });

  it('GIVEN an SPD system THEN Cholesky solves it', () => {
    const x = choleskySolve(Float64Array.from([4, 2, 2, 3]), Float64Array.from([2, 1]), 2);
    assert.ok(Math.abs(x[0]! - 0.5) < 1e-12 && Math.abs(x[1]!) < 1e-12);
  });

  it('GIVEN data from a known logistic model THEN the fit recovers its coefficients', () => {
    const rand = mulberry32(3);
    const rows: Float64Array[] = [];
    const labels: (0 | 1)[] = [];
    for (let i = 0; i < 20_000; i++) {
      const x = Float64Array.from([normal(rand), normal(rand), normal(rand)]);
      const p = 1 / (1 + Math.exp(-(-1 + 2 * x[0]! - 1 * x[1]!)));
      rows.push(x);
      labels.push(rand() < p ? 1 : 0);
    }
    const std = fitStandardiser(rows, 3);
    const xs = rows.map((r) => Float64Array.from(r, (v, j) => (v - std.means[j]!) / std.stds[j]!));
    const m = fitLogistic(xs, labels, { l2: 0.1 });
    const raw = m.coefficients.map((c, j) => c / std.stds[j]!);
    assert.ok(Math.abs(raw[0]! - 2) < 0.15, `b0 ${raw[0]}`);
    assert.ok(Math.abs(raw[1]! + 1) < 0.1, `b1 ${raw[1]}`);
    assert.ok(Math.abs(raw[2]!) < 0.1, `b2 ${raw[2]}`);
    assert.ok(
      auc(
        xs.map((x) => predict(m, x)),
        labels,
      ) > 0.85,
    );
  });

  it('GIVEN a constant column THEN it standardises to 0 instead of dividing by 0', () => {
    const s = fitStandardiser([Float64Array.from([1, 5]), Float64Array.from([3, 5])], 2);
    assert.deepEqual(s, { means: [2, 5], stds: [1, 1] });
  });
});
