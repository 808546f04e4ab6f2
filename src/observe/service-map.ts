import type { Attributes, SpanRecord } from './types.ts';

export type NodeKind = 'service' | 'database' | 'external';

/** What the service map reads of a span (TraceStore.mapSpans gives exactly this). */
export type CallSpan = Pick<
  SpanRecord,
  'traceId' | 'spanId' | 'parentSpanId' | 'service' | 'kind' | 'durationNs' | 'status' | 'weight'
> & {
  attributes: Attributes;
};

/** Maps an address (VIP, replica address, host name) to what Rampart knows it is. */
export type AddressResolver = (address: string) => { name: string; kind: NodeKind } | undefined;

/** A connection seen by conntrack (or any flow source) between two nodes in the window. */
export interface FlowEdge {
  from: string;
  to: string;
  /** @default 'service' */
  toKind?: NodeKind;
  connections: number;
}

/** One observed call from one node to another. */
export interface Call {
  from: string;
  to: string;
  toKind: NodeKind;
  durationNs: number;
  error: boolean;
  /** Requests this call stands for (the caller span's adjusted count). */
  weight: number;
}

export interface Red {
  requests: number;
  errors: number;
  /** Per second over the window. */
  rate: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ServiceMapNode extends Red {
  id: string;
  kind: NodeKind;
}

export interface ServiceMapEdge extends Red {
  from: string;
  to: string;
  sources: ('trace' | 'flow')[];
  /** Connections seen in flows, when any. */
  connections: number;
}

export interface ServiceMap {
  windowMs: number;
  nodes: ServiceMapNode[];
  edges: ServiceMapEdge[];
}

/** Attributes `peerOf` reads (the trace store extracts only these for the map). */
export const PEER_ATTRIBUTES = [
  'db.system',
  'db.system.name',
  'db.namespace',
  'db.name',
  'server.address',
  'server.port',
  'net.peer.name',
  'net.peer.port',
  'peer.service',
  'http.host',
  'url.full',
  'http.url',
] as const;

const str = (v: unknown): string | undefined =>
  v === undefined || v === null || v === '' ? undefined : String(v);

/** Host name (IPv6 without its brackets) and port of a URL, when it has them. */
function urlTarget(url: string | undefined): { host?: string; port?: string } {
  if (!url) return {};
  try {
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    return { ...(host && { host }), ...(u.port && { port: u.port }) };
  } catch {
    return {};
  }
}

/**
 * Who a client span called when no server span answered it (the callee sent no spans, or has not
 * sent them yet): a database when the span has `db.system`, else the peer address (from the URL
 * when the span has no `server.address`); named through `resolve` when Rampart knows the address
 * (a service's name, a VIP, a replica), as `host:port` otherwise.
 */
export function peerOf(span: CallSpan, resolve?: AddressResolver): { name: string; kind: NodeKind } {
  const a = span.attributes;
  const fromUrl = urlTarget(str(a['url.full']) ?? str(a['http.url']));
  const address = str(a['server.address']) ?? str(a['net.peer.name']) ?? fromUrl.host;
  const port = str(a['server.port']) ?? str(a['net.peer.port']) ?? fromUrl.port;
  const peerService = str(a['peer.service']);
  const known = address ? resolve?.(address) : undefined;
  if (str(a['db.system']) ?? str(a['db.system.name'])) {
    const name =
      peerService ??
      known?.name ??
      address ??
      str(a['db.namespace']) ??
      str(a['db.name']) ??
      str(a['db.system']) ??
      'database';
    return { name, kind: 'database' };
  }
  if (peerService) return { name: peerService, kind: 'service' };
  if (known) return known;
  const shown = address?.includes(':') ? `[${address}]` : address;
  const host = shown ? (port ? `${shown}:${port}` : shown) : str(a['http.host']);
  return { name: host ?? 'unknown', kind: 'external' };
}

const isCaller = (k: string) => k === 'client' || k === 'producer';
const isCallee = (k: string) => k === 'server' || k === 'consumer';

/**
 * Calls in a set of spans: a CLIENT span in A whose child SERVER span is in B is a call A→B (its
 * latency is the client's, as the caller saw it); a client span with no server child is a call to
 * its peer (database or outside address); a SERVER span whose parent is a non-client span of
 * another service is a call too (a caller that propagates context without a client span).
 */
export function deriveCalls(spans: readonly CallSpan[], resolve?: AddressResolver): Call[] {
  const key = (traceId: string, spanId: string) => `${traceId}/${spanId}`;
  const byKey = new Map<string, CallSpan>();
  const calleeOf = new Map<string, CallSpan>();
  for (const s of spans) {
    byKey.set(key(s.traceId, s.spanId), s);
    if (isCallee(s.kind) && s.parentSpanId) calleeOf.set(key(s.traceId, s.parentSpanId), s);
  }
  const calls: Call[] = [];
  for (const s of spans) {
    if (isCaller(s.kind)) {
      const callee = calleeOf.get(key(s.traceId, s.spanId));
      const error = s.status === 'error' || callee?.status === 'error';
      if (callee)
        calls.push({
          from: s.service,
          to: callee.service,
          toKind: 'service',
          durationNs: s.durationNs,
          error,
          weight: s.weight ?? 1,
        });
      else {
        const peer = peerOf(s, resolve);
        calls.push({
          from: s.service,
          to: peer.name,
          toKind: peer.kind,
          durationNs: s.durationNs,
          error,
          weight: s.weight ?? 1,
        });
      }
    } else if (isCallee(s.kind) && s.parentSpanId) {
      const parent = byKey.get(key(s.traceId, s.parentSpanId));
      if (parent && !isCaller(parent.kind) && parent.service !== s.service) {
        calls.push({
          from: parent.service,
          to: s.service,
          toKind: 'service',
          durationNs: s.durationNs,
          error: s.status === 'error',
          weight: s.weight ?? 1,
        });
      }
    }
  }
  return calls;
}

/** Durations with the requests each stands for, and the errors among them (weighted too). */
export interface Samples {
  d: number[];
  w: number[];
  e: number;
}

const emptySamples = (): Samples => ({ d: [], w: [], e: 0 });

function addSample(v: Samples, durationNs: number, weight: number, error: boolean): void {
  v.d.push(durationNs);
  v.w.push(weight);
  if (error) v.e += weight;
}

/**
 * Weighted quantile q (nearest rank) of durations, each counted `weight` times: the first duration,
 * in order, at which the weights seen reach q of the total.
 */
function weightedQuantile(order: readonly number[], v: Samples, total: number, q: number): number | null {
  if (order.length === 0) return null;
  let seen = 0;
  for (const i of order) {
    seen += v.w[i]!;
    if (seen >= q * total - 1e-9) return v.d[i]!;
  }
  return v.d[order[order.length - 1]!]!;
}

/**
 * RED of a set of samples over a window. Sampled traces count as many requests as they stand for
 * (their adjusted count), so rates and latencies hold when only some traces are kept.
 */
export function red(v: Samples, windowMs: number): Red {
  const ms = (x: number | null) => (x === null ? null : Math.round(x / 1e3) / 1e3);
  const seconds = Math.max(windowMs, 1) / 1000;
  const total = v.w.reduce((a, b) => a + b, 0);
  const order = v.d.map((_, i) => i).sort((a, b) => v.d[a]! - v.d[b]!);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    requests: round(total),
    errors: round(v.e),
    rate: total / seconds,
    errorRate: total === 0 ? 0 : v.e / total,
    p50Ms: ms(weightedQuantile(order, v, total, 0.5)),
    p95Ms: ms(weightedQuantile(order, v, total, 0.95)),
    p99Ms: ms(weightedQuantile(order, v, total, 0.99)),
  };
}

/**
 * The service map of a window: nodes are services (RED from their SERVER/CONSUMER spans, or their
 * root spans when they serve nothing), databases and outside addresses (RED of the calls they
 * received); edges are calls from traces plus flows (connections seen by the kernel, which also
 * show services that send no spans).
 */
export function serviceMap(input: {
  spans: readonly CallSpan[];
  windowMs: number;
  flows?: readonly FlowEdge[];
  resolveAddress?: AddressResolver;
}): ServiceMap {
  const { spans, windowMs } = input;
  const nodeKind = new Map<string, NodeKind>();
  const setKind = (id: string, kind: NodeKind) => {
    // A node seen as a database anywhere is a database (Rampart runs databases as services too).
    if (nodeKind.get(id) !== 'database') nodeKind.set(id, kind);
  };
  const served = new Map<string, Samples>();
  const roots = new Map<string, Samples>();
  const ids = new Set(spans.map((s) => `${s.traceId}/${s.spanId}`));
  const add = (m: Map<string, Samples>, k: string, s: CallSpan) => {
    const v = m.get(k) ?? emptySamples();
    addSample(v, s.durationNs, s.weight ?? 1, s.status === 'error');
    m.set(k, v);
  };
  for (const s of spans) {
    setKind(s.service, 'service');
    if (isCallee(s.kind)) add(served, s.service, s);
    else if (!s.parentSpanId || !ids.has(`${s.traceId}/${s.parentSpanId}`)) add(roots, s.service, s);
  }

  const edgeCalls = new Map<
    string,
    { from: string; to: string; v: Samples; connections: number; sources: Set<'trace' | 'flow'> }
  >();
  const received = new Map<string, Samples>();
  for (const c of deriveCalls(spans, input.resolveAddress)) {
    setKind(c.from, 'service');
    setKind(c.to, c.toKind);
    const k = `${c.from}\u0000${c.to}`;
    const edge = edgeCalls.get(k) ?? {
      from: c.from,
      to: c.to,
      v: emptySamples(),
      connections: 0,
      sources: new Set(),
    };
    addSample(edge.v, c.durationNs, c.weight, c.error);
    edge.sources.add('trace');
    edgeCalls.set(k, edge);
    if (c.toKind !== 'service') {
      const r = received.get(c.to) ?? emptySamples();
      addSample(r, c.durationNs, c.weight, c.error);
      received.set(c.to, r);
    }
  }
  for (const f of input.flows ?? []) {
    setKind(f.from, 'service');
    setKind(f.to, f.toKind ?? 'service');
    const k = `${f.from}\u0000${f.to}`;
    const edge = edgeCalls.get(k) ?? {
      from: f.from,
      to: f.to,
      v: emptySamples(),
      connections: 0,
      sources: new Set(),
    };
    edge.connections += f.connections;
    edge.sources.add('flow');
    edgeCalls.set(k, edge);
  }

  const nodes: ServiceMapNode[] = [...nodeKind].map(([id, kind]) => {
    const stats = served.get(id) ?? received.get(id) ?? roots.get(id) ?? emptySamples();
    return { id, kind, ...red(stats, windowMs) };
  });
  const edges: ServiceMapEdge[] = [...edgeCalls.values()].map((e) => ({
    from: e.from,
    to: e.to,
    sources: [...e.sources].sort(),
    connections: e.connections,
    ...red(e.v, windowMs),
  }));
  nodes.sort((a, b) => a.id.localeCompare(b.id));
  edges.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  return { windowMs, nodes, edges };
}
