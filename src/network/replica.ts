import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import {
  LINK_ALIAS_PREFIX,
  bridgeName,
  netnsName,
  vethHostName,
  vethReplicaName,
} from '../platform/names.ts';
import type { NetworkName } from '../stack/index.ts';
import { assertHostAddress, networkRanges, type EnvironmentAddressing } from './addressing.ts';
import { NETNS_RESOLV_CONF, formatHostsFile, type HostsEntry } from './discovery.ts';
import { ETC_NETNS_DIR, realNetworkFs, writeNetnsFiles, type NetworkFs } from './files.ts';
import { deleteLinks, listLinks, listNetns, type HostLink } from './links.ts';

export interface ReplicaIdentity {
  env: string;
  namespace: string;
  service: string;
  index: number;
}

export interface ReplicaNetworkInput extends ReplicaIdentity {
  addressing: EnvironmentAddressing;
  /** One address per network the replica is on (from `allocateAddress`). */
  attachments: readonly { net: NetworkName; address: string }[];
  /** Discovery lines after the localhost ones (`discoveryHosts`). */
  hosts: readonly HostsEntry[];
}

export interface ReplicaInterfacePlan {
  net: NetworkName;
  bridge: string;
  hostVeth: string;
  replicaVeth: string;
  address: string;
  prefix: number;
  gateway: string;
  /** The only route on this interface besides the on-link subnet: the network's VIP range. */
  vipRange: string;
}

export interface ReplicaNetworkPlan extends ReplicaIdentity {
  netns: string;
  /** `rampart:<env>` on every link, so cleanup can prove the link is ours. */
  alias: string;
  interfaces: readonly ReplicaInterfacePlan[];
  hostsFile: string;
  resolvConf: string;
}

export interface NetworkApplyOptions {
  fs?: NetworkFs;
  /** @default '/etc/netns' */
  etcNetnsDir?: string;
}

export function linkAlias(env: string): string {
  return `${LINK_ALIAS_PREFIX}${env}`;
}

/** Pure: names, addresses and routes of one replica's namespace. */
export function planReplicaNetwork(input: ReplicaNetworkInput): ReplicaNetworkPlan {
  const seen = new Set<NetworkName>();
  const interfaces = input.attachments.map(({ net, address }): ReplicaInterfacePlan => {
    if (seen.has(net)) throw new RampartError('RAMPART_E_ADDRESS_SPACE', `replica attached twice to ${net}`);
    seen.add(net);
    assertHostAddress(input.addressing, net, address);
    const { subnet, vips } = networkRanges(input.addressing, net);
    return {
      net,
      bridge: bridgeName(input.env, net),
      hostVeth: vethHostName(input.env, input.namespace, input.service, input.index, net),
      replicaVeth: vethReplicaName(net),
      address,
      prefix: subnet.prefix,
      gateway: subnet.gateway,
      vipRange: vips,
    };
  });
  return {
    env: input.env,
    namespace: input.namespace,
    service: input.service,
    index: input.index,
    netns: netnsName(input.env, input.namespace, input.service, input.index),
    alias: linkAlias(input.env),
    interfaces,
    hostsFile: formatHostsFile(input.hosts),
    resolvConf: NETNS_RESOLV_CONF,
  };
}

/**
 * Inside every replica namespace: unprivileged services may bind ports below 1024 (as Docker
 * allows), and IPv6 is off: replicas talk IPv4 only, and bridged link-local IPv6 would otherwise
 * slip past the IPv4 firewall.
 */
export const REPLICA_SYSCTLS = [
  'net.ipv4.ip_unprivileged_port_start=0',
  'net.ipv6.conf.all.disable_ipv6=1',
  'net.ipv6.conf.default.disable_ipv6=1',
] as const;

/** `02:52:` + the IPv4 address in hex: locally administered, unique on a bridge, stable per address. */
export function macForAddress(ip: string): string {
  return ['02', '52', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/**
 * Pure: the argv list that realises the plan after `ip netns add`. No default route: a replica
 * reaches its own subnets and its networks' VIP ranges, nothing else.
 */
export function replicaNetworkCommands(plan: ReplicaNetworkPlan): string[][] {
  const ns = plan.netns;
  const cmds: string[][] = [
    // lo carries the alias too: it is the one link every namespace has, so cleanup can attribute
    // a namespace to its environment even when its name is ambiguous (env names may hold '-').
    ['ip', '-n', ns, 'link', 'set', 'lo', 'alias', plan.alias],
    ['ip', '-n', ns, 'link', 'set', 'lo', 'up'],
  ];
  for (const i of plan.interfaces) {
    cmds.push(
      // Created straight into the namespace under its final name: no `app0` ever exists on the host.
      // The MAC derives from the address (as Docker does): a replica re-created with the same
      // address keeps its MAC, so neighbours' ARP entries stay right instead of blackholing its
      // traffic until they expire (~30 s, seen here on a rolling restart).
      [
        'ip',
        'link',
        'add',
        i.hostVeth,
        'type',
        'veth',
        'peer',
        'name',
        i.replicaVeth,
        'address',
        macForAddress(i.address),
        'netns',
        ns,
      ],
      // `ip link add ... alias` is silently ignored, hence a separate call right after.
      ['ip', 'link', 'set', i.hostVeth, 'alias', plan.alias],
      ['ip', 'link', 'set', i.hostVeth, 'master', i.bridge],
      // A replica reaching its own service VIP is DNATed back out the port it came in on.
      ['ip', 'link', 'set', 'dev', i.hostVeth, 'type', 'bridge_slave', 'hairpin', 'on'],
      ['ip', 'link', 'set', i.hostVeth, 'up'],
      ['ip', '-n', ns, 'addr', 'add', `${i.address}/${i.prefix}`, 'dev', i.replicaVeth],
      ['ip', '-n', ns, 'link', 'set', i.replicaVeth, 'up'],
      ['ip', '-n', ns, 'route', 'add', i.vipRange, 'via', i.gateway, 'dev', i.replicaVeth],
    );
  }
  // Like Docker: an unprivileged service may bind ports below 1024 inside its own namespace.
  cmds.push(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...REPLICA_SYSCTLS]);
  return cmds;
}

async function netnsExists(exec: Exec, netns: string): Promise<boolean> {
  return (await listNetns(exec)).includes(netns);
}

/** True when the namespace already holds every planned address (a re-apply after a daemon restart). */
async function alreadyApplied(exec: Exec, plan: ReplicaNetworkPlan): Promise<boolean> {
  if (!(await netnsExists(exec, plan.netns))) return false;
  return replicaNetworkMatches(exec, plan, new Map((await listLinks(exec)).map((l) => [l.name, l])));
}

/**
 * True when an existing namespace holds every planned address and its veths sit on the right
 * bridges; `links` are the host's links by name (one listing serves a batch of replicas).
 */
export async function replicaNetworkMatches(
  exec: Exec,
  plan: ReplicaNetworkPlan,
  links: ReadonlyMap<string, HostLink>,
): Promise<boolean> {
  const r = await exec(['ip', '-n', plan.netns, '-j', 'addr', 'show'], { allowFailure: true });
  if (r.code !== 0) return false;
  const inside = JSON.parse(r.stdout || '[]') as {
    ifname: string;
    addr_info?: { local: string; prefixlen: number }[];
  }[];
  return plan.interfaces.every(
    (i) =>
      links.get(i.hostVeth)?.master === i.bridge &&
      inside.some(
        (l) =>
          l.ifname === i.replicaVeth &&
          l.addr_info?.some((a) => a.local === i.address && a.prefixlen === i.prefix),
      ),
  );
}

/**
 * Creates the replica's namespace, veths, addresses, routes and /etc/netns files. Idempotent: a
 * namespace that already matches the plan only gets its files rewritten (a running process keeps
 * its network); a partial one is removed and rebuilt. On failure, removes what it made and throws.
 */
export async function applyReplicaNetwork(
  exec: Exec,
  plan: ReplicaNetworkPlan,
  options: NetworkApplyOptions = {},
): Promise<void> {
  const fs = options.fs ?? realNetworkFs;
  const files = { hosts: plan.hostsFile, resolvConf: plan.resolvConf };
  if (await alreadyApplied(exec, plan)) {
    await writeNetnsFiles(fs, plan.netns, files, options.etcNetnsDir);
    return;
  }
  await removeReplicaNetwork(exec, plan, options);
  try {
    await exec(['ip', 'netns', 'add', plan.netns]);
    await writeNetnsFiles(fs, plan.netns, files, options.etcNetnsDir);
    for (const argv of replicaNetworkCommands(plan)) await exec(argv);
  } catch (error) {
    await removeReplicaNetwork(exec, plan, options).catch(() => undefined);
    throw error;
  }
}

/** Rewrites the replica's hosts file in place, e.g. after a service was added to the environment. */
export async function updateReplicaHosts(
  netns: string,
  hosts: readonly HostsEntry[],
  options: NetworkApplyOptions = {},
): Promise<void> {
  await writeNetnsFiles(
    options.fs ?? realNetworkFs,
    netns,
    { hosts: formatHostsFile(hosts), resolvConf: NETNS_RESOLV_CONF },
    options.etcNetnsDir,
  );
}

/**
 * Removes the replica's veths, namespace and /etc/netns folder; absent objects are fine. Stop the
 * replica's processes first: a namespace with a live process survives `ip netns del` (unnamed).
 */
export async function removeReplicaNetwork(
  exec: Exec,
  replica: ReplicaIdentity,
  options: NetworkApplyOptions = {},
): Promise<void> {
  const netns = netnsName(replica.env, replica.namespace, replica.service, replica.index);
  const alias = linkAlias(replica.env);
  const veths = new Set(
    (['app', 'db'] as const).map((net) =>
      vethHostName(replica.env, replica.namespace, replica.service, replica.index, net),
    ),
  );
  // Deleting the host end destroys the pair at once; namespace teardown alone is asynchronous
  // and would leave the host end listed for a moment.
  await deleteLinks(
    exec,
    (await listLinks(exec)).filter((l) => veths.has(l.name) && l.alias === alias),
  );
  if (await netnsExists(exec, netns)) await exec(['ip', 'netns', 'del', netns]);
  await (options.fs ?? realNetworkFs).rm(`${options.etcNetnsDir ?? ETC_NETNS_DIR}/${netns}`);
}

export interface ExecInNetnsOptions {
  /**
   * Run as this user instead of root: a name (its group is taken to have the same name, as
   * `useradd` creates it) or explicit ids.
   */
  user?: string | { uid: string | number; gid: string | number };
}

/**
 * Pure: argv that runs `argv` inside the replica's namespace. `ip netns exec` bind-mounts the
 * namespace's /etc/netns files; `setpriv` drops to the service user with no supplementary groups.
 */
export function execInNetns(
  netns: string,
  argv: readonly string[],
  options: ExecInNetnsOptions = {},
): string[] {
  const user = options.user;
  if (user === undefined) return ['ip', 'netns', 'exec', netns, ...argv];
  const { uid, gid } = typeof user === 'string' ? { uid: user, gid: user } : user;
  return [
    'ip',
    'netns',
    'exec',
    netns,
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${gid}`,
    '--clear-groups',
    '--',
    ...argv,
  ];
}
