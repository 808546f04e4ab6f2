/**
 * What injected tracing costs the fraud stack. One copy of the stack (small `test` seeds) is
 * deployed in turn as each mode: every service `tracing: false` (off), Rampart's default tracing
 * (on: whole traces, at most 1 new a second per replica, docs/decisions/0007), and, on request,
 * every trace kept (all: `OTEL_TRACES_SAMPLER=parentbased_always_on`). Each visit of a mode is a
 * rolling deploy of the same environment that starts every service afresh, so every mode runs on
 * the same namespaces, database and data, one at a time, from new processes. Each mode starts
 * from the seeded database: the rows earlier ramps added are deleted first (fraud-reset.ts; until
 * session 20 they piled up, ~200,000 a ramp, and slowed whichever mode came later). After each
 * deploy the stack is warmed (the new processes' JIT; a traced service has more code to compile)
 * before it is measured: the sustained rate (open loop, stepped up by `rampFactor` on one grid of
 * rates for every mode until a step fails twice, then halfway back, as issue 3 measures it:
 * sustain.ts), p99 latency at a moderate fixed rate (60/s, where a replica's 1 trace a second is 1
 * order in 60; measured first, after the warm-up and 20 s at that rate: SETTLE_MS), and p99 at
 * the operating point issue 3 measures the stack at (half the rate tracing off sustained in the
 * first round; after the ramp, on the seeded database again, straight after a warm-up at that
 * rate). Until session 17 throughput was measured with 24 orders in flight, which reads in-flight
 * / latency rather than capacity (sustain.ts). Rounds rotate the order (off, on; on, off; ...: a
 * drift over the run weighs on both modes alike), and the medians are compared. Beside the
 * wall-clock figures, the CPU time (user + system from /proc) per answered assessment of the
 * replicas (by service, their children included) and of this process (the daemon and the traffic
 * generator), and the spans stored per assessment.
 *
 * Three copies of the stack side by side (how this bench ran before) differed by up to ±20% with
 * identical settings (an A/A run): a copy's position (which ran first, whose database the page
 * cache held) weighed as much as tracing did.
 *
 *   node --import tsx bench/observe-fraud.ts [--rounds 4] [--step 8s] [--latency 24s] [--warm 90s] [--start 500]
 *                                            [--modes off,on,all]
 *
 * Goals (issue 5): throughput on ≥ 0.90× off, p99 on ≤ 1.10× off (each latency measurement is
 * reported against it); `all`, when measured, is reported beside them.
 */
import { createRequire } from 'node:module';
import { loadavg, uptime } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDocument, type YAMLMap } from 'yaml';
import { fraudStackText } from '../examples/fraud/generator/stack-file.ts';
import {
  parseDurationMs,
  runTrafficApart,
  type TrafficOptions,
  type TrafficReport,
} from '../examples/fraud/generator/traffic.ts';
import { startControlPlaneForTest, testEnvironmentName } from '../src/testing/control-plane.ts';
import { freePort } from '../src/testing/postgres.ts';
import { resetFraudRows } from './fraud-reset.ts';
import { findSustainedRate } from './sustain.ts';
import {
  abortOnInterrupt,
  median,
  privilegeProblem,
  processTable,
  round,
  startSpeedProbe,
  treeCpu,
  writeResult,
  type SpeedReading,
} from './lib.ts';

export interface ObserveFraudBenchOptions {
  /**
   * The modes measured: off and on always (the comparison), `all` on request. @default
   * off and on: every trace kept stores ~3 million spans in a run, fills the trace store to its cap
   * and made the modes after it slower (session 21), so it is measured apart (`--modes off,on,all`).
   */
  modes?: readonly Mode[];
  /** Rounds per mode, the order rotating each round (off, on; on, off; ...). @default 4 */
  rounds?: number;
  /** Length of each step of the sustained-rate ramp. @default 8 s */
  stepMs?: number;
  /**
   * Length of the latency measurement. @default 24 s: 1,440 answers at 60/s, so that p99 is the
   * 15th slowest rather than the 5th (one stall of the VM decided the 8 s steps' p99).
   */
  latencyMs?: number;
  /**
   * The grid of the sustained-rate ramp: startRate × rampFactor^k. A mode's first ramp starts at
   * startRate, later ones two steps below its last sustained rate. @default 500 and 1.1 (so one
   * step below off is 0.909×)
   */
  startRate?: number;
  rampFactor?: number;
  /** Fixed rate of the latency measurement. @default 60 */
  latencyRate?: number;
  /**
   * Rate of the second latency measurement, the fraud stack's operating point as issue 3 measures
   * it. @default half of the throughput tracing off reached in the first round (measured first)
   */
  loadRate?: number;
  /**
   * Traffic after each deploy before anything counts. @default 90 s: a traced request's code runs
   * about once a second per replica, so it warms by time, not by rate. Fresh processes kept getting
   * faster for minutes (session 22, repeated 20 s at 950/s then 24 s at 60/s on one stack: p99 at
   * 60/s tracing on 16.8, 14.1, 12.3, 11.2 ms; off 13.3, 9.9, 10.4, 10.6), and 20 s (until then)
   * measured on at its coldest.
   */
  warmMs?: number;
  /** Rate of the warm-up traffic. @default 150 */
  warmRate?: number;
  signal?: AbortSignal;
  /** @default 'observe-fraud'; `null` writes nothing. */
  resultName?: string | null;
  log?: (line: string) => void;
}

interface ModeFigures {
  /** The sustained rate of each round. */
  throughput: number[];
  /** Each round's ramp: rate, verdict, throughput, p50, p99 and CPU of every step. */
  ramps: {
    rate: number;
    passed: boolean;
    why: string;
    throughput: number;
    p50: number;
    p99: number;
    /** CPU per answered assessment (stack + bench process): the modes compared at one rate. */
    cpuMs: number;
  }[][];
  p99: number[];
  p50: number[];
  /** p99 and p50 at `loadRate`. */
  p99AtLoad: number[];
  p50AtLoad: number[];
  /** The slowest answer of each second of the measurement at `loadRate`. */
  maxBySecondAtLoad: number[][];
  /** The same at `latencyRate`. */
  maxBySecond: number[][];
  errors: number;
  /** CPU time (user + system) per answered assessment, at the sustained rate (its last passed step). */
  cpu: CpuPerAssessment[];
  /** The same in the latency measurement (a moderate rate: what tracing costs when not saturated). */
  cpuAtRate: CpuPerAssessment[];
  /**
   * The machine's speed during each measurement (startSpeedProbe), as the probe's median relative to
   * the quiet machine before the stack came up (1 = as fast; 1.3 = the probe took 30% longer), and
   * how many attempts each latency measurement took (see SLOWER).
   */
  speed: { at60: number[]; atLoad: number[]; ramp: number[]; attempts60: number[]; attemptsLoad: number[] };
}

/** Milliseconds of CPU per answered assessment, by who spent them. */
export interface CpuPerAssessment {
  /** Every replica of the environment (services and PostgreSQL, their children included). */
  stackMs: number;
  /** The bench process: the daemon (OTLP receiver, stores) and the traffic generator. */
  daemonMs: number;
  byService: Record<string, number>;
  /** Spans stored during the measurement, per assessment (at the sustained rate: without waiting
   * for those still queued in the services, so a little low). */
  spans: number;
}

type ModeSummary = ModeFigures & {
  medianThroughput: number;
  medianP99: number;
  medianP99AtLoad: number;
  /** Medians of `cpu` and `cpuAtRate` (stack + daemon, ms per assessment). */
  medianCpuMs: number;
  medianCpuAtRateMs: number;
};

export interface ObserveFraudBenchResult {
  config: Required<Omit<ObserveFraudBenchOptions, 'signal' | 'resultName' | 'log' | 'loadRate' | 'modes'>> & {
    /** The rate of the second latency measurement, as given or as derived from the first round. */
    loadRate: number;
  };
  load: { before: number; after: number };
  /** The speed probe on the quiet machine before the stack came up: what `speed` is relative to. */
  quietSpeed: SpeedReading;
  /** The modes in the order of the first round. */
  modes: Mode[];
  off: ModeSummary;
  on: ModeSummary;
  /** When measured (`modes`). */
  all?: ModeSummary;
  /** on vs off. */
  ratio: Ratios;
  /** all vs off, when measured. */
  ratioAll?: Ratios;
  spansStored: number;
  goals: { throughputAtLeast090: boolean; p99AtMost110: boolean; p99AtLoadAtMost110: boolean };
}

interface Ratios {
  throughput: number;
  p99: number;
  p99AtLoad: number;
  cpuPerAssessment: number;
  cpuPerAssessmentAtRate: number;
}

export type Mode = 'off' | 'on' | 'all';

/** The preload's span batching defaults (its export delay: how long spans wait in a service). */
const PRELOAD_BATCH = (
  createRequire(import.meta.url)('../src/observe/preload/batch.cjs') as { DEFAULTS: { delayMs: number } }
).DEFAULTS;
const MODES: readonly Mode[] = ['off', 'on', 'all'];
const DEFAULT_MODES: readonly Mode[] = ['off', 'on'];
/**
 * Traffic at `latencyRate` before the latency measurement there. Until session 22 the stack stood
 * idle for 5 s instead, and the measurement caught the change from the operating point: with
 * tracing on, its first 10-15 s had a slowest answer a second of 23-49 ms (off 20-22 for 3 s),
 * likely the traced order of each second, which at 60/s runs alone rather than inside batches.
 */
const SETTLE_MS = 20_000;
/** Traffic at the operating point before the ramp and before the measurement there (warm already). */
const REWARM_MS = 10_000;
/**
 * A latency measurement during which the speed probe ran this much slower than on the quiet
 * machine is measured again, at most SPEED_ATTEMPTS times in all, and the attempt on the fastest
 * machine is kept: chosen by the probe, never by the latency. A p99 is decided by a few slow
 * seconds, and the VM has slow spells of minutes that no mode causes (session 21: one mode's
 * whole visit ran with every process, the bench's own included, spending 50-76% more CPU per
 * assessment).
 */
const SLOWER = 1.25;
const SPEED_ATTEMPTS = 3;

/**
 * The fraud stack for a mode (every service opted out of tracing, as is, or keeping every trace)
 * and a visit. Each visit's file differs (`BENCH_VISIT` in every service's environment), so every
 * visit is a deploy that starts every service afresh, the same for every mode: when a mode followed
 * itself (the rotation's off, on; on, off) it kept processes warmed by the round before, which the
 * other mode's visits never had.
 */
function stackFor(mode: Mode, text: string, visit: number): string {
  const doc = parseDocument(text);
  for (const item of (doc.get('services') as YAMLMap).items) {
    const service = item.value as YAMLMap;
    service.setIn(['env', 'BENCH_VISIT'], String(visit));
    if (mode === 'off') service.set('tracing', false);
    else if (mode === 'all') service.setIn(['env', 'OTEL_TRACES_SAMPLER'], 'parentbased_always_on');
  }
  return doc.toString();
}

export async function runObserveFraudBench(
  opts: ObserveFraudBenchOptions = {},
): Promise<ObserveFraudBenchResult> {
  const problem = privilegeProblem();
  if (problem) throw new Error(problem);
  const modes = opts.modes ?? DEFAULT_MODES;
  if (!modes.includes('off') || !modes.includes('on') || modes.some((m) => !MODES.includes(m)))
    throw new Error(
      `observe-fraud: modes must include off and on, from ${MODES.join(', ')}: got ${modes.join(', ')}`,
    );
  const config = {
    rounds: opts.rounds ?? 4,
    stepMs: opts.stepMs ?? 8000,
    latencyMs: opts.latencyMs ?? 24_000,
    startRate: opts.startRate ?? 500,
    rampFactor: opts.rampFactor ?? 1.1,
    latencyRate: opts.latencyRate ?? 60,
    warmMs: opts.warmMs ?? 90_000,
    warmRate: opts.warmRate ?? 150,
  };
  let loadRate = opts.loadRate;
  const log = opts.log ?? (() => undefined);
  const loadBefore = loadavg()[0]!;
  const quiet = startSpeedProbe();
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const quietSpeed = await quiet.stop();
  log(`observe-fraud: speed probe on the quiet machine: ${quietSpeed.medianMs} ms`);
  const cp = await startControlPlaneForTest({ readyTimeoutMs: 10 * 60_000 });
  const environment = testEnvironmentName('obs');
  const actor = { name: 'bench', via: 'bench/observe-fraud.ts' };
  let up = false;
  try {
    const hostPort = await freePort();
    const url = `http://127.0.0.1:${hostPort}`;
    const text = fraudStackText({ environment, hostPort, overlayFrom: 'test' });
    let visit = 0;
    const fileFor = (mode: Mode) => cp.writeStack(stackFor(mode, text, visit), `${mode}-${visit}.yaml`);
    // Up as the last mode, so that the first round's first mode is a real deploy like every other.
    const first = modes[modes.length - 1]!;
    log(`observe-fraud: up ${environment} (tracing ${first})`);
    up = true;
    await cp.daemon.controlPlane.up(
      { file: await fileFor(first), environment, clientEnv: {} },
      () => undefined,
    );
    // The seed is in; every row after this is the benchmark's own, deleted before each mode.
    const seeded = new Date();
    /** A deploy of `mode` that starts every service afresh (stackFor). */
    const visitMode = async (mode: Mode) => {
      visit++;
      const t = performance.now();
      const { record } = await cp.daemon.delivery.deploy(
        { file: await fileFor(mode), environment },
        () => undefined,
        actor,
      );
      if (record.outcome !== 'succeeded')
        throw new Error(`observe-fraud: deploy of tracing ${mode} ended ${record.outcome}`);
      log(`observe-fraud: deployed tracing ${mode} in ${Math.round(performance.now() - t)} ms`);
    };
    const empty = (): ModeFigures => ({
      throughput: [],
      ramps: [],
      p99: [],
      p50: [],
      p99AtLoad: [],
      p50AtLoad: [],
      maxBySecondAtLoad: [],
      maxBySecond: [],
      errors: 0,
      cpu: [],
      cpuAtRate: [],
      speed: { at60: [], atLoad: [], ramp: [], attempts60: [], attemptsLoad: [] },
    });
    const figures: Record<Mode, ModeFigures> = { off: empty(), on: empty(), all: empty() };
    const traces = cp.daemon.observability.observe.traces;
    // CPU of the environment's replicas (by service) and of this process, for per-assessment costs.
    const sample = async () => {
      const replicas = cp.daemon.controlPlane.ps({ environment }).filter((r) => r.pid !== null);
      const cpu = treeCpu(
        await processTable(),
        replicas.map((r) => r.pid!),
      );
      const byService: Record<string, number> = {};
      for (const r of replicas) byService[r.service] = (byService[r.service] ?? 0) + (cpu.get(r.pid!) ?? 0);
      const self = process.cpuUsage();
      return { byService, daemonMs: (self.user + self.system) / 1000, spans: traces.count() };
    };
    const measure = async (run: () => Promise<TrafficReport>, waitForSpans = true) => {
      const before = await sample();
      const report = await run();
      // Spans still in the services' batch queues and on their way: counted with this step.
      if (waitForSpans) await new Promise((resolve) => setTimeout(resolve, PRELOAD_BATCH.delayMs + 500));
      const after = await sample();
      const n = Math.max(1, report.ok);
      const byService: Record<string, number> = {};
      let stack = 0;
      for (const [service, ms] of Object.entries(after.byService)) {
        const used = ms - (before.byService[service] ?? ms);
        byService[service] = round(used / n, 3);
        stack += used;
      }
      const cpu: CpuPerAssessment = {
        stackMs: round(stack / n, 3),
        daemonMs: round((after.daemonMs - before.daemonMs) / n, 3),
        byService,
        spans: round((after.spans - before.spans) / n, 2),
      };
      return { report, cpu };
    };
    const traffic = (
      rate: number,
      durationMs: number,
      more: Pick<TrafficOptions, 'concurrency' | 'timeline'> = {},
    ): Promise<TrafficReport> =>
      // Open loop: a ramp's step gives enough connections that no order waits for one below the
      // stack's capacity.
      runTrafficApart({ url, rate, durationMs, historyOrders: 20_000, ...more, signal: opts.signal });
    const relative = (r: SpeedReading) => round(r.medianMs / quietSpeed.medianMs, 3);
    /** `run` on a machine at its usual speed (SLOWER, SPEED_ATTEMPTS): the value, its speed and attempts. */
    const steady = async <T>(label: string, run: () => Promise<T>) => {
      let best: { value: T; speed: number } | undefined;
      let attempts = 0;
      while (attempts < SPEED_ATTEMPTS) {
        attempts++;
        const probe = startSpeedProbe();
        const value = await run();
        const speed = relative(await probe.stop());
        if (!best || speed < best.speed) best = { value, speed };
        if (speed <= SLOWER) break;
        log(
          `observe-fraud: ${label}: the speed probe ran ${speed}x its quiet time${attempts < SPEED_ATTEMPTS ? ', measuring again' : ''}`,
        );
      }
      return { ...best!, attempts };
    };
    for (let round_ = 0; round_ < config.rounds; round_++) {
      // Rotate which goes first, so none always follows another's aftermath.
      const order = modes.map((_, i) => modes[(i + round_) % modes.length]!);
      for (const mode of order) {
        if (opts.signal?.aborted) throw new Error('interrupted');
        await visitMode(mode);
        // Each mode from the seeded database: the rows of earlier ramps made later modes slower.
        const deleted = await resetFraudRows(cp.daemon.controlPlane.ps({ environment }), seeded);
        log(`observe-fraud: database back to its seed (deleted ${JSON.stringify(deleted)})`);
        // Warm at the operating point once it is known (half of off's first sustained rate), and
        // again for REWARM_MS before the ramp: a stack warmed at 150/s failed a first step at
        // 666/s that it passed when run again (session 17).
        const warm = (ms: number) => traffic(Math.max(config.warmRate, loadRate ?? 0), ms);
        await warm(config.warmMs);
        const f = figures[mode];
        // p99 at the gentle rate before the ramp, on a stack in its steady state at that rate
        // (SETTLE_MS). Measured after the ramp (until session 19) it also caught the aftermath of
        // saturation: the rows and garbage of up to 2,000 assessments a second, in whichever mode
        // ran.
        await traffic(config.latencyRate, SETTLE_MS);
        const lat60 = await steady(`round ${round_ + 1} tracing ${mode} at ${config.latencyRate}/s`, () =>
          measure(() => traffic(config.latencyRate, config.latencyMs, { timeline: true })),
        );
        const lat = lat60.value;
        await warm(REWARM_MS);
        // On one grid for every mode (startRate × rampFactor^k), two steps below this mode's last.
        const last = f.throughput.at(-1);
        const k = last
          ? Math.max(0, Math.round(Math.log(last / config.startRate) / Math.log(config.rampFactor)) - 2)
          : 0;
        log(`observe-fraud: round ${round_ + 1} tracing ${mode}: sustained rate`);
        const rampProbe = startSpeedProbe();
        const ramp = await findSustainedRate(
          async (rate) => {
            const m = await measure(() => traffic(rate, config.stepMs, { concurrency: 512 }), false);
            return { report: m.report, step: m };
          },
          {
            startRate: config.startRate * config.rampFactor ** k,
            factor: config.rampFactor,
            // Halfway between the last pass and the failure too: 4.9% resolution, not 10%.
            refine: true,
            signal: opts.signal,
            log,
          },
        );
        const rampSpeed = relative(await rampProbe.stop());
        const top = ramp.steps.filter((s) => s.passed).at(-1)?.step;
        const sat = top ?? ramp.steps.at(-1)!.step;
        f.ramps.push(
          ramp.steps.map((s) => ({
            rate: s.rate,
            passed: s.passed,
            why: s.why,
            throughput: s.step.report.throughput,
            p50: s.step.report.latencyMs.p50,
            p99: s.step.report.latencyMs.p99,
            cpuMs: round(s.step.cpu.stackMs + s.step.cpu.daemonMs, 3),
          })),
        );
        // Off is the first mode of the first round: half its sustained rate is the operating point.
        loadRate ??= Math.max(1, Math.round(ramp.sustainedRate / 2));
        // p99 at the operating point on the seeded database too, warmed at that rate. Measured
        // straight after the ramp (until session 21) it ran on the ramp's rows, 95,000 to 260,000
        // of them by how far that mode's ramp went, and in the ramp's aftermath (its last steps
        // failed with 503s): p50 was ~25 ms in every mode where a stack at its steady state
        // answered in ~22 ms.
        const reset = await resetFraudRows(cp.daemon.controlPlane.ps({ environment }), seeded);
        log(`observe-fraud: database back to its seed (deleted ${JSON.stringify(reset)})`);
        await warm(REWARM_MS);
        const load = await steady(`round ${round_ + 1} tracing ${mode} at ${loadRate}/s`, () =>
          traffic(loadRate!, config.latencyMs, { timeline: true }),
        );
        const atLoad = load.value;
        // Whether a p99 there is a tail or a stall: the slowest answer of each second.
        const maxBySecond = (r: TrafficReport) => (r.timeline ?? []).map((t) => Math.round(t.max));
        f.maxBySecondAtLoad.push(maxBySecond(atLoad));
        f.maxBySecond.push(maxBySecond(lat.report));
        f.throughput.push(ramp.sustainedRate);
        f.p99.push(lat.report.latencyMs.p99);
        f.p50.push(lat.report.latencyMs.p50);
        f.p99AtLoad.push(atLoad.latencyMs.p99);
        f.p50AtLoad.push(atLoad.latencyMs.p50);
        f.errors += sat.report.errors + lat.report.errors + atLoad.errors;
        f.cpu.push(sat.cpu);
        f.cpuAtRate.push(lat.cpu);
        f.speed.at60.push(lat60.speed);
        f.speed.atLoad.push(load.speed);
        f.speed.ramp.push(rampSpeed);
        f.speed.attempts60.push(lat60.attempts);
        f.speed.attemptsLoad.push(load.attempts);
        log(
          `observe-fraud: round ${round_ + 1} tracing ${mode}: sustained ${ramp.sustainedRate}/s, p99 ${round(lat.report.latencyMs.p99)} ms (p50 ${round(lat.report.latencyMs.p50)}) at ${config.latencyRate}/s, p99 ${round(atLoad.latencyMs.p99)} ms (p50 ${round(atLoad.latencyMs.p50)}) at ${loadRate}/s (load ${round(loadavg()[0]!)})`,
        );
        log(
          `  cpu ms/assessment at the sustained rate: stack ${sat.cpu.stackMs} + bench process ${sat.cpu.daemonMs}, ${sat.cpu.spans} spans; at ${config.latencyRate}/s: stack ${lat.cpu.stackMs} + ${lat.cpu.daemonMs}, ${lat.cpu.spans} spans`,
        );
        log(`  by service (sustained): ${JSON.stringify(sat.cpu.byService)}`);
        log(`  by service (at rate):   ${JSON.stringify(lat.cpu.byService)}`);
        log(`  max ms by second at ${config.latencyRate}/s: ${f.maxBySecond.at(-1)!.join(' ')}`);
        log(`  max ms by second at ${loadRate}/s: ${f.maxBySecondAtLoad.at(-1)!.join(' ')}`);
        log(
          `  machine speed (probe / quiet): ramp ${rampSpeed}, at ${config.latencyRate}/s ${lat60.speed} (${lat60.attempts} attempts), at ${loadRate}/s ${load.speed} (${load.attempts})`,
        );
      }
    }
    const total = (c: CpuPerAssessment) => c.stackMs + c.daemonMs;
    const summary = (f: ModeFigures): ModeSummary => ({
      ...f,
      medianThroughput: median(f.throughput),
      medianP99: median(f.p99),
      medianP99AtLoad: median(f.p99AtLoad),
      medianCpuMs: round(median(f.cpu.map(total)), 3),
      medianCpuAtRateMs: round(median(f.cpuAtRate.map(total)), 3),
    });
    const off = summary(figures.off);
    const on = summary(figures.on);
    const all = modes.includes('all') ? summary(figures.all) : undefined;
    const ratios = (x: ModeSummary): Ratios => ({
      throughput: round(x.medianThroughput / off.medianThroughput, 3),
      p99: round(x.medianP99 / off.medianP99, 3),
      p99AtLoad: round(x.medianP99AtLoad / off.medianP99AtLoad, 3),
      cpuPerAssessment: round(x.medianCpuMs / off.medianCpuMs, 3),
      cpuPerAssessmentAtRate: round(x.medianCpuAtRateMs / off.medianCpuAtRateMs, 3),
    });
    const ratio = ratios(on);
    const ratioAll = all && ratios(all);
    const spansStored = cp.daemon.observability.observe.traces.count();
    const result: ObserveFraudBenchResult = {
      config: { ...config, loadRate: loadRate ?? 0 },
      load: { before: loadBefore, after: loadavg()[0]! },
      quietSpeed,
      modes: [...modes],
      off,
      on,
      ...(all && ratioAll ? { all, ratioAll } : {}),
      ratio,
      spansStored,
      goals: {
        throughputAtLeast090: ratio.throughput >= 0.9,
        p99AtMost110: ratio.p99 <= 1.1,
        p99AtLoadAtMost110: ratio.p99AtLoad <= 1.1,
      },
    };
    if (opts.resultName !== null) await writeResult(opts.resultName ?? 'observe-fraud', result);
    return result;
  } finally {
    if (up)
      await cp.daemon.controlPlane
        .down({ environment }, () => undefined)
        // Said, not thrown over the run's own error: a failed down leaves the environment's
        // ownership marker in /run/rampart/environments (`rampart down -e <env>` clears it).
        .catch((error: unknown) =>
          log(`observe-fraud: down ${environment} failed: ${(error as Error).message ?? String(error)}`),
        );
    await cp.stop({ removeState: true });
  }
}

interface SummaryRow {
  measure: string;
  rampart: number;
  baseline: number;
  ratio: number;
  goal?: { op: '<=' | '>='; value: number };
}

/** The side-by-side rows for `npm run bench`'s summary table. */
export function observeFraudSummaryRows(r: ObserveFraudBenchResult): SummaryRow[] {
  const rows: SummaryRow[] = [
    {
      measure: 'fraud sustained assessments/s, tracing on (vs off)',
      rampart: round(r.on.medianThroughput),
      baseline: round(r.off.medianThroughput),
      ratio: r.ratio.throughput,
      goal: { op: '>=', value: 0.9 },
    },
    {
      measure: `fraud p99 ms at ${r.config.latencyRate}/s, tracing on (vs off)`,
      rampart: round(r.on.medianP99),
      baseline: round(r.off.medianP99),
      ratio: r.ratio.p99,
      goal: { op: '<=', value: 1.1 },
    },
    {
      measure: `fraud p99 ms at ${r.config.loadRate}/s (half of off's sustained rate), tracing on (vs off)`,
      rampart: round(r.on.medianP99AtLoad),
      baseline: round(r.off.medianP99AtLoad),
      ratio: r.ratio.p99AtLoad,
      goal: { op: '<=', value: 1.1 },
    },
  ];
  if (!r.all || !r.ratioAll) return rows;
  return [
    ...rows,
    {
      measure: 'fraud sustained assessments/s, every trace kept (vs off)',
      rampart: round(r.all.medianThroughput),
      baseline: round(r.off.medianThroughput),
      ratio: r.ratioAll.throughput,
    },
    {
      measure: `fraud p99 ms at ${r.config.latencyRate}/s, every trace kept (vs off)`,
      rampart: round(r.all.medianP99),
      baseline: round(r.off.medianP99),
      ratio: r.ratioAll.p99,
    },
    {
      measure: `fraud p99 ms at ${r.config.loadRate}/s (half of off's sustained rate), every trace kept (vs off)`,
      rampart: round(r.all.medianP99AtLoad),
      baseline: round(r.off.medianP99AtLoad),
      ratio: r.ratioAll.p99AtLoad,
    },
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      step: { type: 'string' },
      latency: { type: 'string' },
      warm: { type: 'string' },
      start: { type: 'string' },
      modes: { type: 'string' },
    },
  });
  const r = await runObserveFraudBench({
    ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
    ...(values.step ? { stepMs: parseDurationMs(values.step) } : {}),
    ...(values.latency ? { latencyMs: parseDurationMs(values.latency) } : {}),
    ...(values.warm ? { warmMs: parseDurationMs(values.warm) } : {}),
    ...(values.start ? { startRate: Number(values.start) } : {}),
    ...(values.modes ? { modes: values.modes.split(',') as Mode[] } : {}),
    signal: abortOnInterrupt(),
    log: (line) => console.error(line),
  });
  console.log(
    `tracing off: ${round(r.off.medianThroughput)}/s, p99 ${round(r.off.medianP99)} ms, ${round(r.off.medianP99AtLoad)} ms at ${r.config.loadRate}/s\n` +
      `tracing on:  ${round(r.on.medianThroughput)}/s, p99 ${round(r.on.medianP99)} ms, ${round(r.on.medianP99AtLoad)} ms at ${r.config.loadRate}/s\n` +
      (r.all && r.ratioAll
        ? `every trace: ${round(r.all.medianThroughput)}/s, p99 ${round(r.all.medianP99)} ms (${r.ratioAll.throughput}x, ${r.ratioAll.p99}x)\n`
        : '') +
      `ratio: throughput ${r.ratio.throughput}x (goal >= 0.90), p99 ${r.ratio.p99}x at ${r.config.latencyRate}/s and ${r.ratio.p99AtLoad}x at ${r.config.loadRate}/s (goal <= 1.10); load ${round(r.load.before)} -> ${round(r.load.after)}, uptime ${Math.round(uptime())} s\n` +
      `cpu per assessment (stack + bench process), at the sustained rate: off ${r.off.medianCpuMs} ms, on ${r.on.medianCpuMs} ms (${r.ratio.cpuPerAssessment}x); at ${r.config.latencyRate}/s: off ${r.off.medianCpuAtRateMs} ms, on ${r.on.medianCpuAtRateMs} ms (${r.ratio.cpuPerAssessmentAtRate}x)`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
