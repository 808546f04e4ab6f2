/**
 * What does isolation cost at start-up? The time for `up` to bring 10 services x 2 replicas to
 * healthy, each replica in its own network namespace on the app bridge behind an nftables VIP,
 * against the same 20 processes started without namespaces (plain `node svc.mjs` on distinct
 * ports of the host), probed by the same health check at the same cadence. The goal's side runs the
 * services with `tracing: false`, so both start the same processes and the ratio is what isolation
 * costs; a third side runs Rampart's default, the OpenTelemetry SDK preloaded into every Node
 * service (~0.2-0.3 s of CPU per process here), reported beside it. Rounds rotate which side goes
 * first so drift (page cache, CPU frequency) favours none. Also times `down` against
 * killing the plain processes, counts CPU time (steadier than wall time on a shared host), and
 * traces every subprocess the daemon runs, so a miss can be explained from the JSON alone. Writes
 * bench/results/up.json.
 *
 *   node --import tsx bench/up.ts [--rounds 3]
 *
 * Needs root. Not a test: it measures and reports, it never asserts on speed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolveDaemonConfig } from '../src/config/daemon-config.ts';
import { realExec } from '../src/platform/exec.ts';
import { probe } from '../src/runtime/health.ts';
import { startDaemon, type RunningDaemon } from '../src/server/serve.ts';
import type { ResolvedHealthCheck } from '../src/stack/types.ts';
import type { EventRecord } from '../src/store/types.ts';
import { testEnvironmentName } from '../src/testing/control-plane.ts';
import {
  abortOnInterrupt,
  cpuSince,
  cpuTimes,
  median,
  privilegeProblem,
  printTable,
  round,
  since,
  summariseSpans,
  tracingExec,
  writeResult,
  type ExecSummary,
} from './lib.ts';

export interface UpBenchOptions {
  /** Measured rounds per side, after one unmeasured warm-up round of each. @default 3 */
  rounds?: number;
  /** @default 10 */
  services?: number;
  /** Replicas per service. @default 2 */
  replicas?: number;
  /** Health check interval of the stack. @default 200 */
  healthIntervalMs?: number;
  /** Stops before the next round; what was made is still removed. */
  signal?: AbortSignal;
  /** Name under bench/results/; `null` writes nothing. @default 'up' */
  resultName?: string | null;
  log?: (line: string) => void;
}

export interface RampartRound {
  round: number;
  environment: string;
  upMs: number;
  downMs: number;
  /** CPU time, up through down: the daemon (`selfMs`) and every process it ran, services included. */
  cpu: CpuTime;
  /** Offsets from the call to `up`, in ms, over all replicas. */
  timeline: {
    /** Bridges and nft table ready: the first replica's `starting` progress line. */
    networkReadyMs: number;
    /** The last replica's process was spawned (its namespace was ready before). */
    lastSpawnedMs: number;
    firstHealthyMs: number;
    lastHealthyMs: number;
    /** Median over replicas of spawn → healthy. */
    spawnToHealthyMedianMs: number;
  };
  /** Every subprocess the daemon ran during `up`. */
  exec: ExecSummary;
  downExec: ExecSummary;
}

export interface CpuTime {
  totalMs: number;
  selfMs: number;
  childrenMs: number;
}

export interface BaselineRound {
  round: number;
  upMs: number;
  downMs: number;
  /** CPU time, start through kill: the probing (`selfMs`) and the processes (`childrenMs`). */
  cpu: CpuTime;
  spawnToHealthyMedianMs: number;
}

export interface UpBenchResult {
  config: {
    services: number;
    replicas: number;
    healthIntervalMs: number;
    baselinePollMs: number;
    rounds: number;
  };
  /**
   * The services opted out of injected tracing (`tracing: false`): the same 20 processes as the
   * baseline, so the ratio is what isolation costs.
   */
  rampart: { upMedianMs: number; downMedianMs: number; cpuMedianMs: number; rounds: RampartRound[] };
  /** Rampart's default: every Node service starts with the OpenTelemetry SDK preloaded. */
  rampartTraced: { upMedianMs: number; downMedianMs: number; cpuMedianMs: number; rounds: RampartRound[] };
  baseline: { upMedianMs: number; downMedianMs: number; cpuMedianMs: number; rounds: BaselineRound[] };
  /** rampart / baseline of the medians; the goal for up is <= 1.5. */
  ratio: { up: number; down: number; cpu: number };
  /** rampartTraced / baseline: isolation plus loading the tracing SDK in every process. */
  ratioTraced: { up: number; down: number; cpu: number };
}

const SVC_DIR = fileURLToPath(new URL('../test/fixtures/foundation', import.meta.url));
const SVC_FILE = join(SVC_DIR, 'svc.mjs');
const READY_TIMEOUT_MS = 30_000;
const PROBE_TIMEOUT_MS = 1000;

export function benchStack(opts: {
  services: number;
  replicas: number;
  healthIntervalMs: number;
  /** @default true (Rampart's default) */
  tracing?: boolean;
}): string {
  const lines = ['version: 1', 'name: bench', 'services:'];
  for (let i = 0; i < opts.services; i++) {
    lines.push(
      `  s${String(i).padStart(2, '0')}:`,
      '    command: [node, svc.mjs]',
      `    workdir: ${SVC_DIR}`,
      `    replicas: ${opts.replicas}`,
      '    ports: [{ name: http, port: 8080 }]',
      '    networks: [app]',
      `    health: { http: { path: /healthz, port: http }, interval: ${opts.healthIntervalMs}ms, timeout: ${PROBE_TIMEOUT_MS}ms }`,
      ...(opts.tracing === false ? ['    tracing: false'] : []),
    );
  }
  return `${lines.join('\n')}\n`;
}

async function freePorts(n: number): Promise<number[]> {
  // Hold every socket until all are bound, so no port is handed out twice.
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer().listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * Probes like the supervisor does before a replica's first success: at once, then every
 * min(100 ms, interval) (src/runtime/supervisor.ts `startHealth`), with the same `probe` function.
 */
async function waitHealthy(
  check: ResolvedHealthCheck,
  port: number,
  pollMs: number,
  deadline: number,
): Promise<void> {
  for (;;) {
    const r = await probe({ ...check, http: { path: '/healthz', port } }, '127.0.0.1');
    if (r.ok) return;
    if (performance.now() > deadline)
      throw new Error(`baseline: 127.0.0.1:${port} not healthy in time (${r.detail})`);
    // Like the supervisor: the next probe is scheduled when the previous one has answered.
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

async function killAll(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((c) => {
      if (c.exitCode !== null || c.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => c.once('exit', resolve));
      const force = setTimeout(() => c.kill('SIGKILL'), 5000);
      c.kill('SIGTERM');
      return exited.finally(() => clearTimeout(force));
    }),
  );
}

async function baselineRound(
  index: number,
  opts: { count: number; check: ResolvedHealthCheck; pollMs: number },
): Promise<BaselineRound> {
  const ports = await freePorts(opts.count);
  const children: ChildProcess[] = [];
  const healthyAfter: number[] = [];
  try {
    const cpu0 = cpuTimes();
    const t0 = performance.now();
    const deadline = t0 + READY_TIMEOUT_MS;
    await Promise.all(
      ports.map(async (port, i) => {
        const child = spawn(process.execPath, [SVC_FILE], {
          cwd: SVC_DIR,
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            PORT: String(port),
            RAMPART_REPLICA_ID: `baseline/${i}`,
          },
          stdio: 'ignore',
        });
        children.push(child);
        await new Promise<void>((resolve, reject) => {
          child.once('spawn', resolve);
          child.once('error', reject);
        });
        const spawnedAt = performance.now();
        await waitHealthy(opts.check, port, opts.pollMs, deadline);
        healthyAfter.push(performance.now() - spawnedAt);
      }),
    );
    const upMs = since(t0);
    const d0 = performance.now();
    await killAll(children);
    const downMs = since(d0);
    return {
      round: index,
      upMs,
      downMs,
      cpu: cpuSince(cpu0),
      spawnToHealthyMedianMs: round(median(healthyAfter)),
    };
  } finally {
    await killAll(children);
  }
}

interface BenchDaemon {
  daemon: RunningDaemon;
  exec: ReturnType<typeof tracingExec>;
  /** The stack with `tracing: false` on every service, and as is (Rampart's default). */
  stackFiles: { untraced: string; traced: string };
  close(): Promise<void>;
}

/** Like `startControlPlaneForTest`, with a tracing Exec so the report can say where time goes. */
async function startBenchDaemon(stacks: { untraced: string; traced: string }): Promise<BenchDaemon> {
  const stateDir = await mkdtemp(join(tmpdir(), 'rampart-bench-'));
  // The service user must traverse it to reach its log folder.
  await chmod(stateDir, 0o711);
  try {
    const exec = tracingExec(realExec);
    const daemon = await startDaemon(resolveDaemonConfig({ RAMPART_HOME: stateDir, RAMPART_PORT: '0' }), {
      exec,
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    await mkdir(join(stateDir, 'stacks'), { mode: 0o755 });
    const stackFiles = {
      untraced: join(stateDir, 'stacks', 'untraced.yaml'),
      traced: join(stateDir, 'stacks', 'rampart.yaml'),
    };
    await writeFile(stackFiles.untraced, stacks.untraced);
    await writeFile(stackFiles.traced, stacks.traced);
    return {
      daemon,
      exec,
      stackFiles,
      async close() {
        await daemon.close();
        await rm(stateDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
}

async function rampartRound(index: number, bench: BenchDaemon, stackFile: string): Promise<RampartRound> {
  const cp = bench.daemon.controlPlane;
  const environment = testEnvironmentName('b');
  const events: EventRecord[] = [];
  const progress: { at: number; message: string }[] = [];
  const stopEvents = cp.onEvent((e) => e.environment === environment && events.push(e));
  bench.exec.spans.length = 0;
  let downMs = Number.NaN;
  let upMs = Number.NaN;
  const wallStart = Date.now();
  try {
    const cpu0 = cpuTimes();
    const t0 = performance.now();
    await cp.up({ file: stackFile, environment, clientEnv: {} }, (message) =>
      progress.push({ at: performance.now() - t0, message }),
    );
    upMs = since(t0);
    const upSpans = bench.exec.spans.filter((s) => s.start - t0 <= upMs);
    // Events are delivered after the store write: let the last ones land.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const spawned = new Map(
      events
        .filter((e) => e.kind === 'replica.transition' && e.message.startsWith('started pid'))
        .map((e) => [e.subject, e.time - wallStart]),
    );
    const healthy = events.filter((e) => e.kind === 'replica.health' && e.message.startsWith('healthy'));
    const firstReplicaLine = progress.find((p) => / starting \(/.test(p.message));
    const timeline = {
      networkReadyMs: round(firstReplicaLine?.at ?? Number.NaN),
      lastSpawnedMs: Math.max(...spawned.values()),
      firstHealthyMs: Math.min(...healthy.map((e) => e.time - wallStart)),
      lastHealthyMs: Math.max(...healthy.map((e) => e.time - wallStart)),
      spawnToHealthyMedianMs: median(
        healthy.map((e) => e.time - wallStart - (spawned.get(e.subject) ?? Number.NaN)),
      ),
    };
    const exec = summariseSpans(upSpans);
    bench.exec.spans.length = 0;
    const d0 = performance.now();
    await cp.down({ environment }, () => undefined);
    downMs = since(d0);
    return {
      round: index,
      environment,
      upMs,
      downMs,
      cpu: cpuSince(cpu0),
      timeline,
      exec,
      downExec: summariseSpans(bench.exec.spans),
    };
  } finally {
    stopEvents();
    if (Number.isNaN(downMs)) await cp.down({ environment }, () => undefined);
  }
}

export async function runUpBench(opts: UpBenchOptions = {}): Promise<UpBenchResult> {
  const problem = privilegeProblem();
  if (problem) throw new Error(problem);
  const log = opts.log ?? ((line: string) => console.log(line));
  const rounds = opts.rounds ?? 3;
  const services = opts.services ?? 10;
  const replicas = opts.replicas ?? 2;
  const healthIntervalMs = opts.healthIntervalMs ?? 200;
  const baselinePollMs = Math.min(100, healthIntervalMs);
  const check: ResolvedHealthCheck = {
    http: { path: '/healthz', port: 0 },
    intervalMs: healthIntervalMs,
    timeoutMs: PROBE_TIMEOUT_MS,
    healthyThreshold: 1,
    unhealthyThreshold: 3,
    startPeriodMs: 0,
  };
  const count = services * replicas;
  const bench = await startBenchDaemon({
    untraced: benchStack({ services, replicas, healthIntervalMs, tracing: false }),
    traced: benchStack({ services, replicas, healthIntervalMs }),
  });
  const rampart: RampartRound[] = [];
  const rampartTraced: RampartRound[] = [];
  const baseline: BaselineRound[] = [];
  try {
    log(
      `up: ${services} services x ${replicas} replicas, health every ${healthIntervalMs} ms; warm-up round, then ${rounds} rounds each`,
    );
    await baselineRound(0, { count, check, pollMs: baselinePollMs });
    opts.signal?.throwIfAborted();
    await rampartRound(0, bench, bench.stackFiles.untraced);
    await rampartRound(0, bench, bench.stackFiles.traced);
    const sides = ['baseline', 'rampart', 'traced'] as const;
    for (let n = 1; n <= rounds; n++) {
      opts.signal?.throwIfAborted();
      // Rotate which side goes first, so drift over time does not favour one of them.
      const order = sides.map((_, i) => sides[(i + n) % sides.length]!);
      for (const side of order) {
        if (side === 'baseline') {
          const r = await baselineRound(n, { count, check, pollMs: baselinePollMs });
          baseline.push(r);
          log(
            `  round ${n} baseline: up ${r.upMs} ms, down ${r.downMs} ms, CPU ${r.cpu.totalMs} ms (${r.cpu.childrenMs} in children)`,
          );
        } else {
          const traced = side === 'traced';
          const r = await rampartRound(n, bench, bench.stackFiles[traced ? 'traced' : 'untraced']);
          (traced ? rampartTraced : rampart).push(r);
          log(
            `  round ${n} ${traced ? 'rampart, tracing injected' : 'rampart'}:  up ${r.upMs} ms, down ${r.downMs} ms, CPU ${r.cpu.totalMs} ms (${r.cpu.childrenMs} in children; network ${r.timeline.networkReadyMs} ms, last spawn ${r.timeline.lastSpawnedMs} ms, ` +
              `${r.exec.calls} exec calls, busy ${r.exec.busyMs} ms, peak ${r.exec.peakConcurrency} at once)`,
          );
        }
      }
    }
  } finally {
    await bench.close();
  }

  const medians = <R extends { upMs: number; downMs: number; cpu: CpuTime }>(rs: R[]) => ({
    upMedianMs: round(median(rs.map((r) => r.upMs))),
    downMedianMs: round(median(rs.map((r) => r.downMs))),
    cpuMedianMs: round(median(rs.map((r) => r.cpu.totalMs))),
    rounds: rs,
  });
  const base = medians(baseline);
  const ratioOf = (side: { upMedianMs: number; downMedianMs: number; cpuMedianMs: number }) => ({
    up: round(side.upMedianMs / base.upMedianMs, 2),
    down: round(side.downMedianMs / base.downMedianMs, 2),
    cpu: round(side.cpuMedianMs / base.cpuMedianMs, 2),
  });
  const untracedSide = medians(rampart);
  const tracedSide = medians(rampartTraced);
  const result: UpBenchResult = {
    config: { services, replicas, healthIntervalMs, baselinePollMs, rounds },
    rampart: untracedSide,
    rampartTraced: tracedSide,
    baseline: base,
    ratio: ratioOf(untracedSide),
    ratioTraced: ratioOf(tracedSide),
  };
  if (opts.resultName !== null) await writeResult(opts.resultName ?? 'up', result);
  printTable(
    [
      {
        measure: `up ${services}x${replicas} (ms)`,
        rampart: result.rampart.upMedianMs,
        baseline: result.baseline.upMedianMs,
        ratio: result.ratio.up,
      },
      {
        measure: `down ${services}x${replicas} (ms)`,
        rampart: result.rampart.downMedianMs,
        baseline: result.baseline.downMedianMs,
        ratio: result.ratio.down,
      },
      {
        measure: 'CPU, up through down (ms)',
        rampart: result.rampart.cpuMedianMs,
        baseline: result.baseline.cpuMedianMs,
        ratio: result.ratio.cpu,
      },
      {
        measure: `up ${services}x${replicas}, tracing injected (ms)`,
        rampart: result.rampartTraced.upMedianMs,
        baseline: result.baseline.upMedianMs,
        ratio: result.ratioTraced.up,
      },
      {
        measure: 'CPU, up through down, tracing injected (ms)',
        rampart: result.rampartTraced.cpuMedianMs,
        baseline: result.baseline.cpuMedianMs,
        ratio: result.ratioTraced.cpu,
      },
    ],
    log,
  );
  const last = rampart.at(-1);
  if (last) {
    for (const [what, summary] of [
      ['up', last.exec],
      ['down', last.downExec],
    ] as const) {
      log(
        `\nsubprocesses during the last rampart ${what}: ${summary.calls}, ${summary.busyMs} ms of wall time with one running, up to ${summary.peakConcurrency} at once (top 6 by summed time):`,
      );
      printTable(
        summary.byCommand.slice(0, 6).map((s) => ({ ...s })),
        log,
      );
    }
  }
  return result;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const problem = privilegeProblem();
  if (problem) {
    console.error(`bench: ${problem}`);
    process.exitCode = 2;
  } else {
    const signal = abortOnInterrupt();
    runUpBench({ rounds: argValue('rounds') ? Number(argValue('rounds')) : undefined, signal }).catch(
      (error: unknown) => {
        if (signal.aborted) {
          console.error('up: interrupted; what it made is removed');
          process.exitCode = 130;
          return;
        }
        console.error(error);
        process.exitCode = 1;
      },
    );
  }
}
