import { createEvaluator, ruleId } from './evaluate.ts';
import { formatPeer, type Edge, type EdgePeer } from './learn.ts';
import { PROVENANCE_ANNOTATION } from './propose.ts';
import type { NetworkPolicy, World } from './types.ts';

/**
 * Evidence for switching a service to protect: how much is it still learning (new edges in the
 * last N minutes, time since the last new edge), and which rules of the policies in force the
 * recorded traffic uses (provenance, first/last hit, hit count), so unused rules can be listed.
 */

export interface ServiceCoverage {
  /** `<namespace>/<service>` */
  service: string;
  /** Edges in which it is the source or the destination. */
  edges: number;
  connections: number;
  /** Edges first seen within the window. */
  newEdgesInWindow: number;
  /** When its newest edge was first seen. */
  lastNewEdgeAt?: number;
  msSinceLastNewEdge?: number;
  /** When learning first saw it. */
  firstSeen?: number;
}

export interface CoverageOptions {
  now: number;
  /** @default 15 minutes */
  windowMs?: number;
}

const serviceId = (p: EdgePeer): string | undefined => (p.kind === 'service' ? formatPeer(p) : undefined);

/** Pure: one row per service of the world (and per service only the edges still name), sorted. */
export function learningCoverage(
  world: World,
  edges: readonly Edge[],
  opts: CoverageOptions,
): ServiceCoverage[] {
  const windowMs = opts.windowMs ?? 15 * 60_000;
  const rows = new Map<string, ServiceCoverage>();
  const row = (service: string): ServiceCoverage => {
    let r = rows.get(service);
    if (!r) rows.set(service, (r = { service, edges: 0, connections: 0, newEdgesInWindow: 0 }));
    return r;
  };
  for (const p of world.pods) row(`${p.namespace}/${p.service}`);
  for (const e of edges) {
    for (const id of new Set([serviceId(e.src), serviceId(e.dst)])) {
      if (id === undefined) continue;
      const r = row(id);
      r.edges++;
      r.connections += e.count;
      if (opts.now - e.firstSeen <= windowMs) r.newEdgesInWindow++;
      if (r.lastNewEdgeAt === undefined || e.firstSeen > r.lastNewEdgeAt) r.lastNewEdgeAt = e.firstSeen;
      if (r.firstSeen === undefined || e.firstSeen < r.firstSeen) r.firstSeen = e.firstSeen;
    }
  }
  return [...rows.values()]
    .map((r) =>
      r.lastNewEdgeAt === undefined
        ? r
        : { ...r, msSinceLastNewEdge: Math.max(0, opts.now - r.lastNewEdgeAt) },
    )
    .sort((a, b) => a.service.localeCompare(b.service));
}

export type Provenance = 'learned' | 'declared';

export function provenanceOf(policy: NetworkPolicy): Provenance {
  return policy.metadata.annotations?.[PROVENANCE_ANNOTATION] === 'learned' ? 'learned' : 'declared';
}

export interface RuleUsage {
  /** `<namespace>/<policy> <ingress|egress>[<i>]`, as verdicts name it. */
  rule: string;
  policy: string;
  direction: 'ingress' | 'egress';
  index: number;
  provenance: Provenance;
  /** Connections the rule allowed (the recorded edges' counts). */
  hits: number;
  /** Distinct edges that used it. */
  edges: number;
  firstHit?: number;
  lastHit?: number;
}

/**
 * Pure: every rule of `policies` with the recorded edges that use it (judged by the reference
 * evaluator's `allowedBy`, over every address pair of the replicas each edge saw). A rule with
 * `hits: 0` is unused.
 */
export function ruleUsage(
  world: World,
  policies: readonly NetworkPolicy[],
  edges: readonly Edge[],
  opts: { hostIps?: readonly string[] } = {},
): RuleUsage[] {
  const usage = new Map<string, RuleUsage>();
  for (const policy of policies) {
    for (const direction of ['ingress', 'egress'] as const) {
      (policy.spec[direction] ?? []).forEach((_, index) => {
        const rule = ruleId(policy, direction, index);
        usage.set(rule, {
          rule,
          policy: `${policy.metadata.namespace}/${policy.metadata.name}`,
          direction,
          index,
          provenance: provenanceOf(policy),
          hits: 0,
          edges: 0,
        });
      });
    }
  }
  const hostIps = new Set(opts.hostIps ?? []);
  for (const e of edges) for (const p of [e.src, e.dst]) if (p.kind === 'host') hostIps.add(p.ip);
  const check = createEvaluator(world, policies, { hostIps: [...hostIps] });
  const ipsOf = (p: EdgePeer, names: readonly string[]): string[] => {
    if (p.kind !== 'service') return [p.ip];
    const pods = world.pods.filter((x) => x.namespace === p.namespace && x.service === p.service);
    const seen = pods.filter((x) => names.includes(x.name));
    return (seen.length > 0 ? seen : pods).flatMap((x) => x.ips);
  };
  for (const e of edges) {
    const used = new Set<string>();
    for (const srcIp of ipsOf(e.src, e.srcReplicas)) {
      for (const dstIp of ipsOf(e.dst, e.dstReplicas)) {
        const v = check({ srcIp, dstIp, protocol: e.protocol, dstPort: e.port, time: e.lastSeen });
        for (const r of [...v.egress.allowedBy, ...v.ingress.allowedBy]) used.add(r);
      }
    }
    for (const r of used) {
      const u = usage.get(r);
      if (!u) continue;
      u.hits += e.count;
      u.edges++;
      u.firstHit = u.firstHit === undefined ? e.firstSeen : Math.min(u.firstHit, e.firstSeen);
      u.lastHit = u.lastHit === undefined ? e.lastSeen : Math.max(u.lastHit, e.lastSeen);
    }
  }
  return [...usage.values()];
}

export function unusedRules(usage: readonly RuleUsage[]): RuleUsage[] {
  return usage.filter((u) => u.hits === 0);
}

const ago = (ms: number | undefined): string => {
  if (ms === undefined) return '-';
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 3_600_000)}h`;
};

/** Pure: the coverage table for people. */
export function renderCoverage(rows: readonly ServiceCoverage[], windowMs = 15 * 60_000): string {
  const header = ['SERVICE', 'EDGES', 'CONNECTIONS', `NEW IN ${ago(windowMs)}`, 'LAST NEW EDGE'];
  const body = rows.map((r) => [
    r.service,
    String(r.edges),
    String(r.connections),
    String(r.newEdgesInWindow),
    r.msSinceLastNewEdge === undefined ? 'never' : `${ago(r.msSinceLastNewEdge)} ago`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return `${[header, ...body]
    .map((cells) =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
