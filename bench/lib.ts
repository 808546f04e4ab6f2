/**
 * Helpers shared by the benchmarks: small statistics, CPU time, the machine a figure was measured
 * on, result files under bench/results/, plain-text tables, and a subprocess trace. Benchmarks
 * measure and report; they never assert on speed (STYLE.md §16).
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Exec } from '../src/platform/exec.ts';

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

/** Median of `xs`; NaN when empty. */
export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Linear-interpolated percentile (`p` in 0..100) of `xs`; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** Rounds to `digits` decimals (1 by default): enough for milliseconds, readable in JSON. */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Milliseconds since `start` (a `performance.now()` value). */
export function since(start: number): number {
  return round(performance.now() - start);
}

/**
 * CPU time (user + system, ms) used so far by this process (`selfMs`) and by every child it has
 * reaped, including their own reaped children (`childrenMs`). Unlike wall time, it barely moves
 * when other work shares the machine, so it is the steadier figure on a busy host.
 */
export function cpuTimes(): { selfMs: number; childrenMs: number } {
  const self = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name: state is field 3, cutime and cstime are fields 16 and 17.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // /proc reports clock ticks in USER_HZ, which Linux fixes at 100 for user space.
  return { selfMs: (self.user + self.system) / 1000, childrenMs: (Number(rest[13]) + Number(rest[14])) * 10 };
}

/** CPU time used between `start` (a `cpuTimes()` value) and now, rounded. */
export function cpuSince(start: { selfMs: number; childrenMs: number }): {
  totalMs: number;
  selfMs: number;
  childrenMs: number;
} {
  const now = cpuTimes();
  const selfMs = now.selfMs - start.selfMs;
  const childrenMs = now.childrenMs - start.childrenMs;
  return { totalMs: round(selfMs + childrenMs), selfMs: round(selfMs), childrenMs: round(childrenMs) };
}

/**
 * The machine's CPU time so far from /proc/stat's first line, in USER_HZ ticks: `busy` is everything
 * but idle and iowait (user, nice, system, irq, softirq, steal), so the kernel's share of the
 * network path and the database count too. Guest time is already inside user and nice.
 */
export function parseProcStatCpu(text: string): { busy: number; total: number } {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error("/proc/stat: no 'cpu' line");
  const fields = line.trim().split(/\s+/);
  // Older kernels have fewer columns: a missing one counts as 0.
  const [user, nice, system, idle, iowait, irq, softirq, steal] = Array.from(
    { length: 8 },
    (_, i) => Number(fields[i + 1]) || 0,
  ) as [number, number, number, number, number, number, number, number];
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** How busy the whole machine was while `run` ran: 0 (idle) to 1 (every CPU busy all the time). */
export async function machineBusy<T>(run: () => Promise<T>): Promise<{ result: T; busy: number }> {
  const before = parseProcStatCpu(readFileSync('/proc/stat', 'utf8'));
  const result = await run();
  const after = parseProcStatCpu(readFileSync('/proc/stat', 'utf8'));
  const total = after.total - before.total;
  return { result, busy: total > 0 ? round((after.busy - before.busy) / total, 3) : 0 };
}

export interface MachineInfo {
  node: string;
  kernel: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  date: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    node: process.version,
    kernel: release(),
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

/** Writes `bench/results/<name>.json` (pretty, with the machine it ran on); returns its path. */
export async function writeResult(name: string, data: unknown, dir: string = RESULTS_DIR): Promise<string> {
  const file = join(dir, `${name}.json`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(
    file,
    `${JSON.stringify({ benchmark: name, machine: machineInfo(), result: data }, null, 2)}\n`,
  );
  return file;
}

export type Cell = string | number | boolean | null | undefined;

/**
 * A plain-text table: columns from the first row's keys, numbers right-aligned, text left-aligned.
 * Plain text on purpose: the output lands in CI logs and issue comments.
 */
export function formatTable(rows: readonly Readonly<Record<string, Cell>>[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0]!);
  const text = (c: Cell): string =>
    c === null || c === undefined ? '-' : typeof c === 'number' && Number.isNaN(c) ? '-' : String(c);
  const widths = columns.map((col) => Math.max(col.length, ...rows.map((r) => text(r[col]).length)));
  const line = (cells: readonly Cell[], header = false): string =>
    cells
      .map((c, i) =>
        !header && typeof c === 'number' ? text(c).padStart(widths[i]!) : text(c).padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [
    line(columns, true),
    line(
      widths.map((w) => '-'.repeat(w)),
      true,
    ),
    ...rows.map((r) => line(columns.map((c) => r[c]))),
  ].join('\n');
}

export function printTable(
  rows: readonly Readonly<Record<string, Cell>>[],
  log: (line: string) => void = console.log,
): void {
  log(formatTable(rows));
}

/** Why a benchmark cannot run here, or undefined when it can (Linux, root). */
export function privilegeProblem(): string | undefined {
  if (process.platform !== 'linux')
    return `the benchmarks need Linux (network namespaces, nftables); this is ${process.platform}`;
  if (process.getuid?.() !== 0) {
    return `the benchmarks need root to create network namespaces, bridges and nftables tables (uid ${process.getuid?.() ?? '?'}): run \`sudo npm run bench\``;
  }
  return undefined;
}

/**
 * For entry points only: the first Ctrl-C aborts the returned signal, so a benchmark stops after
 * its current round and removes what it made; a second one exits at once (and may leave kernel
 * objects behind).
 */
export function abortOnInterrupt(log: (line: string) => void = console.error): AbortSignal {
  const controller = new AbortController();
  process.on('SIGINT', () => {
    if (controller.signal.aborted) process.exit(130);
    log('\ninterrupted: finishing the current round and cleaning up (Ctrl-C again to quit at once)');
    controller.abort();
  });
  return controller.signal;
}

export interface ExecSpan {
  command: string;
  start: number;
  end: number;
}

export interface ExecStat {
  command: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
}

/** Subprocesses run in a window; they overlap, so `busyMs` is the wall time with at least one running. */
export interface ExecSummary {
  calls: number;
  busyMs: number;
  peakConcurrency: number;
  byCommand: ExecStat[];
}

/** `ip -n X addr add …` → `ip addr add`; `ip netns exec X setpriv … test` → `ip netns exec setpriv`. */
function commandLabel(argv: readonly string[]): string {
  const [bin, ...rest] = argv;
  // nft loads rulesets from temporary files: one label for all of them.
  if (bin !== 'ip') return [bin, ...rest.slice(0, 2).map((a) => (a.includes('/') ? '<file>' : a))].join(' ');
  const words: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '-n') i++;
    else if (!rest[i]!.startsWith('-')) words.push(rest[i]!);
  }
  if (words[0] === 'netns' && words[1] === 'exec') return `ip netns exec ${words[3] ?? ''}`.trim();
  return `ip ${words.slice(0, 2).join(' ')}`;
}

/** An Exec that forwards to `inner` and records what ran and when (performance.now()). */
export function tracingExec(inner: Exec): Exec & { spans: ExecSpan[] } {
  const spans: ExecSpan[] = [];
  const exec = (async (argv, options) => {
    const start = performance.now();
    try {
      return await inner(argv, options);
    } finally {
      spans.push({ command: commandLabel(argv), start, end: performance.now() });
    }
  }) as Exec & { spans: typeof spans };
  exec.spans = spans;
  return exec;
}

export function summariseSpans(spans: readonly ExecSpan[]): ExecSummary {
  const by = new Map<string, number[]>();
  for (const s of spans) by.set(s.command, [...(by.get(s.command) ?? []), s.end - s.start]);
  const byCommand = [...by]
    .map(([command, ds]) => ({
      command,
      calls: ds.length,
      totalMs: round(ds.reduce((a, b) => a + b, 0)),
      meanMs: round(ds.reduce((a, b) => a + b, 0) / ds.length),
      maxMs: round(Math.max(...ds)),
    }))
    .sort((a, b) => b.totalMs - a.totalMs);
  // Wall time with at least one command running, and the most running at once.
  const edges = spans.flatMap((s) => [
    { t: s.start, d: 1 },
    { t: s.end, d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let running = 0;
  let peak = 0;
  let busy = 0;
  let from = 0;
  for (const e of edges) {
    if (running === 0 && e.d > 0) from = e.t;
    running += e.d;
    peak = Math.max(peak, running);
    if (running === 0) busy += e.t - from;
  }
  return { calls: spans.length, busyMs: round(busy), peakConcurrency: peak, byCommand };
}

/**
 * CPU ms of every process: `own` (utime + stime) and `reaped` (cutime + cstime: children that
 * exited and were waited for, such as PostgreSQL backends of closed connections), and its parent.
 */
export async function processTable(): Promise<Map<number, { ppid: number; own: number; reaped: number }>> {
  const table = new Map<number, { ppid: number; own: number; reaped: number }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields after the name: ppid is field 4, utime..cstime fields 14-17, in USER_HZ (100).
      table.set(Number(name), {
        ppid: Number(rest[1]),
        own: (Number(rest[11]) + Number(rest[12])) * 10,
        reaped: (Number(rest[13]) + Number(rest[14])) * 10,
      });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/**
 * CPU ms of each root and its whole process tree: its own and reaped time plus that of every live
 * descendant. A child that exits between two readings moves from "live" to its parent's reaped
 * time, so differences of two readings count it exactly once.
 */
export function treeCpu(
  table: Map<number, { ppid: number; own: number; reaped: number }>,
  roots: readonly number[],
): Map<number, number> {
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const out = new Map<number, number>();
  for (const root of roots) {
    let sum = 0;
    const stack = [root];
    while (stack.length > 0) {
      const pid = stack.pop()!;
      const p = table.get(pid);
      sum += p ? p.own + p.reaped : 0;
      stack.push(...(children.get(pid) ?? []));
    }
    out.set(root, sum);
  }
  return out;
}

/**
 * CPU ms each service's replicas (their whole process trees, see treeCpu) spent while `during`
 * ran, and its wall time. A replica without a pid counts for nothing.
 */
export async function cpuByService(
  replicas: readonly { service: string; pid: number | null }[],
  during: () => Promise<void>,
): Promise<{ ms: Map<string, { replicas: number; cpuMs: number }>; wallMs: number }> {
  const pids = replicas.filter((r) => r.pid !== null).map((r) => r.pid!);
  const before = treeCpu(await processTable(), pids);
  const t = performance.now();
  await during();
  const wallMs = performance.now() - t;
  const after = treeCpu(await processTable(), pids);
  const ms = new Map<string, { replicas: number; cpuMs: number }>();
  for (const r of replicas) {
    if (r.pid === null) continue;
    const e = ms.get(r.service) ?? { replicas: 0, cpuMs: 0 };
    e.replicas++;
    e.cpuMs += (after.get(r.pid) ?? 0) - (before.get(r.pid) ?? 0);
    ms.set(r.service, e);
  }
  return { ms, wallMs };
}

/** What a speed probe saw: the median and the highest of its per-second minima, in ms. */
export interface SpeedReading {
  medianMs: number;
  maxMs: number;
  seconds: number;
}

/**
 * The machine's speed while something runs. A worker thread times a fixed task every 100 ms (200,000
 * random reads of a 4 MB array, ~1.2 ms on this VM when it is quiet), and each second keeps its
 * fastest run: preemption by the work being measured is filtered out (two busy loops on both cores
 * left it at 1.16 ms), while what slows every process of a shared VM (other tenants' use of the
 * caches, memory and cores under ours) shows as a higher figure. Session 21 saw a mode's whole
 * visit run on a slower machine: the bench process, which does the same work in every mode, spent
 * 76% more CPU per assessment than in the other rounds, and the stack 50% more.
 */
export function startSpeedProbe(): { stop(): Promise<SpeedReading> } {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const N = 1 << 19;
    const a = new Float64Array(N);
    for (let i = 0; i < N; i++) a[i] = i;
    const task = () => {
      let x = 12345, s = 0;
      for (let i = 0; i < 200000; i++) { x = (x * 1103515245 + 12345) & 0x7fffffff; s += a[x & (N - 1)]; }
      return s;
    };
    const best = new Map();
    let timer;
    const loop = () => {
      const t = performance.now();
      task();
      const second = Math.floor(Date.now() / 1000);
      best.set(second, Math.min(best.get(second) ?? Infinity, performance.now() - t));
      timer = setTimeout(loop, 100);
    };
    parentPort.on('message', () => {
      clearTimeout(timer);
      parentPort.postMessage([...best.values()]);
    });
    loop();`;
  const worker = new Worker(code, { eval: true });
  // Listened for from the start: a worker's 'error' with no listener would throw in this process.
  const answer = new Promise<number[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  answer.catch(() => undefined); // reported by stop(), not as an unhandled rejection before it
  return {
    async stop() {
      worker.postMessage('stop');
      const minima = await answer;
      await worker.terminate();
      return {
        medianMs: round(median(minima), 3),
        maxMs: round(Math.max(...minima), 3),
        seconds: minima.length,
      };
    },
  };
}
