import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrafficReport } from '../examples/fraud/generator/traffic.ts';
import { findSustainedRate, stepVerdict } from './sustain.ts';

/** A step's report as the generator gives it: `fails` decides the errors. */
function report(rate: number, errors = 0, p99 = 40): TrafficReport {
  const sent = rate * 8;
  return {
    url: 'http://127.0.0.1:1',
    targetRate: rate,
    durationMs: 8000,
    sendWindowMs: 8000,
    sent,
    ok: sent - errors,
    errors,
    errorRate: errors / sent,
    skipped: 0,
    errorsByStatus: errors ? { 503: errors } : {},
    throughput: rate,
    latencyMs: { p50: p99 / 2, p95: p99, p99, max: p99, mean: p99 / 2 },
    degraded: 0,
    degradedBySignal: {},
    decisions: { accept: sent, review: 0, reject: 0 },
  } as unknown as TrafficReport;
}

/** A stack that sustains up to `capacity`/s; `flaky` rates fail once and pass when run again. */
function stack(capacity: number, flaky: number[] = []) {
  const tried: number[] = [];
  const run = async (rate: number) => {
    tried.push(rate);
    const once = flaky.includes(rate) && tried.filter((r) => r === rate).length === 1;
    return { report: report(rate, rate > capacity || once ? 5 : 0), step: rate };
  };
  return { run, tried };
}

const quick = { factor: 1.1, pauseMs: 0 };

describe('sustained rate (bench/sustain.ts)', () => {
  it('GIVEN a stack that holds 700/s WHEN ramped from 500 by 1.1 THEN the last step under it is the answer, its failure run twice', async () => {
    const s = stack(700);
    const r = await findSustainedRate(s.run, { startRate: 500, ...quick });
    assert.equal(r.sustainedRate, 666);
    assert.deepEqual(s.tried, [500, 550, 605, 666, 732, 732]);
    assert.deepEqual(
      r.steps.map((x) => x.passed),
      [true, true, true, true, false, false],
    );
  });

  it('GIVEN one late step WHEN it passes when run again THEN the ramp goes on', async () => {
    const s = stack(700, [550]);
    const r = await findSustainedRate(s.run, { startRate: 500, ...quick });
    assert.equal(r.sustainedRate, 666);
    assert.deepEqual(s.tried, [500, 550, 550, 605, 666, 732, 732]);
  });

  it('GIVEN a first rate above capacity WHEN ramped THEN it steps down until one passes, then up again', async () => {
    const s = stack(400);
    const r = await findSustainedRate(s.run, { startRate: 500, ...quick });
    assert.equal(r.sustainedRate, 376);
    assert.deepEqual(s.tried, [500, 500, 455, 455, 413, 413, 376, 413, 413]);
  });

  it('GIVEN a first step that fails for want of warm-up WHEN the stack holds more once warm THEN the answer is not capped by it', async () => {
    // 605 fails twice (cold), 550 passes; warm, the stack holds 700.
    let warm = false;
    const tried: number[] = [];
    const run = async (rate: number) => {
      tried.push(rate);
      const fails = rate > 700 || (!warm && rate >= 605);
      if (rate < 605) warm = true;
      return { report: report(rate, fails ? 5 : 0), step: rate };
    };
    const r = await findSustainedRate(run, { startRate: 605, ...quick });
    assert.equal(r.sustainedRate, 666);
    assert.deepEqual(tried, [605, 605, 550, 605, 666, 732, 732]);
  });

  it('GIVEN refine WHEN the ramp up stops THEN the rate halfway to the failure is tried too', async () => {
    const held = stack(700);
    const r = await findSustainedRate(held.run, { startRate: 500, ...quick, refine: true });
    // 666 passed, 732 failed twice; 500 × 1.1^3.5 = 698 holds.
    assert.equal(r.sustainedRate, 698);
    assert.deepEqual(held.tried, [500, 550, 605, 666, 732, 732, 698]);
    const short = stack(680);
    const s = await findSustainedRate(short.run, { startRate: 500, ...quick, refine: true });
    assert.equal(s.sustainedRate, 666, 'the halfway rate failed twice: the last pass stands');
    assert.deepEqual(short.tried, [500, 550, 605, 666, 732, 732, 698, 698]);
  });

  it('GIVEN a step with a late p99, shed signals or a shortfall WHEN judged THEN it fails and says why', () => {
    assert.match(stepVerdict(report(500, 0, 800), 500).why, /p99 800 ms above 500 ms/);
    assert.match(stepVerdict(report(500, 3), 500).why, /3 errors \{"503":3\}/);
    const slow = { ...report(500), throughput: 450 };
    assert.match(stepVerdict(slow, 500).why, /below 95% of 500\/s/);
    const shed = { ...report(500), degraded: 10, degradedBySignal: { velocity: 10 } };
    assert.match(stepVerdict(shed, 500).why, /10 answers lacked a signal/);
    assert.deepEqual(stepVerdict(report(500), 500), { passed: true, why: 'ok' });
  });
});
