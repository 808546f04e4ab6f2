/**
 * What "sustained" means for the fraud stack's benchmarks (issue 3's throughput, and issue 5's
 * tracing on vs off): the highest open-loop rate at which the stack answers every order on time.
 * Open loop, as merchants send: order i is due at start + i/rate whatever the answers, so a slower
 * stack shows as errors, shed signals and a growing p99, not as a lower rate. (A fixed number of
 * orders in flight, each answer followed at once by the next order, measures in-flight / latency
 * instead: at 24 in flight the fraud stack read 450-700/s where it sustained 850/s open loop.)
 */
import type { TrafficReport } from '../examples/fraud/generator/traffic.ts';

/** Whether a step at a fixed rate was sustained, and if not, why. */
export function stepVerdict(r: TrafficReport, explodeP99Ms: number): { passed: boolean; why: string } {
  if (r.errors > 0) return { passed: false, why: `${r.errors} errors ${JSON.stringify(r.errorsByStatus)}` };
  if (r.skipped > 0) return { passed: false, why: `${r.skipped} orders found no free connection` };
  // An assessment answered without a signal is a 200 but not a full assessment: the gateway sheds
  // signals that miss their timeout before it fails requests. More than 1 in 1,000 is overload.
  if (r.degraded > r.ok / 1000)
    return {
      passed: false,
      why: `${r.degraded} answers lacked a signal ${JSON.stringify(r.degradedBySignal)}`,
    };
  if (r.throughput < r.targetRate * 0.95)
    return { passed: false, why: `throughput ${r.throughput}/s below 95% of ${r.targetRate}/s` };
  if (r.latencyMs.p99 > explodeP99Ms)
    return { passed: false, why: `p99 ${r.latencyMs.p99} ms above ${explodeP99Ms} ms` };
  return { passed: true, why: 'ok' };
}

export interface SustainOptions {
  /** The first rate tried. */
  startRate: number;
  /** Each passed step multiplies the rate by this (the result's resolution). */
  factor: number;
  /** A step whose p99 is above this has failed. @default 500 */
  explodeP99Ms?: number;
  /** Never tried above this. @default 5000 */
  maxRate?: number;
  /** Quiet time between steps, for queues to drain. @default 2000 */
  pauseMs?: number;
  /**
   * Once the ramp up stops, try the rate halfway (geometrically) between the last pass and the
   * first failure, so that the answer resolves √factor instead of factor. @default false
   */
  refine?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface SustainStep<T> {
  rate: number;
  passed: boolean;
  why: string;
  /** What `run` returned for the step. */
  step: T;
}

/**
 * Steps the rate up by `factor` from `startRate` while steps pass; a failed step runs once more
 * (one late signal must not end a ramp) before the ramp stops. If the first rate fails twice, the
 * rate steps down until one passes and the ramp goes up again from there (a first step that failed
 * for want of warm-up must not cap the answer). With `refine`, a ramp up that stopped tries the rate halfway
 * between its last pass and its failure (run twice too if it fails). The sustained rate is the
 * last step that passed (0 if none).
 */
export async function findSustainedRate<T>(
  run: (rate: number) => Promise<{ report: TrafficReport; step: T }>,
  opts: SustainOptions,
): Promise<{ sustainedRate: number; steps: SustainStep<T>[] }> {
  const explode = opts.explodeP99Ms ?? 500;
  const maxRate = opts.maxRate ?? 5000;
  const pause = () => new Promise((r) => setTimeout(r, opts.pauseMs ?? 2000));
  const steps: SustainStep<T>[] = [];
  // The rate unrounded, so that every ramp from one start stays on one grid (start × factor^k).
  let level = opts.startRate;
  let rate = Math.round(level);
  let sustainedRate = 0;
  /** Runs `rate` (twice if it fails the first time): whether it passed. */
  const attempt = async (): Promise<boolean> => {
    for (let retried = false; ; retried = true) {
      const { report, step } = await run(rate);
      const v = stepVerdict(report, explode);
      steps.push({ rate, ...v, step });
      opts.log?.(
        `  ${rate}/s: ${report.throughput}/s, p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms: ${v.why}`,
      );
      await pause();
      if (v.passed || retried) return v.passed;
    }
  };
  while (rate >= 1 && rate <= maxRate && !opts.signal?.aborted) {
    const passed = await attempt();
    if (!passed && sustainedRate === 0) {
      // Nothing has passed yet: down a step.
      level /= opts.factor;
      rate = Math.round(level);
      continue;
    }
    if (!passed) {
      if (opts.refine && sustainedRate > 0 && !opts.signal?.aborted) {
        rate = Math.round((level / opts.factor) * Math.sqrt(opts.factor));
        if (rate > sustainedRate && (await attempt())) sustainedRate = rate;
      }
      break;
    }
    sustainedRate = rate;
    level *= opts.factor;
    rate = Math.round(level);
  }
  return { sustainedRate, steps };
}
