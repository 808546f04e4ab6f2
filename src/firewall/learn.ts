import {
  addressBook,
  isSelfFlow,
  resolveFlow,
  type AddressBook,
  type AddressBookOptions,
  type Endpoint,
  type ResolvedFlow,
} from './flows.ts';
import type { Flow, Protocol, World } from './types.ts';

/**
 * Learning keeps one aggregate per edge, never every flow, so memory is bounded by the number of
 * distinct (source, destination, protocol, port) combinations, not by traffic. Services are the
 * unit (replicas come and go; the replicas seen are kept per edge as evidence).
 */
export type EdgePeer =
  | { kind: 'service'; namespace: string; service: string }
  | { kind: 'host'; ip: string }
  | { kind: 'external'; ip: string };

export interface Edge {
  src: EdgePeer;
  dst: EdgePeer;
  protocol: Protocol;
  /** The destination's real port (after the VIP's DNAT). */
  port: number;
  /** The destination's name for that port, if it declares one. */
  portName?: string;
  /** ms since epoch */
  firstSeen: number;
  lastSeen: number;
  /** New connections seen. */
  count: number;
  /** Pod names (`web-0`), sorted. */
  srcReplicas: string[];
  dstReplicas: string[];
}

export function peerOf(e: Endpoint): EdgePeer {
  if (e.kind === 'pod') return { kind: 'service', namespace: e.namespace, service: e.service };
  return { kind: e.kind, ip: e.ip };
}

export function peerKey(p: EdgePeer): string {
  if (p.kind === 'service') return `svc:${p.namespace}/${p.service}`;
  return `${p.kind === 'host' ? 'host' : 'ext'}:${p.ip}`;
}

/** `shop/web`, `host 198.18.0.1`, `198.51.100.7` */
export function formatPeer(p: EdgePeer): string {
  if (p.kind === 'service') return `${p.namespace}/${p.service}`;
  if (p.kind === 'host') return `host ${p.ip}`;
  return p.ip;
}

export function edgeKey(e: Pick<Edge, 'src' | 'dst' | 'protocol' | 'port'>): string {
  return `${peerKey(e.src)} -> ${peerKey(e.dst)} ${e.protocol}/${e.port}`;
}

/** `shop/client -> shop/web TCP/80 (http)` */
export function formatEdge(e: Pick<Edge, 'src' | 'dst' | 'protocol' | 'port' | 'portName'>): string {
  return `${formatPeer(e.src)} -> ${formatPeer(e.dst)} ${e.protocol}/${e.port}${e.portName ? ` (${e.portName})` : ''}`;
}

/** Pure: one flow as a one-connection edge; undefined for a pod talking to itself. */
export function edgeFromFlow(r: ResolvedFlow): Edge | undefined {
  if (isSelfFlow(r)) return undefined;
  const edge: Edge = {
    src: peerOf(r.src),
    dst: peerOf(r.dst),
    protocol: r.flow.protocol,
    port: r.flow.dstPort,
    firstSeen: r.flow.time,
    lastSeen: r.flow.time,
    count: 1,
    srcReplicas: r.src.kind === 'pod' ? [r.src.pod] : [],
    dstReplicas: r.dst.kind === 'pod' ? [r.dst.pod] : [],
  };
  if (r.portName !== undefined) edge.portName = r.portName;
  return edge;
}

const union = (a: readonly string[], b: readonly string[]): string[] =>
  a.length === 0 ? [...b] : b.every((x) => a.includes(x)) ? [...a] : [...new Set([...a, ...b])].sort();

/** Pure: two aggregates of the same edge as one. */
export function mergeEdge(a: Edge, b: Edge): Edge {
  const merged: Edge = {
    ...a,
    firstSeen: Math.min(a.firstSeen, b.firstSeen),
    lastSeen: Math.max(a.lastSeen, b.lastSeen),
    count: a.count + b.count,
    srcReplicas: union(a.srcReplicas, b.srcReplicas),
    dstReplicas: union(a.dstReplicas, b.dstReplicas),
  };
  const portName = b.portName ?? a.portName;
  if (portName !== undefined) merged.portName = portName;
  return merged;
}

/** Pure: flows into per-edge aggregates (the unit a FlowLog stores). */
export function aggregateFlows(flows: readonly ResolvedFlow[]): Edge[] {
  const byKey = new Map<string, Edge>();
  for (const r of flows) {
    const e = edgeFromFlow(r);
    if (!e) continue;
    const key = edgeKey(e);
    const prev = byKey.get(key);
    byKey.set(key, prev ? mergeEdge(prev, e) : e);
  }
  return [...byKey.values()];
}

/** Stable order for output: source, destination, protocol, port. */
export function compareEdges(a: Edge, b: Edge): number {
  return (
    formatPeer(a.src).localeCompare(formatPeer(b.src)) ||
    formatPeer(a.dst).localeCompare(formatPeer(b.dst)) ||
    a.protocol.localeCompare(b.protocol) ||
    a.port - b.port
  );
}

/**
 * Where learned edges persist. The daemon backs it with the store (one upsert per edge per flush);
 * the in-memory one serves tests and short runs.
 */
export interface FlowLog {
  /** Merges aggregates into the log; returns the edges it had never seen. */
  record(deltas: readonly Edge[]): Promise<{ added: Edge[] }>;
  edges(): Promise<Edge[]>;
  clear(): Promise<void>;
}

export class MemoryFlowLog implements FlowLog {
  private readonly byKey = new Map<string, Edge>();
  private readonly maxEdges: number;
  /** Edges refused because the log was full. */
  dropped = 0;

  /** @param opts.maxEdges @default 100_000 */
  constructor(opts: { maxEdges?: number } = {}) {
    this.maxEdges = opts.maxEdges ?? 100_000;
  }

  async record(deltas: readonly Edge[]): Promise<{ added: Edge[] }> {
    const added: Edge[] = [];
    for (const d of deltas) {
      const key = edgeKey(d);
      const prev = this.byKey.get(key);
      if (prev) this.byKey.set(key, mergeEdge(prev, d));
      else if (this.byKey.size >= this.maxEdges) this.dropped++;
      else {
        const copy = { ...d, srcReplicas: [...d.srcReplicas], dstReplicas: [...d.dstReplicas] };
        this.byKey.set(key, copy);
        added.push(copy);
      }
    }
    return { added };
  }

  async edges(): Promise<Edge[]> {
    return [...this.byKey.values()].map((e) => ({ ...e })).sort(compareEdges);
  }

  async clear(): Promise<void> {
    this.byKey.clear();
  }
}

export interface LearnerOptions extends AddressBookOptions {
  world: World;
  log: FlowLog;
  /** How often buffered aggregates go to the log. @default 500 */
  flushIntervalMs?: number;
  /** Every flushed batch (per-edge deltas of the interval): alerts and rate baselines read these. */
  onBatch?: (batch: { deltas: Edge[]; added: Edge[]; flows: ResolvedFlow[] }) => void;
  onError?: (error: unknown) => void;
}

export interface LearnerStats {
  flows: number;
  /** Pod-to-itself flows, always allowed and never recorded. */
  selfFlows: number;
  flushes: number;
  edgesAdded: number;
}

/**
 * Glue between a flow source and a FlowLog: resolves flows against the current World, aggregates
 * them in memory and flushes the aggregates every `flushIntervalMs`.
 */
export class Learner {
  private book: AddressBook;
  private pending: ResolvedFlow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly counters: LearnerStats = { flows: 0, selfFlows: 0, flushes: 0, edgesAdded: 0 };

  constructor(private readonly opts: LearnerOptions) {
    this.book = addressBook(opts.world, opts);
  }

  /** Replicas changed: later flows resolve against the new world (earlier ones keep their names). */
  setWorld(world: World, hostIps?: readonly string[]): void {
    this.book = addressBook(world, { hostIps: hostIps ?? this.opts.hostIps });
  }

  add(flows: readonly Flow[]): void {
    for (const f of flows) {
      const r = resolveFlow(this.book, f);
      this.counters.flows++;
      if (isSelfFlow(r)) this.counters.selfFlows++;
      else this.pending.push(r);
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs ?? 500);
    this.timer.unref();
  }

  /** Writes what is buffered; concurrent calls queue behind each other. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const flows = this.pending;
      this.pending = [];
      const deltas = aggregateFlows(flows);
      try {
        const { added } = await this.opts.log.record(deltas);
        this.counters.flushes++;
        this.counters.edgesAdded += added.length;
        this.opts.onBatch?.({ deltas, added, flows });
      } catch (error) {
        this.opts.onError?.(error);
      }
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  stats(): LearnerStats {
    return { ...this.counters };
  }
}
