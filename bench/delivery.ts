/**
 * Delivery on the fraud stack, end to end through the daemon: the time to create a full staging
 * environment (`env create` with the stack's small `test` seed), the time to deploy a one-line
 * change to one service (`scoring`: hash, release, rolling update, old replica drained and stopped),
 * and the failed requests of a steady order stream through the published gateway during that
 * rolling update. Works on a copy of examples/fraud (the change is made there, never in the
 * repository). Writes bench/results/delivery.json.
 *
 *   node --import tsx bench/delivery.ts [--rate 100]
 *
 * Needs root. Not a test: it measures and reports, it never asserts on speed. `--rate` is the
 * order stream during the update; the issue asks for 50% of the sustained rate (bench fraud).
 */
import { appendFile, cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { fraudStackText } from '../examples/fraud/generator/stack-file.ts';
import { runTraffic, type TrafficReport } from '../examples/fraud/generator/traffic.ts';
import { startControlPlaneForTest, testEnvironmentName } from '../src/testing/control-plane.ts';
import { abortOnInterrupt, privilegeProblem, round, since, writeResult } from './lib.ts';

const FRAUD_DIR = fileURLToPath(new URL('../examples/fraud/', import.meta.url));
const REPO_NODE_MODULES = fileURLToPath(new URL('../node_modules', import.meta.url));
const REPO_PACKAGE_JSON = fileURLToPath(new URL('../package.json', import.meta.url));

export interface DeliveryBenchResult {
  loadBefore: number[];
  envCreateMs: number;
  deployMs: number;
  deployOutcome: string;
  /** Orders per second during the update. */
  rate: number;
  traffic: Pick<TrafficReport, 'sent' | 'ok' | 'errors' | 'errorsByStatus' | 'latencyMs'>;
  progress: string[];
}

async function freePortAbove(min: number): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (port > min) return port;
  }
}

export async function runDeliveryBench(
  opts: { rate?: number; log?: (line: string) => void; signal?: AbortSignal } = {},
): Promise<DeliveryBenchResult> {
  const log = opts.log ?? console.log;
  const rate = opts.rate ?? 100;
  const cpTest = await startControlPlaneForTest({ readyTimeoutMs: 240_000 });
  const env = testEnvironmentName('bd');
  const progress: string[] = [];
  const t0 = performance.now();
  const note = (m: string) => progress.push(`${Math.round(performance.now() - t0)} ${m}`);
  const delivery = cpTest.daemon.delivery;
  try {
    // A private copy of the fraud stack: the one-line change is made there.
    const copy = join(cpTest.stateDir, 'fraud');
    await cp(FRAUD_DIR, copy, { recursive: true });
    await symlink(REPO_NODE_MODULES, join(copy, 'node_modules'));
    // The repository's package.json says the code is ES modules; the copy outside it needs one too.
    await cp(REPO_PACKAGE_JSON, join(copy, 'package.json'));
    const port = await freePortAbove(8080);
    const text = fraudStackText({ environment: 'bench', hostPort: 8080, overlayFrom: 'test' }).replaceAll(
      FRAUD_DIR,
      `${copy}/`,
    );
    const file = join(copy, 'rampart.yaml');
    await writeFile(file, text);
    await mkdir(join(copy, 'policies'), { recursive: true });

    log(`env create ${env} (fraud stack, test seed)...`);
    let start = performance.now();
    await delivery.createEnvironment({ name: env, file, overlay: 'test', portOffset: port - 8080 }, note, {
      name: 'bench',
      via: 'bench/delivery.ts',
    });
    const envCreateMs = since(start);
    log(`  ${envCreateMs} ms`);

    const abort = new AbortController();
    opts.signal?.addEventListener('abort', () => abort.abort());
    const traffic = runTraffic({
      url: `http://127.0.0.1:${port}`,
      rate,
      durationMs: 600_000,
      historyOrders: 20_000,
      signal: abort.signal,
    });
    // Let the stream settle before the update.
    await new Promise((r) => setTimeout(r, 3000));
    await appendFile(join(copy, 'services', 'scoring', 'logic.ts'), `// bench change ${Date.now()}\n`);
    log(`deploy scoring (one-line change) under ${rate} orders/s...`);
    start = performance.now();
    let deployOutcome = 'failed';
    try {
      const r = await delivery.deploy({ file, environment: env, services: ['scoring'] }, note, {
        name: 'bench',
        via: 'bench/delivery.ts',
      });
      deployOutcome = r.record.outcome;
    } catch (error) {
      deployOutcome = `failed: ${(error as Error).message}`;
    }
    const deployMs = since(start);
    log(`  ${deployMs} ms, ${deployOutcome}`);
    await new Promise((r) => setTimeout(r, 2000));
    abort.abort();
    const report = await traffic;
    log(`  traffic: ${report.sent} sent, ${report.errors} failed`);
    const result: DeliveryBenchResult = {
      loadBefore: loadavg().map((x) => round(x, 2)),
      envCreateMs,
      deployMs,
      deployOutcome,
      rate,
      traffic: {
        sent: report.sent,
        ok: report.ok,
        errors: report.errors,
        errorsByStatus: report.errorsByStatus,
        latencyMs: report.latencyMs,
      },
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
  console.log(JSON.stringify({ envCreateMs: r.envCreateMs, deployMs: r.deployMs, failed: r.traffic.errors }));
}
