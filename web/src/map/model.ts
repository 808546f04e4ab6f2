// Pure: the map's graph from what the API answers (service map, learned flows, alerts, the
// compliance report's allowed connections and rule usage). No DOM here, so it is cheap to test and
// to run on every poll.
import type {
  Alert,
  ComplianceReport,
  Connection,
  FlowEdge,
  NodeKind,
  Red,
  Replica,
  RuleUsage,
  ServiceMap,
} from '../types.ts';

export type EdgeState = 'policy' | 'learned' | 'alerting' | 'blocked';
export const EDGE_STATES: readonly EdgeState[] = ['policy', 'learned', 'alerting', 'blocked'];
export const EDGE_STATE_LABEL: Record<EdgeState, string> = {
  policy: 'allowed by policy',
  learned: 'learned',
  alerting: 'alerting',
  blocked: 'blocked',
};
export type Network = 'app' | 'db' | 'outside';

export interface GraphNode {
  id: string;
  label: string;
  namespace: string;
  network: Network;
  kind: NodeKind | 'host' | 'namespace';
  replicas: Replica[];
  /** Every replica running and healthy (or no health check). */
  healthy: boolean;
  red: Red | undefined;
  /** For an aggregated namespace node: how many nodes it stands for. */
  members: number;
}

export interface GraphEdge {
  id: string;
  from: string;
  to: string;
  state: EdgeState;
  rate: number;
  errorRate: number;
  p95Ms: number | null;
  requests: number;
  connections: number;
  sources: string[];
  alerts: Alert[];
  connection: Connection | undefined;
  rules: RuleUsage[];
  flows: FlowEdge[];
  /** For an aggregated edge: how many edges it stands for. */
  members: number;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface GraphInput {
  replicas: readonly Replica[];
  map?: ServiceMap | undefined;
  flows?: readonly FlowEdge[];
  alerts?: readonly Alert[];
  compliance?: ComplianceReport | undefined;
  rules?: readonly RuleUsage[];
  /** Alerts older than this (ms since epoch) no longer color an edge. */
  alertsSince?: number;
}

const OUTSIDE = 'outside';
const STATE_RANK: Record<EdgeState, number> = { learned: 0, policy: 1, alerting: 2, blocked: 3 };

export function worseState(a: EdgeState, b: EdgeState): EdgeState {
  return STATE_RANK[a] >= STATE_RANK[b] ? a : b;
}

export function buildGraph(input: GraphInput): Graph {
  const nodes = new Map<string, GraphNode>();
  const byService = new Map<string, string>(); // bare service name -> ns/service
  const replicasOf = new Map<string, Replica[]>();
  for (const r of input.replicas) {
    const id = `${r.namespace}/${r.service}`;
    const list = replicasOf.get(id) ?? [];
    list.push(r);
    replicasOf.set(id, list);
    if (!byService.has(r.service)) byService.set(r.service, id);
  }
  const ensure = (id: string, make: () => GraphNode): GraphNode => {
    let n = nodes.get(id);
    if (!n) {
      n = make();
      nodes.set(id, n);
    }
    return n;
  };
  for (const [id, reps] of replicasOf) {
    const first = reps[0]!;
    ensure(id, () => ({
      id,
      label: first.service,
      namespace: first.namespace,
      network: first.kind === 'database' ? 'db' : 'app',
      kind: first.kind,
      replicas: reps,
      healthy: reps.every((r) => r.state === 'running' && (r.health === 'none' || r.healthy)),
      red: undefined,
      members: 1,
    }));
  }
  const outside = (key: string, label: string, kind: GraphNode['kind']): string =>
    ensure(key, () => ({
      id: key,
      label,
      namespace: OUTSIDE,
      network: 'outside',
      kind,
      replicas: [],
      healthy: true,
      red: undefined,
      members: 1,
    })).id;

  // A name from traces: `ns/service`, a bare service name, a database or an outside address.
  const resolveName = (name: string, kind: NodeKind): string => {
    if (nodes.has(name)) return name;
    const known = byService.get(name);
    if (known) return known;
    if (kind === 'database') {
      const db = [...nodes.values()].find((n) => n.network === 'db' && name.includes(n.label));
      if (db) return db.id;
      return outside(`db:${name}`, name, 'database');
    }
    if (kind === 'external') return outside(`ext:${name}`, name, 'external');
    return outside(`svc:${name}`, name, 'service');
  };
  const resolvePeer = (p: FlowEdge['src']): string => {
    if (p.kind === 'service') {
      const id = `${p.namespace}/${p.service}`;
      return nodes.has(id) ? id : resolveName(id, 'service');
    }
    return p.kind === 'host'
      ? outside(`host:${p.ip}`, `host ${p.ip}`, 'host')
      : outside(`ext:${p.ip}`, p.ip, 'external');
  };
  const resolveEnd = (e: Alert['src']): string => {
    if (e.kind === 'pod' && e.namespace && e.service)
      return resolvePeer({ kind: 'service', namespace: e.namespace, service: e.service });
    return resolvePeer({ kind: e.kind === 'host' ? 'host' : 'external', ip: e.ip });
  };

  const edges = new Map<string, GraphEdge>();
  const edge = (from: string, to: string): GraphEdge => {
    const id = `${from}->${to}`;
    let e = edges.get(id);
    if (!e) {
      e = {
        id,
        from,
        to,
        state: 'learned',
        rate: 0,
        errorRate: 0,
        p95Ms: null,
        requests: 0,
        connections: 0,
        sources: [],
        alerts: [],
        connection: undefined,
        rules: [],
        flows: [],
        members: 1,
      };
      edges.set(id, e);
    }
    return e;
  };

  for (const n of input.map?.nodes ?? []) {
    const id = resolveName(n.id, n.kind);
    const node = nodes.get(id);
    if (node) node.red = n;
  }
  const kindOf = new Map((input.map?.nodes ?? []).map((n) => [n.id, n.kind]));
  for (const m of input.map?.edges ?? []) {
    const toKind = kindOf.get(m.to) ?? 'service';
    const e = edge(resolveName(m.from, 'service'), resolveName(m.to, toKind));
    e.rate += m.rate;
    e.requests += m.requests;
    e.errorRate = m.errorRate;
    e.p95Ms = m.p95Ms;
    e.connections += m.connections;
    for (const s of m.sources) if (!e.sources.includes(s)) e.sources.push(s);
  }
  for (const f of input.flows ?? []) {
    const e = edge(resolvePeer(f.src), resolvePeer(f.dst));
    e.flows.push(f);
    if (!e.sources.includes('flow')) e.sources.push('flow');
    if (!input.map) e.connections += f.count;
  }
  const since = input.alertsSince ?? 0;
  for (const a of input.alerts ?? []) {
    if (a.lastSeen < since || a.kind === 'rate-spike') continue;
    const e = edge(resolveEnd(a.src), resolveEnd(a.dst));
    e.alerts.push(a);
    if (!e.sources.includes('alert')) e.sources.push('alert');
  }

  const connections = new Map<string, Connection>();
  for (const c of input.compliance?.connections ?? []) connections.set(`${c.client}->${c.server}`, c);
  const rules = input.rules ?? [];
  for (const e of edges.values()) {
    e.connection = connections.get(e.id);
    e.rules = e.connection ? rules.filter((r) => e.connection!.allowedBy.includes(r.rule)) : [];
    e.state = stateOf(e);
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

function stateOf(e: GraphEdge): EdgeState {
  if (e.alerts.some((a) => a.decision === 'blocked')) return 'blocked';
  if (e.alerts.length > 0) return 'alerting';
  if (e.rules.some((r) => r.provenance === 'declared')) return 'policy';
  return 'learned';
}

/**
 * The graph with the namespaces in `collapsed` drawn as one node each; edges between them summed
 * (rates added, the worst firewall state kept). Edges inside one collapsed namespace disappear.
 */
export function aggregate(graph: Graph, collapsed: ReadonlySet<string>): Graph {
  if (collapsed.size === 0) return graph;
  const owner = new Map<string, string>();
  const nodes: GraphNode[] = [];
  const groups = new Map<string, GraphNode>();
  for (const n of graph.nodes) {
    if (!collapsed.has(n.namespace)) {
      owner.set(n.id, n.id);
      nodes.push(n);
      continue;
    }
    const id = `ns:${n.namespace}`;
    owner.set(n.id, id);
    const g = groups.get(id);
    if (g) {
      g.members++;
      g.healthy &&= n.healthy;
      g.replicas.push(...n.replicas);
    } else {
      const created: GraphNode = {
        id,
        label: n.namespace,
        namespace: n.namespace,
        network: n.network === 'outside' ? 'outside' : 'app',
        kind: 'namespace',
        replicas: [...n.replicas],
        healthy: n.healthy,
        red: undefined,
        members: 1,
      };
      groups.set(id, created);
      nodes.push(created);
    }
  }
  const edges = new Map<string, GraphEdge>();
  for (const e of graph.edges) {
    const from = owner.get(e.from)!;
    const to = owner.get(e.to)!;
    if (from === to && from.startsWith('ns:')) continue;
    if (from === e.from && to === e.to) {
      edges.set(e.id, e);
      continue;
    }
    const id = `${from}->${to}`;
    const a = edges.get(id);
    if (!a) {
      edges.set(id, { ...e, id, from, to, alerts: [...e.alerts], flows: [], rules: [], members: 1 });
      continue;
    }
    const requests = a.requests + e.requests;
    a.errorRate = requests ? (a.errorRate * a.requests + e.errorRate * e.requests) / requests : 0;
    a.requests = requests;
    a.rate += e.rate;
    a.connections += e.connections;
    a.p95Ms = Math.max(a.p95Ms ?? 0, e.p95Ms ?? 0) || null;
    a.state = worseState(a.state, e.state);
    a.alerts.push(...e.alerts);
    a.members++;
  }
  return { nodes, edges: [...edges.values()] };
}

/** Namespaces sorted by name, `outside` last. */
export function namespacesOf(graph: Graph): string[] {
  const set = new Set(graph.nodes.map((n) => n.namespace));
  return [...set].sort((a, b) => (a === OUTSIDE ? 1 : b === OUTSIDE ? -1 : a.localeCompare(b)));
}

/** One line for an edge: rate, error rate, p95. */
export function edgeLabel(
  e: Pick<GraphEdge, 'rate' | 'errorRate' | 'p95Ms' | 'connections' | 'requests'>,
): string {
  if (e.requests === 0) return e.connections ? `${e.connections} conn` : '';
  const rate = e.rate >= 10 ? e.rate.toFixed(0) : e.rate.toFixed(1);
  const err = `${(e.errorRate * 100).toFixed(e.errorRate > 0 && e.errorRate < 0.01 ? 1 : 0)}%`;
  const p95 = e.p95Ms === null ? '' : ` · p95 ${e.p95Ms >= 10 ? e.p95Ms.toFixed(0) : e.p95Ms.toFixed(1)}ms`;
  return `${rate}/s · ${err} err${p95}`;
}
