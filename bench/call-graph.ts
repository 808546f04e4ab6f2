/**
 * The floor under the fraud benchmark's latency: the fraud stack's call graph with services that
 * do nothing but move JSON (bench/fixtures/call-graph-service.mjs), as plain processes on
 * loopback, with no Rampart, no tracing, no database and no batching, driven by the same traffic
 * generator at the same rate. What the fraud stack adds on top of it is what its services, its
 * database and the platform cost; what the floor itself costs is what this machine charges for
 * 10 Node processes passing 8-9 HTTP calls per assessment.
 *
 *   node --import tsx bench/call-graph.ts [--rates 150,300,600] [--measure 30s]
 *
 * Needs no root. Measures and reports; never asserts on speed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  parseDurationMs,
  runTrafficApart,
  trafficOrders,
  type TrafficReport,
} from '../examples/fraud/generator/traffic.ts';
import { freePort } from '../src/testing/postgres.ts';
import { cpuByService, round } from './lib.ts';

const SERVICE = fileURLToPath(new URL('./fixtures/call-graph-service.mjs', import.meta.url));
const LEAVES = ['identity', 'geo', 'payment', 'velocity', 'credit', 'scoring', 'decision', 'audit'];

export interface CallGraphRun {
  rate: number;
  report: TrafficReport;
  /** CPU time of all its processes (8 leaves, the gateway's primary and its workers) per answer. */
  cpuMsPerAssessment: number;
}

export interface CallGraphOptions {
  rates: readonly number[];
  /** Each rate's run. @default 30_000 */
  measureMs?: number;
  /** Gateway worker processes, as the stack's gateway replicas. @default 1 */
  gatewayWorkers?: number;
  /** Passed to the generator, as the fraud bench does. @default 1_000_000 */
  historyOrders?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** Forks one service into `children` (so it is stopped whatever happens) and waits for its "ready". */
function start(args: string[], children: ChildProcess[]): Promise<ChildProcess> {
  const child = fork(SERVICE, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      child.off('error', settle).off('exit', exited).off('message', ready);
      if (error) reject(error);
      else resolve(child);
    };
    const exited = (code: number | null): void => settle(new Error(`call-graph ${args[0]} exited (${code})`));
    const ready = (): void => settle();
    const timer = setTimeout(() => settle(new Error(`call-graph ${args[0]} not ready in 10 s`)), 10_000);
    child.on('error', settle).on('exit', exited).on('message', ready);
  });
}

/** Starts the do-nothing call graph, runs the generator at each rate, and stops it. */
export async function runCallGraph(opts: CallGraphOptions): Promise<CallGraphRun[]> {
  const log = opts.log ?? (() => undefined);
  const measureMs = opts.measureMs ?? 30_000;
  const historyOrders = opts.historyOrders ?? 1_000_000;
  const children: ChildProcess[] = [];
  try {
    const ports: number[] = [];
    for (const _ of LEAVES) {
      const port = await freePort();
      ports.push(port);
      await start(['leaf', String(port)], children);
    }
    const gatewayPort = await freePort();
    await start(
      ['gateway', String(gatewayPort), String(opts.gatewayWorkers ?? 1), ports.join(',')],
      children,
    );
    const url = `http://127.0.0.1:${gatewayPort}`;
    const pids = children.map((c) => c.pid!);
    // Warm-up at the highest rate asked: its first 20 s at a new rate measured 33-150 ms p99 where
    // the next ones measured 9 ms (connections opened, code optimised for that load).
    await runTrafficApart({
      url,
      rate: Math.max(...opts.rates),
      durationMs: 15_000,
      historyOrders,
      signal: opts.signal,
    });
    await new Promise((r) => setTimeout(r, 2000));
    const runs: CallGraphRun[] = [];
    for (const rate of opts.rates) {
      if (opts.signal?.aborted) break;
      const orders = trafficOrders({ historyOrders }, Math.ceil((rate * measureMs) / 1000));
      let answered: TrafficReport | undefined;
      const cpu = await cpuByService(
        pids.map((pid) => ({ service: 'call-graph', pid })),
        async () => {
          answered = await runTrafficApart({
            url,
            rate,
            durationMs: measureMs,
            orders,
            concurrency: 512,
            signal: opts.signal,
          });
        },
      );
      const report = answered!;
      const cpuMs = cpu.ms.get('call-graph')?.cpuMs ?? 0;
      const cpuMsPerAssessment = round(cpuMs / Math.max(1, report.ok), 3);
      runs.push({ rate, report, cpuMsPerAssessment });
      log(
        `call graph alone at ${rate}/s: ${report.throughput}/s, p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms, errors ${report.errors}, ${cpuMsPerAssessment} CPU ms/assessment`,
      );
      await new Promise((r) => setTimeout(r, 2000));
    }
    return runs;
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string', default: '150,300,600' },
      measure: { type: 'string', default: '30s' },
    },
  });
  await runCallGraph({
    rates: values.rates.split(',').map(Number),
    measureMs: parseDurationMs(values.measure),
    log: (line) => console.log(line),
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
