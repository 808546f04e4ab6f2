/**
 * Delivery on the fraud stack, end to end through the daemon (issue 6):
 *
 * - **env create**: the time to create a full environment of the fraud stack from its stack file
 *   (`env create` with the stack's small `test` seed: networks, namespaces, PostgreSQL initdb and
 *   provisioning, the services seeding their tables, every replica healthy). Goal ≤ 30 s.
 * - **deploy**: the time to deploy a one-line change to one service (`scoring`): plan, hash, release
 *   copy, rolling update (new replica healthy and in the VIP, old one drained and stopped). Goal
 *   ≤ 5 s. Baseline: starting the same service's new process by hand (`node --import tsx
 *   server.ts` on loopback, polled until `/healthz` answers), the floor any deploy pays.
 * - **failed requests** of a steady order stream through the published gateway during that
 *   rolling update, at 50% of the sustained rate (`bench fraud`'s last figure). Goal 0. Baseline:
 *   the same stream during a stop-then-start restart of the service (`rampart restart scoring`),
 *   the deploy a rolling update replaces.
 *
 * Works on a private copy of examples/fraud (the change is made there, never in the repository).
 * Writes bench/results/delivery.json.
 *
 *   node --import tsx bench/delivery.ts [--rate 32]
 *
 * Needs root. Not a test: it measures and reports, it never asserts on speed.
 */
import { spawn } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { fraudStackText } from '../examples/fraud/generator/stack-file.ts';
import { runTrafficApart, type TrafficReport } from '../examples/fraud/generator/traffic.ts';
import { startControlPlaneForTest, testEnvironmentName } from '../src/testing/control-plane.ts';
import { copyFraudFolder, freeLocalPort } from '../src/testing/fraud-stack.ts';
import {
  RESULTS_DIR,
  abortOnInterrupt,
  cpuSince,
  cpuTimes,
  privilegeProblem,
  round,
  since,
  writeResult,
} from './lib.ts';

type TrafficFigures = Pick<TrafficReport, 'sent' | 'ok' | 'errors' | 'errorsByStatus' | 'latencyMs'>;

export interface DeliveryBenchResult {
  loadBefore: number[];
  loadAfter: number[];
  envCreateMs: number;
  /** Daemon + children CPU time during env create (steadier than wall time on a busy machine). */
  envCreateCpuMs: number;
  /** A one-line change to scoring deployed with no traffic: the deploy's own time (goal <= 5 s). */
  deployMs: number;
  deployOutcome: string;
  /** Another one-line change deployed under `rate` orders/s: the rolling update whose orders count. */
  deployUnderLoadMs: number;
  deployUnderLoadOutcome: string;
  /** Baseline: the service's new process started by hand until /healthz answers. */
  bareStartMs: number;
  /** Orders per second during the update, and where that figure came from. */
  rate: number;
  rateSource: string;
  /** The order stream during the rolling update. */
  traffic: TrafficFigures;
  /** Baseline: the same stream during a stop-then-start restart of the service. */
  restart: { ms: number; traffic: TrafficFigures };
  progress: string[];
}

const figures = (r: TrafficReport): TrafficFigures => ({
  sent: r.sent,
  ok: r.ok,
  errors: r.errors,
  errorsByStatus: r.errorsByStatus,
  latencyMs: r.latencyMs,
});

/** Half of the sustained rate `bench fraud` measured last on this machine; 50/s without one. */
async function halfSustainedRate(): Promise<{ rate: number; source: string }> {
  try {
    const last = JSON.parse(await readFile(join(RESULTS_DIR, 'fraud.json'), 'utf8')) as {
      machine?: { date?: string };
      result?: { sustainedRate?: number };
    };
    const sustained = last.result?.sustainedRate;
    if (sustained && sustained > 0)
      return {
        rate: Math.max(1, Math.round(sustained / 2)),
        source: `half of ${sustained}/s sustained (bench fraud, ${last.machine?.date ?? '?'})`,
      };
  } catch {
    // no fraud result yet
  }
  return { rate: 50, source: 'default (no bench/results/fraud.json)' };
}

/** Spawns `node --import tsx server.ts` in `cwd` on a free loopback port; ms until /healthz is 200. */
async function bareStart(cwd: string, timeoutMs = 60_000): Promise<number> {
  const port = await freeLocalPort(1024);
  const start = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd,
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`bare start: exited with ${child.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return since(start);
      if (performance.now() - start > timeoutMs)
        throw new Error(`bare start: not healthy in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.kill('SIGTERM');
  }
}

/** Runs `action` while orders stream to `url` (settling 2 s before, 2 s after). */
async function underTraffic<T>(
  url: string,
  rate: number,
  signal: AbortSignal | undefined,
  action: () => Promise<T>,
): Promise<{ value: T; ms: number; traffic: TrafficReport }> {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal?.addEventListener('abort', onAbort);
  const traffic = runTrafficApart({
    url,
    rate,
    durationMs: 300_000,
    historyOrders: 20_000,
    signal: abort.signal,
  });
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const start = performance.now();
    const value = await action();
    const ms = since(start);
    await new Promise((r) => setTimeout(r, 2000));
    abort.abort();
    return { value, ms, traffic: await traffic };
  } finally {
    abort.abort();
    signal?.removeEventListener('abort', onAbort);
    await traffic.catch(() => undefined);
  }
}

export async function runDeliveryBench(
  opts: { rate?: number; log?: (line: string) => void; signal?: AbortSignal } = {},
): Promise<DeliveryBenchResult> {
  const log = opts.log ?? console.log;
  const { rate, source: rateSource } = opts.rate
    ? { rate: opts.rate, source: '--rate' }
    : await halfSustainedRate();
  const loadBefore = loadavg().map((x) => round(x, 2));
  const cpTest = await startControlPlaneForTest({ readyTimeoutMs: 240_000, tracing: false });
  const env = testEnvironmentName('bd');
  const progress: string[] = [];
  const t0 = performance.now();
  const note = (m: string) => progress.push(`${Math.round(performance.now() - t0)} ${m}`);
  const delivery = cpTest.daemon.delivery;
  const actor = { name: 'bench', via: 'bench/delivery.ts' };
  try {
    // A private copy of the fraud stack: the one-line change is made there.
    const copy = await copyFraudFolder(cpTest.stateDir);
    const port = await freeLocalPort(8080);
    const text = fraudStackText({ environment: 'bench', hostPort: 8080, overlayFrom: 'test' }).replaceAll(
      new URL('../examples/fraud/', import.meta.url).pathname,
      `${copy}/`,
    );
    const file = join(copy, 'rampart.yaml');
    await writeFile(file, text);
    const url = `http://127.0.0.1:${port}`;

    log(`env create ${env} (fraud stack, test seed)...`);
    const cpu = cpuTimes();
    const start = performance.now();
    await delivery.createEnvironment(
      { name: env, file, overlay: 'test', portOffset: port - 8080 },
      note,
      actor,
    );
    const envCreateMs = since(start);
    // The daemon runs in this process; its replicas are not our children until reaped, so this is
    // the control plane's own CPU plus the short-lived commands it ran (ip, nft, initdb...).
    const envCreateCpuMs = cpuSince(cpu).totalMs;
    log(`  ${envCreateMs} ms (control plane CPU ${envCreateCpuMs} ms)`);
    if (opts.signal?.aborted) throw new Error('interrupted');

    const scoringDir = join(copy, 'services', 'scoring');
    log('baseline: scoring started by hand until /healthz answers...');
    const bareStartMs = await bareStart(scoringDir);
    log(`  ${bareStartMs} ms`);

    const deployScoring = () =>
      delivery.deploy({ file, environment: env, services: ['scoring'] }, note, actor).then(
        (r) => r.record.outcome as string,
        (error: Error) => `failed: ${error.message}`,
      );
    log('deploy scoring (one-line change), no traffic...');
    await appendFile(join(scoringDir, 'server.ts'), `log('info', 'bench change ${Date.now()}');\n`);
    const idleStart = performance.now();
    const deployOutcome = await deployScoring();
    const deployMs = since(idleStart);
    log(`  ${deployMs} ms, ${deployOutcome}`);
    if (opts.signal?.aborted) throw new Error('interrupted');

    log(`deploy scoring (another one-line change) under ${rate} orders/s (${rateSource})...`);
    await appendFile(join(scoringDir, 'server.ts'), `log('info', 'bench change ${Date.now()}');\n`);
    const deployed = await underTraffic(url, rate, opts.signal, deployScoring);
    log(
      `  ${deployed.ms} ms, ${deployed.value}; ${deployed.traffic.sent} orders, ${deployed.traffic.errors} failed`,
    );
    if (opts.signal?.aborted) throw new Error('interrupted');

    log(`baseline: stop-then-start restart of scoring under ${rate} orders/s...`);
    const restarted = await underTraffic(url, rate, opts.signal, () =>
      cpTest.daemon.controlPlane.restart({ environment: env, service: 'scoring' }, note),
    );
    log(`  ${restarted.ms} ms; ${restarted.traffic.sent} orders, ${restarted.traffic.errors} failed`);

    const result: DeliveryBenchResult = {
      loadBefore,
      loadAfter: loadavg().map((x) => round(x, 2)),
      envCreateMs,
      envCreateCpuMs,
      deployMs,
      deployOutcome,
      deployUnderLoadMs: deployed.ms,
      deployUnderLoadOutcome: deployed.value,
      bareStartMs,
      rate,
      rateSource,
      traffic: figures(deployed.traffic),
      restart: { ms: restarted.ms, traffic: figures(restarted.traffic) },
      progress,
    };
    await writeResult('delivery', result);
    return result;
  } finally {
    await delivery.destroyEnvironment({ name: env }, () => undefined).catch(() => undefined);
    await cpTest.stop({ removeState: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const problem = privilegeProblem();
  if (problem) {
    console.error(problem);
    process.exit(2);
  }
  const { values } = parseArgs({ options: { rate: { type: 'string' } } });
  const r = await runDeliveryBench({
    rate: values.rate ? Number(values.rate) : undefined,
    signal: abortOnInterrupt(),
  });
  console.log(
    JSON.stringify({
      loadBefore: r.loadBefore,
      loadAfter: r.loadAfter,
      envCreateMs: r.envCreateMs,
      deployMs: r.deployMs,
      deployOutcome: r.deployOutcome,
      deployUnderLoadMs: r.deployUnderLoadMs,
      bareStartMs: r.bareStartMs,
      rate: r.rate,
      failed: r.traffic.errors,
      sent: r.traffic.sent,
      restartFailed: r.restart.traffic.errors,
      restartSent: r.restart.traffic.sent,
    }),
  );
}
