import { createEvaluator } from './evaluate.ts';
import { addressBook, isSelfFlow, resolveFlow } from './flows.ts';
import {
  aggregateFlows,
  compareEdges,
  formatEdge,
  mergeEdge,
  edgeKey,
  type Edge,
  type EdgePeer,
} from './learn.ts';
import type { Flow, NetworkPolicy, Verdict, World, WorldPod } from './types.ts';

/**
 * `rampart policy test -f candidate.yaml`: recorded traffic (raw flows, or the learned per-edge
 * aggregates) evaluated against candidate policies with the reference semantics, before anything
 * is enforced. Lists what would be blocked, each with the verdict's reason.
 */

export interface ReplayOptions {
  /** The host's addresses (bridge gateways); 127.0.0.0/8 and learned host ends are added. */
  hostIps?: readonly string[];
}

export interface BlockedEdge {
  edge: Edge;
  /** The first denied verdict among the edge's address pairs. */
  verdict: Verdict;
  reason: string;
}

export interface ReplayReport {
  /** Connections replayed (an edge counts its connections). */
  connections: number;
  allowed: number;
  blocked: number;
  /** Blocked connections grouped by edge, most connections first. */
  blockedEdges: BlockedEdge[];
  /** Edges whose service has no pod in the world any more: not evaluated. */
  unresolved: Edge[];
}

const isFlowList = (xs: readonly Flow[] | readonly Edge[]): xs is readonly Flow[] =>
  xs.length > 0 && 'srcIp' in xs[0]!;

function podsOf(world: World, peer: EdgePeer, names: readonly string[]): WorldPod[] {
  if (peer.kind !== 'service') return [];
  const all = world.pods.filter((p) => p.namespace === peer.namespace && p.service === peer.service);
  const seen = all.filter((p) => names.includes(p.name));
  return seen.length > 0 ? seen : all;
}

function ipsOf(world: World, peer: EdgePeer, names: readonly string[]): string[] {
  if (peer.kind !== 'service') return [peer.ip];
  return podsOf(world, peer, names).flatMap((p) => p.ips);
}

function hostIpsOf(edges: readonly Edge[], given: readonly string[]): string[] {
  const ips = new Set(given);
  for (const e of edges) for (const p of [e.src, e.dst]) if (p.kind === 'host') ips.add(p.ip);
  return [...ips];
}

/**
 * Pure. An edge is blocked when any of its address pairs (the replicas seen, each of their
 * addresses) is denied: the learned aggregate no longer says which pair carried which connection.
 */
export function replay(
  recorded: readonly Flow[] | readonly Edge[],
  world: World,
  policies: readonly NetworkPolicy[],
  opts: ReplayOptions = {},
): ReplayReport {
  const report: ReplayReport = { connections: 0, allowed: 0, blocked: 0, blockedEdges: [], unresolved: [] };
  if (isFlowList(recorded)) {
    const book = addressBook(world, opts);
    const resolved = recorded.map((f) => resolveFlow(book, f));
    const hostIps = [
      ...new Set([
        ...(opts.hostIps ?? []),
        ...resolved
          .flatMap((r) => [r.src, r.dst])
          .filter((e) => e.kind === 'host')
          .map((e) => e.ip),
      ]),
    ];
    const check = createEvaluator(world, policies, { hostIps });
    const blocked = new Map<string, BlockedEdge>();
    for (const r of resolved) {
      report.connections++;
      const verdict = check(r.flow);
      if (verdict.allowed || isSelfFlow(r)) {
        report.allowed++;
        continue;
      }
      report.blocked++;
      const [edge] = aggregateFlows([r]);
      const key = edgeKey(edge!);
      const prev = blocked.get(key);
      blocked.set(
        key,
        prev
          ? { ...prev, edge: mergeEdge(prev.edge, edge!) }
          : { edge: edge!, verdict, reason: verdict.reason },
      );
    }
    report.blockedEdges = [...blocked.values()];
  } else {
    const check = createEvaluator(world, policies, { hostIps: hostIpsOf(recorded, opts.hostIps ?? []) });
    for (const edge of recorded) {
      const srcIps = ipsOf(world, edge.src, edge.srcReplicas);
      const dstIps = ipsOf(world, edge.dst, edge.dstReplicas);
      if (srcIps.length === 0 || dstIps.length === 0) {
        report.unresolved.push(edge);
        continue;
      }
      report.connections += edge.count;
      let denied: Verdict | undefined;
      for (const srcIp of srcIps) {
        for (const dstIp of dstIps) {
          const v = check({ srcIp, dstIp, protocol: edge.protocol, dstPort: edge.port, time: edge.lastSeen });
          if (!v.allowed) denied ??= v;
        }
      }
      if (denied) {
        report.blocked += edge.count;
        report.blockedEdges.push({ edge, verdict: denied, reason: denied.reason });
      } else report.allowed += edge.count;
    }
  }
  report.blockedEdges.sort((a, b) => b.edge.count - a.edge.count || compareEdges(a.edge, b.edge));
  return report;
}

/** Pure: the report for people, one line per blocked edge. */
export function renderReplayReport(report: ReplayReport): string {
  const out = [
    `${report.connections} connections replayed: ${report.allowed} allowed, ${report.blocked} would be blocked`,
  ];
  for (const b of report.blockedEdges) {
    out.push(`  BLOCKED ${formatEdge(b.edge)} x${b.edge.count}: ${b.reason}`);
  }
  for (const e of report.unresolved) out.push(`  SKIPPED ${formatEdge(e)}: the service has no pod now`);
  return `${out.join('\n')}\n`;
}
