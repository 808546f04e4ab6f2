import type { Flow, Protocol, World, WorldPod } from './types.ts';

/**
 * Addresses to pods. A flow's ends are a pod (a replica of a service), the host (Rampart's own
 * addresses: the bridges' gateways, loopback) or an external address. Kubernetes always allows
 * traffic between a pod and its own node, and so does a proposal: host ends are recorded for
 * people to see but never turned into rules.
 */
export type Endpoint =
  | { kind: 'pod'; ip: string; namespace: string; service: string; pod: string }
  | { kind: 'host'; ip: string }
  | { kind: 'external'; ip: string };

export interface AddressBook {
  lookup(ip: string): Endpoint;
  pod(namespace: string, name: string): WorldPod | undefined;
}

export interface AddressBookOptions {
  /** The host's addresses as replicas see them (the bridges' gateways). 127.0.0.0/8 is always the host. */
  hostIps?: readonly string[];
}

export function addressBook(world: World, opts: AddressBookOptions = {}): AddressBook {
  const byIp = new Map<string, Endpoint>();
  const pods = new Map<string, WorldPod>();
  for (const p of world.pods) {
    pods.set(`${p.namespace}/${p.name}`, p);
    for (const ip of p.ips) {
      byIp.set(ip, { kind: 'pod', ip, namespace: p.namespace, service: p.service, pod: p.name });
    }
  }
  const hosts = new Set(opts.hostIps ?? []);
  return {
    lookup(ip) {
      const known = byIp.get(ip);
      if (known) return known;
      if (hosts.has(ip) || ip.startsWith('127.')) return { kind: 'host', ip };
      return { kind: 'external', ip };
    },
    pod: (namespace, name) => pods.get(`${namespace}/${name}`),
  };
}

/** A flow with both ends named, and the destination port's name when the destination declares one. */
export interface ResolvedFlow {
  flow: Flow;
  src: Endpoint;
  dst: Endpoint;
  portName?: string;
}

export function portNameOf(pod: WorldPod | undefined, protocol: Protocol, port: number): string | undefined {
  return pod?.ports.find((p) => p.port === port && p.protocol === protocol && p.name)?.name;
}

export function resolveFlow(book: AddressBook, flow: Flow): ResolvedFlow {
  const src = book.lookup(flow.srcIp);
  const dst = book.lookup(flow.dstIp);
  const portName =
    dst.kind === 'pod'
      ? portNameOf(book.pod(dst.namespace, dst.pod), flow.protocol, flow.dstPort)
      : undefined;
  return portName === undefined ? { flow, src, dst } : { flow, src, dst, portName };
}

/** `shop/web-0`, `host 198.18.0.1`, `198.51.100.7` */
export function formatEndpoint(e: Endpoint): string {
  if (e.kind === 'pod') return `${e.namespace}/${e.pod}`;
  if (e.kind === 'host') return `host ${e.ip}`;
  return e.ip;
}

/** A pod talking to itself is always allowed (NetworkPolicy semantics): nothing to learn or alert. */
export function isSelfFlow(r: ResolvedFlow): boolean {
  return (
    r.src.kind === 'pod' &&
    r.dst.kind === 'pod' &&
    r.src.namespace === r.dst.namespace &&
    r.src.pod === r.dst.pod
  );
}
