import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planRollout } from './rollout.ts';

const old = (...slots: number[]) => slots.map((slot) => ({ slot, upToDate: false }));

describe('planRollout', () => {
  it('GIVEN 2 old replicas, maxSurge 1, maxUnavailable 0 WHEN planned THEN one new starts before each old one retires', () => {
    const r = planRollout({ current: old(0, 1), replicas: 2, maxSurge: 1, maxUnavailable: 0, slotCount: 3 });
    assert.deepEqual(r.steps, [
      { kind: 'start', slots: [2] },
      { kind: 'retire', slots: [0] },
      { kind: 'start', slots: [0] },
      { kind: 'retire', slots: [1] },
    ]);
    assert.deepEqual(r.final, [0, 2]);
  });

  it('GIVEN maxSurge 0 and maxUnavailable 1 WHEN planned THEN an old replica retires before each start', () => {
    const r = planRollout({ current: old(0, 1), replicas: 2, maxSurge: 0, maxUnavailable: 1, slotCount: 2 });
    assert.deepEqual(r.steps, [
      { kind: 'retire', slots: [0] },
      { kind: 'start', slots: [0] },
      { kind: 'retire', slots: [1] },
      { kind: 'start', slots: [1] },
    ]);
  });

  it('GIVEN every replica already up to date WHEN planned THEN there is nothing to do', () => {
    const r = planRollout({
      current: [
        { slot: 0, upToDate: true },
        { slot: 2, upToDate: true },
      ],
      replicas: 2,
      maxSurge: 1,
      maxUnavailable: 0,
      slotCount: 3,
    });
    assert.deepEqual(r, { steps: [], final: [0, 2] });
  });

  it('GIVEN nothing running WHEN planned THEN all replicas start at once in the lowest slots', () => {
    const r = planRollout({ current: [], replicas: 3, maxSurge: 1, maxUnavailable: 0, slotCount: 4 });
    assert.deepEqual(r.steps, [{ kind: 'start', slots: [0, 1, 2] }]);
  });

  it('GIVEN 3 up-to-date replicas and 2 wanted WHEN planned THEN the extra one retires', () => {
    const r = planRollout({
      current: [0, 1, 2].map((slot) => ({ slot, upToDate: true })),
      replicas: 2,
      maxSurge: 1,
      maxUnavailable: 0,
      slotCount: 3,
    });
    assert.deepEqual(r.steps, [{ kind: 'retire', slots: [2] }]);
  });

  it('GIVEN a failed half-done update WHEN rolled back THEN replicas on the old release stay', () => {
    const r = planRollout({
      current: [
        { slot: 1, upToDate: true },
        { slot: 2, upToDate: false },
      ],
      replicas: 2,
      maxSurge: 1,
      maxUnavailable: 0,
      slotCount: 3,
    });
    assert.deepEqual(r.steps, [
      { kind: 'start', slots: [0] },
      { kind: 'retire', slots: [2] },
    ]);
  });

  it('GIVEN maxSurge and maxUnavailable both 0 WHEN planned THEN it refuses', () => {
    assert.throws(
      () => planRollout({ current: old(0), replicas: 1, maxSurge: 0, maxUnavailable: 0, slotCount: 1 }),
      /both 0/,
    );
  });
});
