import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { bridgeName } from '../platform/names.ts';
import type { NetworkName } from '../stack/index.ts';
import { formatCidr, ipToInt, type EnvironmentAddressing } from './addressing.ts';
import { realNetworkFs, type NetworkFs } from './files.ts';
import { listLinks, type HostLink } from './links.ts';
import { linkAlias } from './replica.ts';

export interface EnvironmentBridgePlan {
  net: NetworkName;
  name: string;
  /** `<gateway>/<prefix>`: the bridge is every replica's next hop to the VIPs. */
  address: string;
}

export interface EnvironmentNetworkPlan {
  env: string;
  alias: string;
  bridges: readonly EnvironmentBridgePlan[];
  /** `key=value`, applied with `sysctl -w` on the host. */
  hostSysctls: readonly string[];
}

/**
 * ip_forward: VIP traffic is DNATed on the host and forwarded between bridge ports.
 * route_localnet: a published port answers on 127.0.0.1, which the kernel otherwise refuses to
 * route to another interface (the nft ruleset drops martian 127/8 traffic in exchange).
 */
export const HOST_SYSCTLS = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.route_localnet=1'] as const;

/**
 * With br_netfilter, frames between two ports of one bridge pass the ip-family hooks: that is
 * where a replica-to-VIP connection is DNATed to a replica on the same bridge and its reply un-NATed.
 */
export const BRIDGE_NF_CALL_IPTABLES = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/** Pure. */
export function planEnvironmentNetwork(opts: {
  env: string;
  addressing: EnvironmentAddressing;
}): EnvironmentNetworkPlan {
  const { env, addressing } = opts;
  return {
    env,
    alias: linkAlias(env),
    bridges: (['app', 'db'] as const).map((net) => ({
      net,
      name: bridgeName(env, net),
      address: `${addressing[net].gateway}/${addressing[net].prefix}`,
    })),
    hostSysctls: HOST_SYSCTLS,
  };
}

/** Pure: argv list for the plan, given the bridges that already exist (and are ours). */
export function environmentNetworkCommands(
  plan: EnvironmentNetworkPlan,
  existing: ReadonlySet<string> = new Set(),
): string[][] {
  const cmds: string[][] = [];
  for (const b of plan.bridges) {
    if (!existing.has(b.name)) cmds.push(['ip', 'link', 'add', b.name, 'type', 'bridge']);
    cmds.push(
      ['ip', 'link', 'set', b.name, 'alias', plan.alias],
      // `replace`, so re-applying is a no-op rather than "File exists".
      ['ip', 'addr', 'replace', b.address, 'dev', b.name],
      ['ip', 'link', 'set', b.name, 'up'],
    );
  }
  for (const s of plan.hostSysctls) cmds.push(['sysctl', '-q', '-w', s]);
  return cmds;
}

/** Throws with the fix when bridged traffic would bypass nftables (br_netfilter missing or off). */
export async function checkBridgeNetfilter(fs: NetworkFs = realNetworkFs): Promise<void> {
  let value: string;
  try {
    value = (await fs.readFile(BRIDGE_NF_CALL_IPTABLES)).trim();
  } catch {
    throw new RampartError(
      'RAMPART_E_MISSING_TOOL',
      `kernel module br_netfilter is not loaded (${BRIDGE_NF_CALL_IPTABLES} is missing): service VIPs cannot reach replicas on the same bridge`,
      {
        module: 'br_netfilter',
        fix: 'modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/rampart.conf',
      },
    );
  }
  if (value !== '1') {
    throw new RampartError(
      'RAMPART_E_MISSING_TOOL',
      `net.bridge.bridge-nf-call-iptables is ${value}: bridged traffic bypasses nftables, so service VIPs do not work`,
      { sysctl: 'net.bridge.bridge-nf-call-iptables', fix: 'sysctl -w net.bridge.bridge-nf-call-iptables=1' },
    );
  }
}

/**
 * A bridge of ours: carries our alias, or is a bridge of our name with no alias at all (a crash
 * between `ip link add` and `ip link set alias`). Anything else of that name is someone else's.
 */
function ownedBridge(link: HostLink, alias: string): boolean {
  return link.alias === alias || (link.alias === undefined && link.kind === 'bridge');
}

/** Creates (or confirms) the environment's bridges and host sysctls. Idempotent. */
export async function applyEnvironmentNetwork(
  exec: Exec,
  plan: EnvironmentNetworkPlan,
  options: { fs?: NetworkFs } = {},
): Promise<void> {
  await checkBridgeNetfilter(options.fs);
  const links = new Map((await listLinks(exec)).map((l) => [l.name, l]));
  const existing = new Set<string>();
  for (const b of plan.bridges) {
    const link = links.get(b.name);
    if (!link) continue;
    if (!ownedBridge(link, plan.alias)) {
      throw new RampartError(
        'RAMPART_E_CONFLICT',
        `a link named ${b.name} exists and is not environment ${plan.env}'s bridge`,
        {
          link: b.name,
          alias: link.alias,
          fix: `remove it (ip link del ${b.name}) or choose another environment name`,
        },
      );
    }
    existing.add(b.name);
  }
  for (const argv of environmentNetworkCommands(plan, existing)) await exec(argv);
}

/**
 * IPv4 networks configured on the host's interfaces: pass them to `allocateEnvironmentBlock` with
 * the stored blocks, so a new environment never lands on a range the host already uses.
 */
export async function hostIpv4Networks(exec: Exec): Promise<string[]> {
  const r = await exec(['ip', '-j', '-4', 'addr', 'show']);
  const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
  const nets = new Set<string>();
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      const size = 2 ** (32 - a.prefixlen);
      const ip = ipToInt(a.local);
      nets.add(formatCidr({ network: ip - (ip % size), prefix: a.prefixlen }));
    }
  }
  return [...nets];
}
