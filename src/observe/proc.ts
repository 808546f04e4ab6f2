import { readFile } from 'node:fs/promises';
import { systemClock, type Clock } from '../platform/clock.ts';
import type { MetricsStore, ReplicaUsageSample } from './metrics.ts';

/** The slice of the filesystem the sampler reads (tests give fixtures). */
export interface ProcFs {
  readFile(path: string): Promise<string>;
}

export const realProcFs: ProcFs = { readFile: (path) => readFile(path, 'utf8') };

// USER_HZ: the unit of /proc/<pid>/stat times. 100 on every Linux architecture Rampart runs on
// (the kernel exports it as a constant to userspace, whatever CONFIG_HZ is).
const TICKS_PER_SECOND = 100;

export interface ProcStat {
  utime: number;
  stime: number;
  /** Clock ticks after boot. */
  starttime: number;
}

/**
 * Fields of /proc/<pid>/stat (proc(5)). The command name (field 2) is in parentheses and may hold
 * spaces or parentheses itself: split after the last `)`.
 */
export function parseProcStat(text: string): ProcStat {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field n is rest[n - 3].
  return { utime: Number(rest[11]), stime: Number(rest[12]), starttime: Number(rest[19]) };
}

/** Resident memory from /proc/<pid>/status (`VmRSS: 1234 kB`), in bytes. */
export function parseVmRss(text: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** `usage_usec` from a cgroup v2 cpu.stat. */
export function parseCgroupCpuUsec(text: string): number | undefined {
  const m = /^usage_usec (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface UsageReading {
  /** CPU time used so far, in microseconds. */
  cpuUsec: number;
  memoryBytes: number;
}

/**
 * CPU time and memory of a replica: from its cgroup (v2) when it has one of its own, which counts
 * every process in it, else from /proc for the process and its descendants.
 */
export async function readUsage(
  target: { pid: number; cgroup?: string },
  fs: ProcFs = realProcFs,
): Promise<UsageReading | undefined> {
  if (target.cgroup) {
    const dir = `/sys/fs/cgroup/${target.cgroup.replace(/^\/+/, '')}`;
    try {
      const cpu = parseCgroupCpuUsec(await fs.readFile(`${dir}/cpu.stat`));
      const memory = Number((await fs.readFile(`${dir}/memory.current`)).trim());
      if (cpu !== undefined && Number.isFinite(memory)) return { cpuUsec: cpu, memoryBytes: memory };
    } catch {
      // No such cgroup (or no controller): fall back to /proc.
    }
  }
  const pids = await descendants(target.pid, fs);
  if (pids.length === 0) return undefined;
  let ticks = 0;
  let memory = 0;
  for (const pid of pids) {
    try {
      const stat = parseProcStat(await fs.readFile(`/proc/${pid}/stat`));
      ticks += stat.utime + stat.stime;
      memory += parseVmRss(await fs.readFile(`/proc/${pid}/status`));
    } catch {
      // The process exited between listing and reading.
    }
  }
  return { cpuUsec: (ticks * 1_000_000) / TICKS_PER_SECOND, memoryBytes: memory };
}

/** The pid and its descendants, through /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN). */
async function descendants(pid: number, fs: ProcFs): Promise<number[]> {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 1024) {
    const p = queue.shift() as number;
    try {
      await fs.readFile(`/proc/${p}/stat`);
    } catch {
      continue;
    }
    out.push(p);
    try {
      const children = await fs.readFile(`/proc/${p}/task/${p}/children`);
      for (const c of children.trim().split(/\s+/)) if (c) queue.push(Number(c));
    } catch {
      // Kernel without CONFIG_PROC_CHILDREN: the process alone.
    }
  }
  return out;
}

/** CPU percent of one core between two readings. */
export function cpuPercent(
  prev: { cpuUsec: number; at: number },
  cur: { cpuUsec: number; at: number },
): number {
  const wallUsec = (cur.at - prev.at) * 1000;
  if (wallUsec <= 0) return 0;
  return Math.max(0, ((cur.cpuUsec - prev.cpuUsec) / wallUsec) * 100);
}

export interface ReplicaTarget {
  /** The series key, e.g. `prod/default/api/0`. */
  replica: string;
  pid: number;
  /** The replica's own cgroup v2 path, when the runtime made one. */
  cgroup?: string;
}

/** Samples every replica's CPU and memory on an interval into the metrics store. */
export class ReplicaSampler {
  private readonly previous = new Map<string, { cpuUsec: number; at: number; pid: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: {
      metrics: Pick<MetricsStore, 'recordReplicaUsage'>;
      targets: () => readonly ReplicaTarget[];
      fs?: ProcFs;
      clock?: Clock;
      /** @default 10 s */
      intervalMs?: number;
    },
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(
      () => void this.sampleOnce().catch(() => undefined),
      this.opts.intervalMs ?? 10_000,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round; the first reading of a replica gives no CPU figure (it needs a previous one). */
  async sampleOnce(): Promise<ReplicaUsageSample[]> {
    const clock = this.opts.clock ?? systemClock;
    const samples: ReplicaUsageSample[] = [];
    const seen = new Set<string>();
    for (const t of this.opts.targets()) {
      seen.add(t.replica);
      const reading = await readUsage(t, this.opts.fs ?? realProcFs);
      if (!reading) continue;
      const at = clock.now();
      const prev = this.previous.get(t.replica);
      this.previous.set(t.replica, { cpuUsec: reading.cpuUsec, at, pid: t.pid });
      // A new pid is a restarted replica: its CPU counter started over.
      if (!prev || prev.pid !== t.pid) continue;
      samples.push({
        replica: t.replica,
        time: at,
        cpuPercent: cpuPercent(prev, { cpuUsec: reading.cpuUsec, at }),
        memoryBytes: reading.memoryBytes,
      });
    }
    for (const k of this.previous.keys()) if (!seen.has(k)) this.previous.delete(k);
    if (samples.length > 0) this.opts.metrics.recordReplicaUsage(samples);
    return samples;
  }
}
