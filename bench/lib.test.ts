import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProcStatCpu } from './lib.ts';

describe('bench helpers', () => {
  it('GIVEN /proc/stat WHEN its cpu line is read THEN busy counts all but idle and iowait', () => {
    const text = ['cpu  100 5 50 800 20 3 7 15 0 0', 'cpu0 50 2 25 400 10 1 3 7 0 0', 'intr 12345'].join(
      '\n',
    );
    // busy = user 100 + nice 5 + system 50 + irq 3 + softirq 7 + steal 15; idle 800, iowait 20.
    assert.deepEqual(parseProcStatCpu(text), { busy: 180, total: 1000 });
  });

  it('GIVEN a kernel that reports fewer columns WHEN read THEN the missing ones count as 0', () => {
    assert.deepEqual(parseProcStatCpu('cpu 10 0 10 80\n'), { busy: 20, total: 100 });
  });

  it('GIVEN no cpu line WHEN read THEN it says so', () => {
    assert.throws(() => parseProcStatCpu('intr 1\n'), /no 'cpu' line/);
  });
});
