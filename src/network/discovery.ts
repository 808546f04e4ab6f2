import type { NetworkName, Protocol } from '../stack/index.ts';
import { vipNetwork } from './addressing.ts';

/**
 * Name discovery, pure. A replica learns the VIPs it may use from two places: its own hosts file
 * (`/etc/netns/<netns>/hosts`, bind-mounted by `ip netns exec`) and `<SERVICE>_HOST`/`_PORT`
 * variables. Both list only members whose VIP network the replica is on: an app-only replica
 * cannot even resolve the database, which makes a missing network visible as "unknown host"
 * instead of a timeout.
 */

/** A service or database of the environment, as discovery sees it. */
export interface DiscoveryMember {
  namespace: string;
  name: string;
  /** The member's networks; its VIP is on `vipNetwork(networks)` (databases: `['db']`). */
  networks: readonly NetworkName[];
  vip: string;
  ports: readonly { port: number; protocol: Protocol }[];
}

export interface HostsEntry {
  address: string;
  names: readonly string[];
}

export interface DiscoveryInput {
  /** The replica's networks. */
  networks: readonly NetworkName[];
  /** The replica's namespace: its members win a plain name that two namespaces share. */
  namespace: string;
  members: readonly DiscoveryMember[];
}

/** No nameserver line: only the hosts file answers, and glibc's fallback (127.0.0.1:53 in the netns) refuses at once. */
export const NETNS_RESOLV_CONF =
  '# Rampart: names come from /etc/hosts only; no DNS server is reachable here.\n';

function reachable(input: DiscoveryInput): DiscoveryMember[] {
  return input.members
    .filter((m) => input.networks.includes(vipNetwork(m.networks)))
    .sort((a, b) => a.name.localeCompare(b.name) || a.namespace.localeCompare(b.namespace));
}

/**
 * Which reachable member a plain name means: the one in the replica's namespace, else the only one
 * with that name; a name two other namespaces share means none (use `<name>.<namespace>`).
 */
function plainNameOwners(
  input: DiscoveryInput,
  members: readonly DiscoveryMember[],
): Map<string, DiscoveryMember> {
  const byName = new Map<string, DiscoveryMember[]>();
  for (const m of members) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
  const owners = new Map<string, DiscoveryMember>();
  for (const [name, candidates] of byName) {
    const own = candidates.find((m) => m.namespace === input.namespace);
    const owner = own ?? (candidates.length === 1 ? candidates[0] : undefined);
    if (owner) owners.set(name, owner);
  }
  return owners;
}

/** The hosts lines after the localhost ones: `<vip> <name> <name>.<namespace>` per reachable member. */
export function discoveryHosts(input: DiscoveryInput): HostsEntry[] {
  const members = reachable(input);
  const owners = plainNameOwners(input, members);
  return members.map((m) => ({
    address: m.vip,
    names: owners.get(m.name) === m ? [m.name, `${m.name}.${m.namespace}`] : [`${m.name}.${m.namespace}`],
  }));
}

/** Formats a hosts file: the two localhost lines, then `entries` in order. */
export function formatHostsFile(entries: readonly HostsEntry[]): string {
  const lines = [
    '127.0.0.1 localhost',
    '::1 localhost',
    ...entries.map((e) => `${e.address} ${e.names.join(' ')}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The replica's whole hosts file. */
export function renderHostsFile(input: DiscoveryInput): string {
  return formatHostsFile(discoveryHosts(input));
}

/** `WEB_API` for `web-api`: the prefix of the `_HOST`/`_PORT` variables. */
export function discoveryEnvPrefix(name: string): string {
  return name.toUpperCase().replaceAll('-', '_');
}

/** `<SERVICE>_HOST` (the VIP) and `<SERVICE>_PORT` (first declared port) for the same members the hosts file names. */
export function discoveryEnv(input: DiscoveryInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of plainNameOwners(input, reachable(input)).values()) {
    const prefix = discoveryEnvPrefix(m.name);
    env[`${prefix}_HOST`] = m.vip;
    const first = m.ports[0];
    if (first) env[`${prefix}_PORT`] = String(first.port);
  }
  return env;
}
