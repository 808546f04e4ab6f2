/**
 * The dashboard's map in headless Chromium (Debian's chromium + playwright-core): time to first
 * render and frame times while 5,000 edges update, with 500 services in 25 namespaces.
 *
 * The data is synthetic, served by a stub of the API in this process (the browser cannot tell):
 * every poll (500 ms here, 1.5 s by default) answers new rates, error rates and p95s for every
 * edge and a rotating set of blocked edges, so each poll rebuilds the graph and redraws the map.
 * Two layouts are measured: the default one (a map this size opens aggregated by namespace) and
 * every service expanded (all 5,000 edges drawn, the worst case).
 *
 * Goals (issue 8): first render <= 1 s; no frame over 100 ms while edges update.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { loadavg } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../src/testing/browser.ts';
import { median, percentile, round, writeResult } from './lib.ts';
import type { SummaryRow } from './run.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(ROOT, 'web', 'dist');

export interface DashboardBenchOptions {
  services?: number;
  namespaces?: number;
  edges?: number;
  /** Poll period of the page. @default 500 */
  pollMs?: number;
  /** How long frames are recorded per layout. @default 8000 */
  measureMs?: number;
  /** Page loads for first render. @default 3 */
  loads?: number;
  log?: (line: string) => void;
}

interface LayoutFigures {
  /** Median over the loads: navigation start to the first map frame with data. */
  firstRenderMs: number;
  firstRenderAllMs: number[];
  /** Median time to first frame of the baseline page, loaded the same way in the same run. */
  baselineFirstFrameMs: number;
  frames: number;
  frameP50Ms: number;
  frameP95Ms: number;
  frameMaxMs: number;
  framesOver100Ms: number;
  longestTaskMs: number;
  drawMaxMs: number;
  updates: number;
}

export interface DashboardBenchResult {
  config: Required<Omit<DashboardBenchOptions, 'log'>>;
  loadAverage: number[];
  aggregated: LayoutFigures;
  expanded: LayoutFigures;
}

// A deterministic pseudo-random stream (mulberry32): the same world every run.
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function syntheticWorld(services: number, namespaces: number, edges: number) {
  const rand = rng(42);
  const names = Array.from({ length: services }, (_, i) => ({
    namespace: `ns${String(i % namespaces).padStart(2, '0')}`,
    service: `svc${String(i).padStart(3, '0')}`,
  }));
  const replicas = names.map((n, i) => ({
    id: `bench/${n.namespace}/${n.service}-0`,
    environment: 'bench',
    namespace: n.namespace,
    service: n.service,
    replica: 0,
    kind: i % 20 === 0 ? 'database' : 'service',
    state: 'running',
    healthy: true,
    health: 'healthy',
    addresses: { app: `10.${i >> 8}.${i & 255}.2` },
    vip: undefined,
    pid: 1000 + i,
    restarts: 0,
    netns: `rampart-bench-${i}`,
  }));
  const pairs = new Set<string>();
  const list: [number, number][] = [];
  while (list.length < edges) {
    // Mostly within a namespace, some across: what real maps look like.
    const a = Math.floor(rand() * services);
    const b =
      rand() < 0.7
        ? (a + namespaces * (1 + Math.floor(rand() * 5))) % services
        : Math.floor(rand() * services);
    if (a === b || pairs.has(`${a}>${b}`)) continue;
    pairs.add(`${a}>${b}`);
    list.push([a, b]);
  }
  return { names, replicas, pairs: list, rand };
}

function stubApi(opts: Required<Omit<DashboardBenchOptions, 'log'>>): {
  server: Server;
  updates: () => number;
} {
  const world = syntheticWorld(opts.services, opts.namespaces, opts.edges);
  const id = (i: number) => world.names[i]!.service;
  let updates = 0;
  const json = (body: unknown) => ({ type: 'application/json', body: JSON.stringify(body) });
  const routes: Record<string, () => { type: string; body: string }> = {
    '/v1/whoami': () => json({ name: 'bench', role: 'viewer' }),
    '/v1/environments': () => json({ environments: ['bench'] }),
    '/v1/replicas': () => json({ replicas: world.replicas }),
    '/v1/observe/map': () => {
      updates++;
      const r = world.rand;
      return json({
        windowMs: 300_000,
        nodes: world.names.map((n, i) => ({
          id: n.service,
          kind: world.replicas[i]!.kind,
          requests: 100,
          errors: 0,
          rate: r() * 50,
          errorRate: 0,
          p50Ms: 2,
          p95Ms: 5 + r() * 20,
          p99Ms: 30,
        })),
        edges: world.pairs.map(([a, b]) => {
          const rate = r() * 40;
          return {
            from: id(a),
            to: id(b),
            sources: ['trace'],
            connections: 0,
            requests: Math.round(rate * 300),
            errors: 0,
            rate,
            errorRate: r() < 0.1 ? r() * 0.05 : 0,
            p50Ms: 1 + r() * 3,
            p95Ms: 2 + r() * 40,
            p99Ms: 50,
          };
        }),
      });
    },
    '/v1/dashboard/flows': () => json({ edges: [] }),
    '/v1/alerts': () => {
      const now = Date.now();
      // 50 blocked edges, a different set on every poll: states change, not only numbers.
      const alerts = Array.from({ length: 50 }, (_, k) => {
        const [a, b] = world.pairs[(updates * 50 + k) % world.pairs.length]!;
        const src = world.names[a]!;
        const dst = world.names[b]!;
        return {
          id: `a${k}`,
          kind: 'out-of-policy',
          src: { kind: 'pod', ip: '10.0.0.1', namespace: src.namespace, service: src.service },
          dst: { kind: 'pod', ip: '10.0.0.2', namespace: dst.namespace, service: dst.service },
          protocol: 'TCP',
          port: 8080,
          mode: 'protect',
          decision: 'blocked',
          decidedBy: 'no policy allows it',
          count: 3,
          firstSeen: now - 5000,
          lastSeen: now,
        };
      });
      return json({ alerts });
    },
    '/v1/compliance': () =>
      json({ forwarding: 'emits', rules: [], services: [], connections: [], violations: [] }),
    '/v1/firewall': () =>
      json({ modes: { global: 'learn', perService: {} }, coverage: [], coverageText: '', rules: [] }),
  };
  const types: Record<string, string> = {
    '.html': 'text/html',
    '.js': 'text/javascript',
    '.css': 'text/css',
    '.svg': 'image/svg+xml',
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/baseline.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(BASELINE_PAGE);
      return;
    }
    const route = routes[path];
    if (route) {
      const { type, body } = route();
      res.writeHead(200, { 'content-type': type });
      res.end(body);
      return;
    }
    const file = path === '/' ? 'index.html' : path.slice(1);
    if (file.includes('..')) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(DIST, file)).then(
      (body) => {
        res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  return { server, updates: () => updates };
}

/**
 * The side-by-side baseline: a page that draws one rectangle on a canvas, no data. Its time to first
 * frame is what the browser and the host cost before the dashboard does anything (on a loaded host
 * that is most of the figure).
 */
const BASELINE_PAGE = `<!doctype html><canvas id=c width=800 height=600></canvas><script>
requestAnimationFrame(() => { const x = document.getElementById('c').getContext('2d'); x.fillRect(0, 0, 10, 10);
window.__firstFrame = performance.now(); });</script>`;

/**
 * In the page: every animation frame's interval for `ms`, the longest task, and the map's own draw
 * times. A string, not a function: tsx would wrap a function's inner names in a helper the page
 * does not have.
 */
const RECORD_FRAMES = (ms: number): string => `(async () => {
  const deltas = [];
  let longest = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longest = Math.max(longest, e.duration);
  });
  observer.observe({ type: 'longtask', buffered: false });
  const stats = window.__rampartMap.stats;
  stats.maxDrawMs = 0;
  const frames0 = stats.frames;
  await new Promise((resolve) => {
    const end = performance.now() + ${ms};
    let last = performance.now();
    const tick = (t) => {
      deltas.push(t - last);
      last = t;
      if (t < end) requestAnimationFrame(tick);
      else resolve();
    };
    requestAnimationFrame(tick);
  });
  observer.disconnect();
  return { deltas, longest, drawMax: stats.maxDrawMs, draws: stats.frames - frames0 };
})()`;

export async function runDashboardBench(options: DashboardBenchOptions = {}): Promise<DashboardBenchResult> {
  const log = options.log ?? (() => undefined);
  const config = {
    services: options.services ?? 500,
    namespaces: options.namespaces ?? 25,
    edges: options.edges ?? 5000,
    pollMs: options.pollMs ?? 500,
    measureMs: options.measureMs ?? 8000,
    loads: options.loads ?? 3,
  };
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs'), '--if-stale'], { stdio: 'ignore' });
  const { server, updates } = stubApi(config);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/?poll=${config.pollMs}#/map`;
  const browser = await launchChromium();
  try {
    const measure = async (expanded: boolean): Promise<LayoutFigures> => {
      const firsts: number[] = [];
      const baselines: number[] = [];
      let figures:
        | Omit<LayoutFigures, 'firstRenderMs' | 'firstRenderAllMs' | 'updates' | 'baselineFirstFrameMs'>
        | undefined;
      let updateCount = 0;
      for (let load = 0; load < config.loads; load++) {
        const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
        await context.addInitScript(() =>
          (globalThis as any).sessionStorage.setItem('rampart.token', 'bench'),
        );
        const page = await context.newPage();
        await page.goto(`http://127.0.0.1:${port}/baseline.html`);
        await page.waitForFunction(() => (globalThis as any).__firstFrame !== undefined);
        baselines.push(await page.evaluate(() => (globalThis as any).__firstFrame as number));
        await page.goto(url);
        await page.waitForFunction(
          () => (globalThis as any).__rampartMap?.stats.firstDataFrameAt !== undefined,
          null,
          {
            timeout: 30_000,
          },
        );
        firsts.push(
          await page.evaluate(() => (globalThis as any).__rampartMap.stats.firstDataFrameAt as number),
        );
        if (load < config.loads - 1) {
          await context.close();
          continue;
        }
        if (expanded) {
          await page.getByLabel('Group by namespace').uncheck();
          await page.waitForFunction(() => (globalThis as any).__rampartMap.graph().edges.length > 4000);
        }
        const before = updates();
        const r = (await page.evaluate(RECORD_FRAMES(config.measureMs))) as {
          deltas: number[];
          longest: number;
          drawMax: number;
          draws: number;
        };
        updateCount = updates() - before;
        const d = r.deltas.slice(1);
        figures = {
          frames: d.length,
          frameP50Ms: round(median(d)),
          frameP95Ms: round(percentile(d, 95)),
          frameMaxMs: round(Math.max(...d)),
          framesOver100Ms: d.filter((x) => x > 100).length,
          longestTaskMs: round(r.longest),
          drawMaxMs: round(r.drawMax),
        };
        log(
          `  ${expanded ? 'expanded' : 'aggregated'}: first render ${round(median(firsts))} ms (blank canvas page ${round(median(baselines))} ms); ${updateCount} updates, ${r.draws} redraws; frames p50 ${figures.frameP50Ms} / p95 ${figures.frameP95Ms} / max ${figures.frameMaxMs} ms; longest task ${figures.longestTaskMs} ms`,
        );
        await context.close();
      }
      return {
        firstRenderMs: round(median(firsts)),
        firstRenderAllMs: firsts.map((x) => round(x)),
        baselineFirstFrameMs: round(median(baselines)),
        updates: updateCount,
        ...figures!,
      };
    };
    log(
      `dashboard: ${config.services} services, ${config.edges} edges, poll ${config.pollMs} ms (headless Chromium)`,
    );
    const aggregated = await measure(false);
    const expanded = await measure(true);
    const result: DashboardBenchResult = {
      config,
      loadAverage: loadavg().map((x) => round(x, 2)),
      aggregated,
      expanded,
    };
    await writeResult('dashboard', result);
    return result;
  } finally {
    await browser.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The summary rows `npm run bench` prints (goals against issue 8's figures). */
export async function dashboardBenchRows(log: (line: string) => void): Promise<SummaryRow[]> {
  const r = await runDashboardBench({ log });
  const first = Math.max(r.aggregated.firstRenderMs, r.expanded.firstRenderMs);
  const frame = Math.max(r.aggregated.frameMaxMs, r.expanded.frameMaxMs);
  return [
    {
      measure: 'dashboard map first render ms, 500 services (vs 1000)',
      rampart: first,
      baseline: 1000,
      ratio: round(first / 1000, 2),
      goal: { op: '<=', value: 1 },
      met: first <= 1000,
    },
    {
      measure: 'dashboard max frame ms, 5,000 edges updating (vs 100)',
      rampart: frame,
      baseline: 100,
      ratio: round(frame / 100, 2),
      goal: { op: '<=', value: 1 },
      met: frame <= 100,
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await runDashboardBench({ log: console.log });
  console.log(JSON.stringify(r, null, 2));
}
