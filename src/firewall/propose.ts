import { Document, type YAMLMap } from 'yaml';
import { compareEdges, formatPeer, peerKey, type Edge, type EdgePeer } from './learn.ts';
import type {
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  World,
} from './types.ts';
import { NAMESPACE_NAME_LABEL, SERVICE_LABEL } from './world.ts';

/** Marks the rules Rampart wrote from traffic, as opposed to rules people declared. */
export const PROVENANCE_ANNOTATION = 'rampart.io/provenance';

export interface ProposeOptions {
  /**
   * Also write a (deny-all) policy for services of the world that no learned edge mentions, so
   * that they too allow exactly what was seen: nothing. @default true
   */
  includeIdle?: boolean;
}

interface ServiceRef {
  namespace: string;
  service: string;
}

const refKey = (r: ServiceRef): string => `${r.namespace}/${r.service}`;
const compareRefs = (a: ServiceRef, b: ServiceRef): number =>
  a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service);

/** The peer a rule names for one end of an edge; undefined for the host (always allowed towards pods). */
export function peerFor(p: EdgePeer): NetworkPolicyPeer | undefined {
  if (p.kind === 'service') {
    return {
      namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: p.namespace } },
      podSelector: { matchLabels: { [SERVICE_LABEL]: p.service } },
    };
  }
  return { ipBlock: { cidr: `${p.ip}/32` } };
}

/** Named where the destination declares the name (it survives a port change), else the number. */
function portFor(e: Edge): NetworkPolicyPort {
  return { protocol: e.protocol, port: e.dst.kind === 'service' && e.portName ? e.portName : e.port };
}

function uniquePorts(edges: readonly Edge[]): NetworkPolicyPort[] {
  const seen = new Map<string, NetworkPolicyPort>();
  for (const e of [...edges].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port)) {
    const p = portFor(e);
    seen.set(`${p.protocol}/${p.port}`, p);
  }
  return [...seen.values()];
}

/** Edges grouped by one end's peer, in a stable order. */
function groupBy(edges: readonly Edge[], end: 'src' | 'dst'): [EdgePeer, Edge[]][] {
  const groups = new Map<string, [EdgePeer, Edge[]]>();
  for (const e of edges) {
    const key = peerKey(e[end]);
    const g = groups.get(key) ?? [e[end], []];
    g[1].push(e);
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => formatPeer(a[0]).localeCompare(formatPeer(b[0])));
}

const isService = (p: EdgePeer, r: ServiceRef): boolean =>
  p.kind === 'service' && p.namespace === r.namespace && p.service === r.service;

/**
 * Pure: the minimal NetworkPolicy set that allows exactly the learned edges. One policy per
 * service (named after it, in its namespace) selecting its pods by `app.kubernetes.io/name`,
 * isolating both directions; one ingress rule per source and one egress rule per destination, each
 * with the ports seen. Peers are services (namespaceSelector on `kubernetes.io/metadata.name` +
 * podSelector) or single addresses (`ipBlock /32`). Connections from the host are not turned into
 * rules: Kubernetes (and Rampart) always allow a node's traffic to its pods.
 */
export function proposePolicies(
  world: World,
  edges: readonly Edge[],
  opts: ProposeOptions = {},
): NetworkPolicy[] {
  const services = new Map<string, ServiceRef>();
  const add = (r: ServiceRef) => services.set(refKey(r), { namespace: r.namespace, service: r.service });
  if (opts.includeIdle ?? true) for (const p of world.pods) add(p);
  for (const e of edges) {
    if (e.src.kind === 'service') add(e.src);
    if (e.dst.kind === 'service') add(e.dst);
  }
  return [...services.values()].sort(compareRefs).map((svc) => {
    const ingress: NetworkPolicyIngressRule[] = groupBy(
      edges.filter((e) => isService(e.dst, svc) && e.src.kind !== 'host'),
      'src',
    ).map(([peer, group]) => ({ from: [peerFor(peer)!], ports: uniquePorts(group) }));
    const egress: NetworkPolicyEgressRule[] = groupBy(
      edges.filter((e) => isService(e.src, svc)),
      'dst',
    ).map(([peer, group]) => ({ to: [peerFor(peer)!], ports: uniquePorts(group) }));
    return {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: svc.service,
        namespace: svc.namespace,
        annotations: { [PROVENANCE_ANNOTATION]: 'learned' },
      },
      spec: {
        podSelector: { matchLabels: { [SERVICE_LABEL]: svc.service } },
        policyTypes: ['Ingress', 'Egress'],
        ingress,
        egress,
      },
    } satisfies NetworkPolicy;
  });
}

// ---- evidence: which learned edges a rule of the proposal's shape covers ----------------------------

function selectedService(policy: NetworkPolicy): ServiceRef | undefined {
  const service = policy.spec.podSelector.matchLabels?.[SERVICE_LABEL];
  return service === undefined ? undefined : { namespace: policy.metadata.namespace, service };
}

function peerCovers(peer: NetworkPolicyPeer, p: EdgePeer, policyNamespace: string): boolean {
  if (peer.ipBlock) {
    if (p.kind === 'service') return false;
    const [ip, bits] = peer.ipBlock.cidr.split('/');
    return bits === '32' ? ip === p.ip : peer.ipBlock.cidr === '0.0.0.0/0';
  }
  if (p.kind !== 'service') return false;
  const ns =
    peer.namespaceSelector?.matchLabels?.[NAMESPACE_NAME_LABEL] ??
    (peer.namespaceSelector ? undefined : policyNamespace);
  const svc = peer.podSelector?.matchLabels?.[SERVICE_LABEL];
  return (ns === undefined || ns === p.namespace) && (svc === undefined || svc === p.service);
}

function portCovers(port: NetworkPolicyPort, e: Edge): boolean {
  if ((port.protocol ?? 'TCP') !== e.protocol) return false;
  if (port.port === undefined) return true;
  if (typeof port.port === 'string') return port.port === e.portName;
  return port.endPort === undefined ? port.port === e.port : e.port >= port.port && e.port <= port.endPort;
}

/**
 * The learned edges a rule covers, judged on the rule's shape (service and namespace name labels,
 * /32 ipBlocks, ports): what the proposal's comments cite. For the reference semantics of any rule
 * use evaluate() (see coverage.ts).
 */
export function evidenceFor(
  policy: NetworkPolicy,
  direction: 'ingress' | 'egress',
  index: number,
  edges: readonly Edge[],
): Edge[] {
  const self = selectedService(policy);
  if (!self) return [];
  const rule =
    direction === 'ingress'
      ? { peers: policy.spec.ingress?.[index]?.from, ports: policy.spec.ingress?.[index]?.ports }
      : { peers: policy.spec.egress?.[index]?.to, ports: policy.spec.egress?.[index]?.ports };
  return edges
    .filter((e) => {
      const [mine, other] = direction === 'ingress' ? [e.dst, e.src] : [e.src, e.dst];
      if (!isService(mine, self)) return false;
      const peerOk =
        (rule.peers ?? []).length === 0 ||
        rule.peers!.some((p) => peerCovers(p, other, policy.metadata.namespace));
      const portOk = (rule.ports ?? []).length === 0 || rule.ports!.some((p) => portCovers(p, e));
      return peerOk && portOk;
    })
    .sort(compareEdges);
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** ` TCP/80 (http): 42 connections from client-0, client-1, first 2026-…Z, last 2026-…Z` */
function evidenceLine(e: Edge, direction: 'ingress' | 'egress'): string {
  const replicas = direction === 'ingress' ? e.srcReplicas : e.dstReplicas;
  return ` ${e.protocol}/${e.port}${e.portName ? ` (${e.portName})` : ''}: ${plural(e.count, 'connection')}${
    replicas.length ? ` ${direction === 'ingress' ? 'from' : 'to'} ${replicas.join(', ')}` : ''
  }, first ${iso(e.firstSeen)}, last ${iso(e.lastSeen)}`;
}

/** Pure: one policy as a YAML document with the evidence of every rule as comments. */
export function proposalDocument(policy: NetworkPolicy, edges: readonly Edge[]): Document {
  const doc = new Document(policy);
  const self = selectedService(policy);
  const id = `${policy.metadata.namespace}/${policy.metadata.name}`;
  const mine = self ? edges.filter((e) => isService(e.src, self) || isService(e.dst, self)) : [];
  const header = [` ${id}: who may connect to it (ingress) and where it may connect (egress).`];
  if (mine.length > 0) {
    const total = mine.reduce((n, e) => n + e.count, 0);
    const first = Math.min(...mine.map((e) => e.firstSeen));
    const last = Math.max(...mine.map((e) => e.lastSeen));
    header.push(` Learned from ${plural(total, 'connection')} seen between ${iso(first)} and ${iso(last)}.`);
  } else header.push(' No connection to or from it was seen: it may neither accept nor open any.');
  const fromHost = self ? edges.filter((e) => e.src.kind === 'host' && isService(e.dst, self)) : [];
  if (fromHost.length > 0) {
    header.push(
      ` Not listed: ${plural(
        fromHost.reduce((n, e) => n + e.count, 0),
        'connection',
      )} from the host, always allowed.`,
    );
  }
  if ((policy.spec.ingress ?? []).length === 0) header.push(' ingress: [] denies every incoming connection.');
  if ((policy.spec.egress ?? []).length === 0) header.push(' egress: [] denies every outgoing connection.');
  doc.commentBefore = header.join('\n');
  for (const direction of ['ingress', 'egress'] as const) {
    (policy.spec[direction] ?? []).forEach((rule, i) => {
      const evidence = evidenceFor(policy, direction, i, edges);
      const node = doc.getIn(['spec', direction, i], true) as YAMLMap | undefined;
      if (!node || evidence.length === 0) return;
      const peers = 'from' in rule ? rule.from : 'to' in rule ? rule.to : undefined;
      const who = evidence[0] ? formatPeer(direction === 'ingress' ? evidence[0].src : evidence[0].dst) : '';
      const title = ` ${direction === 'ingress' ? 'from' : 'to'} ${peers && peers.length === 1 ? who : 'several peers'}`;
      node.commentBefore = [title, ...evidence.map((e) => evidenceLine(e, direction))].join('\n');
    });
  }
  return doc;
}

/** Pure: the proposal as multi-document YAML, one commented document per policy, in order. */
export function renderProposalYaml(policies: readonly NetworkPolicy[], edges: readonly Edge[]): string {
  return policies.map((p) => proposalDocument(p, edges).toString({ lineWidth: 0 })).join('---\n');
}
