import { ipToInt, parseCidr } from '../network/index.ts';
import {
  PACKAGE_OF,
  realExec,
  realSpawnStreaming,
  type Exec,
  type SpawnStreaming,
  type StreamingChild,
} from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import type { Flow, Protocol } from './types.ts';

/**
 * Flows from the kernel: `conntrack -E -e NEW -o extended,id,timestamp`, one line per new
 * connection, parsed incrementally. Facts measured on conntrack 1.4.7 (fixtures beside this file):
 *
 * - Line: `[<sec>.<usec>]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=A dst=VIP sport=p dport=80
 *   [UNREPLIED] src=R dst=A sport=80 dport=p id=<ct id>`. The first `src/dst/sport/dport` group is
 *   the original direction, the second the reply direction. The timestamp has microseconds (the XML
 *   output's `<when>` has only seconds, which is why this module reads `extended`).
 * - A connection to a service VIP is DNATed in the same netns (the host's, where bridged traffic
 *   meets br_netfilter): its original `dst` is the VIP, the reply `src` is the replica that really
 *   answers. So a Flow's `dstIp`/`dstPort` are the reply direction's source.
 * - A connection dropped or rejected by nftables is never confirmed, so it never appears here.
 * - Events only exist in a netns where some rule needs conntrack (the env's `ip rampart_<env>`
 *   table has NAT chains, so the host netns always qualifies while an env runs).
 * - When the netlink socket overflows, conntrack prints `WARNING: We have hit ENOBUFS! We are
 *   losing events.` (+ two lines) on stderr and KEEPS RUNNING: each warning is at least one lost
 *   batch of events, the only loss signal there is (ids are not sequential).
 * - With `-b`, it prints `NOTICE: Netlink socket buffer size has been set to <2×b> bytes.` once it
 *   is subscribed: from then on no event is missed, which is how `start()` knows it is ready.
 * - BUT 1.4.7 applies `-b` to its command socket, not to the event socket it reads (`ss -f netlink
 *   -e -m` shows the event socket, `groups=0x00000001`, at `rb212992`, the host's default;
 *   docs/evidence/conntrack-b-socket.ss.txt): at a
 *   few thousand connections/s any stall of a few tens of ms overflows it. The event socket takes
 *   `net.core.rmem_default` when it is created, so the source raises that sysctl just while
 *   conntrack starts (until the NOTICE, printed after the event socket exists) and puts it back.
 *   Measured: 1.5–2 % of events lost at 2,700 connections/s with `-b` alone, none with this.
 * - On SIGTERM it prints `conntrack v1.4.7 (conntrack-tools): N flow events have been shown.`
 */

export interface ConntrackTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

export interface ConntrackEvent {
  /** ms since epoch, from conntrack's own timestamp (microsecond precision). */
  time: number;
  type: 'NEW' | 'UPDATE' | 'DESTROY';
  family: 'ipv4' | 'ipv6';
  /** Lower-case protocol name as conntrack prints it (`tcp`, `udp`, `icmp`…). */
  l4: string;
  orig: ConntrackTuple;
  reply: ConntrackTuple;
  /** conntrack's id of the entry; absent without `-o id`. */
  id?: number;
}

const L4_PROTOCOLS: Readonly<Record<string, Protocol>> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

/**
 * Pure: one line of `conntrack -E -o extended,id,timestamp` (the `extended` and `timestamp` parts
 * are optional) into an event; undefined for anything else (stderr text, ICMP without ports still
 * parses, with ports 0).
 */
export function parseConntrackLine(line: string): ConntrackEvent | undefined {
  const tokens = line.trim().split(/\s+/);
  let i = 0;
  let time = Number.NaN;
  const ts = /^\[(\d+)\.(\d{1,6})\]$/.exec(tokens[0] ?? '');
  if (ts) {
    time = Number(ts[1]) * 1000 + Number(ts[2]!.padEnd(6, '0')) / 1000;
    i++;
  }
  const type = /^\[(NEW|UPDATE|DESTROY)\]$/.exec(tokens[i] ?? '')?.[1] as ConntrackEvent['type'] | undefined;
  if (!type) return undefined;
  i++;
  let family: ConntrackEvent['family'] = 'ipv4';
  if (tokens[i] === 'ipv4' || tokens[i] === 'ipv6') {
    family = tokens[i] as ConntrackEvent['family'];
    i += 2; // name and number
  }
  const l4 = tokens[i];
  if (!l4 || !/^[a-z0-9-]+$/.test(l4)) return undefined;
  const tuples: Partial<ConntrackTuple>[] = [];
  let id: number | undefined;
  for (const token of tokens.slice(i + 1)) {
    const eq = token.indexOf('=');
    if (eq < 0) continue;
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    if (key === 'src') tuples.push({ src: value });
    else if (key === 'dst' || key === 'sport' || key === 'dport') {
      const t = tuples.at(-1);
      if (!t) return undefined;
      if (key === 'dst') t.dst = value;
      else t[key] = Number(value);
    } else if (key === 'id' && tuples.length === 2 && tuples[1]!.dst !== undefined) {
      // ICMP tuples carry their own `id=`; the entry's id is the last one, after both tuples.
      id = Number(value);
    }
  }
  const [o, r] = tuples;
  if (!o?.src || !o.dst || !r?.src || !r.dst) return undefined;
  const tuple = (t: Partial<ConntrackTuple>): ConntrackTuple => ({
    src: t.src!,
    dst: t.dst!,
    sport: t.sport ?? 0,
    dport: t.dport ?? 0,
  });
  return {
    time: Number.isNaN(time) ? Date.now() : Math.round(time * 1000) / 1000,
    type,
    family,
    l4,
    orig: tuple(o),
    reply: tuple(r),
    ...(id === undefined ? {} : { id }),
  };
}

/**
 * Pure: the flow the firewall reasons about. Destination = the reply direction's source (the
 * replica behind a VIP after DNAT); undefined for protocols without ports and for IPv6.
 */
export function eventToFlow(e: ConntrackEvent): Flow | undefined {
  const protocol = L4_PROTOCOLS[e.l4];
  if (!protocol || e.family !== 'ipv4') return undefined;
  return {
    srcIp: e.orig.src,
    dstIp: e.reply.src,
    protocol,
    dstPort: e.reply.sport,
    time: Math.floor(e.time),
  };
}

/** Pure: an address filter for one environment's block (precomputed, it runs per event). */
export function blockFilter(cidr: string): (e: ConntrackEvent) => boolean {
  const c = parseCidr(cidr);
  const size = 2 ** (32 - c.prefix);
  const inBlock = (ip: string): boolean => {
    try {
      const n = ipToInt(ip);
      return n >= c.network && n < c.network + size;
    } catch {
      return false; // IPv6 or garbage: not ours
    }
  };
  // Original source: a replica (or the host through the env's gateway) opened it. Reply source: the
  // host or a LAN client reached a replica through a published port (DNAT to the replica).
  return (e) => inBlock(e.orig.src) || inBlock(e.reply.src) || inBlock(e.orig.dst);
}

/** What stderr says, line by line. */
export type ConntrackNotice = 'enobufs' | 'subscribed' | 'summary' | 'other';

export function classifyStderrLine(line: string): ConntrackNotice {
  if (line.includes('We have hit ENOBUFS')) return 'enobufs';
  if (line.startsWith('NOTICE: Netlink socket buffer size')) return 'subscribed';
  if (/flow events have been shown/.test(line)) return 'summary';
  return 'other';
}

/** Splits a byte stream into lines across chunk boundaries. */
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.filter((l) => l.length > 0);
  }
  end(): string[] {
    const last = this.rest;
    this.rest = '';
    return last.length > 0 ? [last] : [];
  }
}

/** 32 MiB; the kernel doubles it. 8–40 MiB is what production flow collectors use. */
export const DEFAULT_CONNTRACK_BUFFER = 32 * 1024 * 1024;

export function conntrackArgv(opts: { bufferBytes?: number } = {}): string[] {
  return [
    'conntrack',
    '-E',
    '-e',
    'NEW',
    '-o',
    'extended,id,timestamp',
    '-b',
    String(opts.bufferBytes ?? DEFAULT_CONNTRACK_BUFFER),
  ];
}

export interface FlowSourceStats {
  /** Event lines conntrack printed. */
  events: number;
  /** Events parsed into flows of this environment. */
  parsed: number;
  /** Events of other addresses, IPv6 or protocols without ports. */
  ignored: number;
  /** Lines that were neither an event nor a known notice (format drift shows up here). */
  unparsed: number;
  /** ENOBUFS warnings plus unexpected restarts: each is at least one lost batch of events. */
  losses: number;
  restarts: number;
}

export interface ConntrackSourceOptions {
  /** The environment's address block, e.g. `198.18.0.0/20`; events touching nothing in it are ignored. */
  block: string;
  onFlows: (flows: Flow[], events: ConntrackEvent[]) => void;
  /** A loss, a restart, an unknown line: for the daemon log. */
  onWarning?: (message: string) => void;
  /** @default 32 MiB */
  bufferBytes?: number;
  spawn?: SpawnStreaming;
  /** Delay before restarting a conntrack that died. @default 1000 */
  restartDelayMs?: number;
  /** How long `start()` waits for the subscription notice. @default 5000 */
  readyTimeoutMs?: number;
  /**
   * Runs `sysctl` for the receive-buffer workaround above; `null` skips the workaround.
   * @default realExec
   */
  exec?: Exec | null;
}

const RMEM_DEFAULT = 'net.core.rmem_default';
/** One workaround at a time in this process, so two sources never restore each other's value. */
let rmemChain: Promise<unknown> = Promise.resolve();

/**
 * Runs `start` (which resolves once conntrack's event socket exists) with the host's default
 * socket receive buffer raised to `bytes`, then restores it. Sockets other programs create in
 * that window get the larger default too: a limit, not an allocation.
 */
export function withDefaultReceiveBuffer<T>(exec: Exec, bytes: number, start: () => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const before = Number((await exec(['sysctl', '-n', RMEM_DEFAULT])).stdout.trim());
    if (!(before < bytes)) return start();
    await exec(['sysctl', '-q', '-w', `${RMEM_DEFAULT}=${bytes}`]);
    try {
      return await start();
    } finally {
      await exec(['sysctl', '-q', '-w', `${RMEM_DEFAULT}=${before}`]);
    }
  };
  const result = rmemChain.then(run, run);
  rmemChain = result.catch(() => {});
  return result;
}

export interface ConntrackSource {
  /** Resolves once conntrack is subscribed (no event after this is missed). */
  start(): Promise<void>;
  /** Stops conntrack and delivers what it printed before exiting. */
  stop(): Promise<void>;
  stats(): FlowSourceStats;
}

/**
 * A flow source from the kernel (thin: the parsing above is pure). Delivers flows in batches, one
 * per stdout chunk, so a consumer pays per chunk, not per connection.
 */
export function conntrackSource(opts: ConntrackSourceOptions): ConntrackSource {
  const spawn = opts.spawn ?? realSpawnStreaming;
  const inScope = blockFilter(opts.block);
  const warn = opts.onWarning ?? (() => {});
  const stats: FlowSourceStats = { events: 0, parsed: 0, ignored: 0, unparsed: 0, losses: 0, restarts: 0 };
  let child: StreamingChild | undefined;
  /** Settles once the running child exited AND its stdout was read to the end. */
  let drained: Promise<void> = Promise.resolve();
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;

  const onStdoutLines = (lines: string[]): void => {
    const flows: Flow[] = [];
    const events: ConntrackEvent[] = [];
    for (const line of lines) {
      const e = parseConntrackLine(line);
      if (!e) {
        stats.unparsed++;
        continue;
      }
      stats.events++;
      const flow = inScope(e) ? eventToFlow(e) : undefined;
      if (!flow) {
        stats.ignored++;
        continue;
      }
      stats.parsed++;
      flows.push(flow);
      events.push(e);
    }
    if (flows.length > 0) opts.onFlows(flows, events);
  };

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = spawn(conntrackArgv({ bufferBytes: opts.bufferBytes }));
      child = c;
      let ready = false;
      const out = new LineSplitter();
      const err = new LineSplitter();
      const timer = setTimeout(() => {
        if (ready) return;
        c.kill('SIGKILL');
        reject(new RampartError('RAMPART_E_EXEC_FAILED', 'conntrack -E did not subscribe to events in time'));
      }, opts.readyTimeoutMs ?? 5000);
      c.stdout.setEncoding('utf8');
      c.stderr.setEncoding('utf8');
      c.stdout.on('data', (chunk: string) => onStdoutLines(out.push(chunk)));
      let markExited: () => void = () => {};
      const exited = new Promise<void>((r) => (markExited = r));
      const ended = new Promise<void>((r) =>
        c.stdout.once('close', () => {
          onStdoutLines(out.end());
          r();
        }),
      );
      drained = Promise.all([exited, ended]).then(() => {});
      const onStderr = (line: string): void => {
        const kind = classifyStderrLine(line);
        if (kind === 'enobufs') {
          stats.losses++;
          warn(`conntrack: events lost (ENOBUFS, ${stats.losses} so far): the netlink buffer overflowed`);
        } else if (kind === 'subscribed' && !ready) {
          ready = true;
          clearTimeout(timer);
          resolve();
        } else if (
          kind === 'other' &&
          !line.startsWith('This message') &&
          !line.startsWith('Please, check')
        ) {
          warn(`conntrack: ${line}`);
        }
      };
      c.stderr.on('data', (chunk: string) => err.push(chunk).forEach(onStderr));
      c.once('error', (e) => {
        markExited();
        clearTimeout(timer);
        const missing = e.code === 'ENOENT';
        const error = missing
          ? new RampartError(
              'RAMPART_E_MISSING_TOOL',
              'conntrack: not found. Is it installed on your system?',
              {
                binary: 'conntrack',
                fix: `apt-get install ${PACKAGE_OF.conntrack ?? 'conntrack'} (or rampart doctor --fix)`,
              },
            )
          : e;
        if (!ready) reject(error);
        else warn(`conntrack: ${error.message}`);
      });
      c.once('exit', (code, signal) => {
        markExited();
        clearTimeout(timer);
        if (child === c) child = undefined;
        if (!ready) {
          reject(
            new RampartError(
              'RAMPART_E_EXEC_FAILED',
              `conntrack -E exited with ${code ?? signal} before subscribing (root and nf_conntrack_netlink needed)`,
              { binary: 'conntrack', code },
            ),
          );
          return;
        }
        if (stopping) return;
        // A gap until the restart: count it as a loss, never pretend the record is complete.
        stats.losses++;
        stats.restarts++;
        warn(`conntrack exited with ${code ?? signal}; restarting`);
        restartTimer = setTimeout(() => {
          restartTimer = undefined;
          if (!stopping) relaunch().catch((e: Error) => warn(`conntrack restart failed: ${e.message}`));
        }, opts.restartDelayMs ?? 1000);
      });
    });

  const exec = opts.exec === undefined ? realExec : opts.exec;
  const relaunch = (): Promise<void> =>
    exec ? withDefaultReceiveBuffer(exec, opts.bufferBytes ?? DEFAULT_CONNTRACK_BUFFER, launch) : launch();

  return {
    start: () => {
      stopping = false;
      return relaunch();
    },
    async stop() {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const c = child;
      if (!c) return;
      const kill = setTimeout(() => c.kill('SIGKILL'), 2000);
      // SIGTERM: conntrack flushes what it printed and exits 0.
      c.kill('SIGTERM');
      await drained;
      clearTimeout(kill);
    },
    stats: () => ({ ...stats }),
  };
}
