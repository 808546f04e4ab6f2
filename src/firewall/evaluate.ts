import { OTLP_GATEWAY_PORT } from '../platform/ports.ts';
import { NAMESPACE_NAME_LABEL } from './world.ts';
import { matchesSelector } from './selectors.ts';
import type {
  Flow,
  IPBlock,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Protocol,
  SideVerdict,
  Verdict,
  World,
  WorldPod,
} from './types.ts';

/**
 * The reference semantics of Kubernetes `networking.k8s.io/v1` NetworkPolicy, pure. The compiled
 * nftables ruleset (compile.ts) must agree with this function on every flow; tests check both.
 *
 * - A pod is isolated for egress (ingress) only if some policy in its namespace selects it and lists
 *   `Egress` (`Ingress`) in its policy types (defaulted as the API server does, see policyTypesOf).
 * - A flow is allowed iff (the source pod is not egress-isolated OR an egress rule of a policy that
 *   selects it allows it) AND (the destination pod is not ingress-isolated OR an ingress rule allows
 *   it). Policies add up; none can deny.
 * - A pod talking to itself (source and destination addresses both belong to it) is always allowed.
 * - A side that is not a pod of the world (the host, the outside) has no policy: only the pod side
 *   decides. Traffic from the host's own addresses (`hostIps`) to a pod is always allowed, as
 *   Kubernetes always allows traffic from a pod's node (and the host's output path is not filtered).
 *   Traffic from a pod to the host goes through the pod's egress rules, like any ipBlock, except
 *   TCP to the platform's OTLP receiver on the host (OTLP_GATEWAY_PORT): always allowed (0004).
 * - ipBlocks match any address inside `cidr` and outside every `except`, pod addresses included
 *   (Kubernetes leaves this to the implementation; its own e2e tests and Calico do the same).
 * - A named port is looked up on the destination pod, by name and protocol, for ingress and egress
 *   rules alike; towards an address that is not a pod a named port matches nothing.
 */

export interface EvaluateOptions {
  /** The host's own addresses (the bridges' gateways). */
  hostIps?: readonly string[];
}

export type Direction = 'ingress' | 'egress';

/**
 * policyTypes as the API server defaults them: when the list is absent or empty, `Ingress`, plus
 * `Egress` when the policy has at least one egress rule.
 */
export function policyTypesOf(policy: NetworkPolicy): ('Ingress' | 'Egress')[] {
  const declared = policy.spec.policyTypes ?? [];
  if (declared.length > 0) return [...declared];
  return (policy.spec.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

export function policyId(policy: NetworkPolicy): string {
  return `${policy.metadata.namespace}/${policy.metadata.name}`;
}

export function ruleId(policy: NetworkPolicy, direction: Direction, index: number): string {
  return `${policyId(policy)} ${direction}[${index}]`;
}

export function podId(pod: WorldPod): string {
  return `${pod.namespace}/${pod.name}`;
}

/** A namespace's labels; a namespace the world does not list still has its name label. */
export function namespaceLabels(world: World, namespace: string): Readonly<Record<string, string>> {
  return world.namespaces.find((n) => n.name === namespace)?.labels ?? { [NAMESPACE_NAME_LABEL]: namespace };
}

/** Whether `policy` selects `pod` (same namespace, podSelector matches), whatever its types. */
export function selectsPod(policy: NetworkPolicy, pod: WorldPod): boolean {
  return pod.namespace === policy.metadata.namespace && matchesSelector(policy.spec.podSelector, pod.labels);
}

/**
 * Whether a selector peer (podSelector and/or namespaceSelector, no ipBlock) of a policy in
 * `policyNamespace` admits `pod`: podSelector alone means pods of the policy's own namespace;
 * namespaceSelector alone means every pod of the matching namespaces; both means matching pods in
 * matching namespaces. A peer with neither selects nothing (the parser refuses it).
 */
export function peerSelectsPod(
  peer: NetworkPolicyPeer,
  policyNamespace: string,
  pod: WorldPod,
  nsLabels: (namespace: string) => Readonly<Record<string, string>>,
): boolean {
  if (peer.ipBlock || (!peer.podSelector && !peer.namespaceSelector)) return false;
  if (peer.namespaceSelector) {
    if (!matchesSelector(peer.namespaceSelector, nsLabels(pod.namespace))) return false;
  } else if (pod.namespace !== policyNamespace) return false;
  return !peer.podSelector || matchesSelector(peer.podSelector, pod.labels);
}

// ---- IPv4 arithmetic, lenient (policies are validated by the parser) -------------------------------

export function ipv4ToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) return Number.NaN;
  let n = 0;
  for (const p of parts) {
    const octet = /^\d{1,3}$/.test(p) ? Number(p) : Number.NaN;
    if (!(octet <= 255)) return Number.NaN;
    n = n * 256 + octet;
  }
  return n;
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** First and last address of `a.b.c.d/n` (host bits ignored); undefined when it is not IPv4. */
export function cidrBounds(cidr: string): [number, number] | undefined {
  const [ip, bits] = cidr.split('/');
  const prefix = bits === undefined ? 32 : /^\d{1,2}$/.test(bits) ? Number(bits) : Number.NaN;
  const start = ipv4ToInt(ip ?? '');
  if (!(prefix <= 32) || Number.isNaN(start)) return undefined;
  const size = 2 ** (32 - prefix);
  const lo = start - (start % size);
  return [lo, lo + size - 1];
}

/** The address ranges an ipBlock covers: `cidr` minus every `except`, as disjoint sorted ranges. */
export function ipBlockRanges(block: IPBlock): [number, number][] {
  const whole = cidrBounds(block.cidr);
  if (!whole) return [];
  let ranges: [number, number][] = [whole];
  for (const except of block.except ?? []) {
    const cut = cidrBounds(except);
    if (!cut) continue;
    ranges = ranges.flatMap(([lo, hi]): [number, number][] => {
      if (cut[1] < lo || cut[0] > hi) return [[lo, hi]];
      const kept: [number, number][] = [];
      if (cut[0] > lo) kept.push([lo, cut[0] - 1]);
      if (cut[1] < hi) kept.push([cut[1] + 1, hi]);
      return kept;
    });
  }
  return ranges;
}

export function ipBlockContains(block: IPBlock, ip: string): boolean {
  const n = ipv4ToInt(ip);
  return ipBlockRanges(block).some(([lo, hi]) => n >= lo && n <= hi);
}

/**
 * Whether one `ports` entry admits (protocol, port) towards `dstPod`. The protocol defaults to TCP;
 * no port means every port of that protocol; a name is resolved on the destination pod.
 */
export function portMatches(
  entry: NetworkPolicyPort,
  protocol: Protocol,
  port: number,
  dstPod: WorldPod | undefined,
): boolean {
  const entryProtocol = entry.protocol ?? 'TCP';
  if (entryProtocol !== protocol) return false;
  if (entry.port === undefined) return true;
  if (typeof entry.port === 'number') {
    return entry.endPort === undefined ? port === entry.port : port >= entry.port && port <= entry.endPort;
  }
  return (dstPod?.ports ?? []).some(
    (p) => p.name === entry.port && p.protocol === entryProtocol && p.port === port,
  );
}

// ---- the evaluator ---------------------------------------------------------------------------------

interface Prepared {
  policy: NetworkPolicy;
  ingress: boolean;
  egress: boolean;
}

/** Builds the indexes once, for evaluating many flows (replay, tests) against one world. */
export function createEvaluator(
  world: World,
  policies: readonly NetworkPolicy[],
  options: EvaluateOptions = {},
): (flow: Flow) => Verdict {
  const podByIp = new Map<string, WorldPod>();
  for (const pod of world.pods) for (const ip of pod.ips) podByIp.set(ip, pod);
  const nsLabelMap = new Map(world.namespaces.map((n) => [n.name, n.labels]));
  const nsLabels = (ns: string) => nsLabelMap.get(ns) ?? { [NAMESPACE_NAME_LABEL]: ns };
  const hostIps = new Set(options.hostIps ?? []);
  const prepared: Prepared[] = policies.map((policy) => {
    const types = policyTypesOf(policy);
    return { policy, ingress: types.includes('Ingress'), egress: types.includes('Egress') };
  });

  const peersAdmit = (
    peers: readonly NetworkPolicyPeer[] | undefined,
    policy: NetworkPolicy,
    ip: string,
    pod: WorldPod | undefined,
  ): boolean =>
    (peers ?? []).length === 0 ||
    peers!.some((peer) =>
      peer.ipBlock
        ? ipBlockContains(peer.ipBlock, ip)
        : pod !== undefined && peerSelectsPod(peer, policy.metadata.namespace, pod, nsLabels),
    );

  const portsAdmit = (ports: readonly NetworkPolicyPort[] | undefined, flow: Flow, dstPod?: WorldPod) =>
    (ports ?? []).length === 0 || ports!.some((p) => portMatches(p, flow.protocol, flow.dstPort, dstPod));

  const side = (direction: Direction, pod: WorldPod | undefined, flow: Flow): SideVerdict => {
    if (!pod) return { isolated: false, allowed: true, selectingPolicies: [], allowedBy: [] };
    const selecting = prepared.filter((p) => p[direction] && selectsPod(p.policy, pod));
    const allowedBy: string[] = [];
    const peerIp = direction === 'egress' ? flow.dstIp : flow.srcIp;
    const peerPod = podByIp.get(peerIp);
    const dstPod = direction === 'egress' ? peerPod : pod;
    for (const { policy } of selecting) {
      const rules =
        direction === 'egress'
          ? (policy.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }))
          : (policy.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }));
      rules.forEach((rule, i) => {
        if (peersAdmit(rule.peers, policy, peerIp, peerPod) && portsAdmit(rule.ports, flow, dstPod)) {
          allowedBy.push(ruleId(policy, direction, i));
        }
      });
    }
    const isolated = selecting.length > 0;
    return {
      isolated,
      allowed: !isolated || allowedBy.length > 0,
      selectingPolicies: selecting.map((p) => policyId(p.policy)),
      allowedBy,
    };
  };

  return (flow) => {
    const src = podByIp.get(flow.srcIp);
    const dst = podByIp.get(flow.dstIp);
    const egress = side('egress', src, flow);
    const ingress = side('ingress', dst, flow);
    if (src && src === dst) {
      return {
        allowed: true,
        egress: { ...egress, allowed: true },
        ingress: { ...ingress, allowed: true },
        reason: 'allowed: a pod talking to itself is always allowed',
      };
    }
    if (
      src &&
      !dst &&
      hostIps.has(flow.dstIp) &&
      flow.protocol === 'TCP' &&
      flow.dstPort === OTLP_GATEWAY_PORT
    ) {
      return {
        allowed: true,
        egress: { ...egress, allowed: true },
        ingress,
        reason: "allowed: the platform's telemetry receiver (OTLP) on the host is always reachable",
      };
    }
    if (dst && hostIps.has(flow.srcIp)) {
      return {
        allowed: true,
        egress,
        ingress: { ...ingress, allowed: true },
        reason: 'allowed: traffic from the host to its pods is always allowed',
      };
    }
    return {
      allowed: egress.allowed && ingress.allowed,
      egress,
      ingress,
      reason: reason(src, dst, egress, ingress),
    };
  };
}

/** Evaluates one flow; for many flows, build the evaluator once with createEvaluator. */
export function evaluate(
  flow: Flow,
  world: World,
  policies: readonly NetworkPolicy[],
  options: EvaluateOptions = {},
): Verdict {
  return createEvaluator(world, policies, options)(flow);
}

function reason(
  src: WorldPod | undefined,
  dst: WorldPod | undefined,
  egress: SideVerdict,
  ingress: SideVerdict,
): string {
  if (!src && !dst) return 'allowed: neither end is a pod, no policy applies';
  const denied: string[] = [];
  if (!egress.allowed)
    denied.push(`egress of ${podId(src!)} is isolated by ${egress.selectingPolicies.join(', ')}`);
  if (!ingress.allowed) {
    denied.push(`ingress of ${podId(dst!)} is isolated by ${ingress.selectingPolicies.join(', ')}`);
  }
  if (denied.length > 0) return `no policy allows it (${denied.join('; ')})`;
  const by = [...egress.allowedBy, ...ingress.allowedBy];
  if (by.length === 0) return 'allowed: no policy isolates either end';
  const notIsolated = [
    ...(src && !egress.isolated ? [`${podId(src)} is not isolated for egress`] : []),
    ...(dst && !ingress.isolated ? [`${podId(dst)} is not isolated for ingress`] : []),
  ];
  return `allowed by ${by.join(', ')}${notIsolated.length ? `; ${notIsolated.join('; ')}` : ''}`;
}
