import { RampartError } from '../platform/errors.ts';
import type { NetworkName } from '../stack/index.ts';

/**
 * Address planning, pure. A pool is cut into /20 blocks, one per environment; each block is laid out
 * the same way, so an address alone tells which environment and which network it belongs to:
 *
 * | offset in the /20 | size | use                                         |
 * |-------------------|------|---------------------------------------------|
 * | 0                 | /21  | app subnet (bridge `rp-<env>-app` is `.1`)   |
 * | 2048              | /22  | db subnet (bridge `rp-<env>-db` is first+1)  |
 * | 3072              | /23  | app service VIPs                            |
 * | 3584              | /23  | db service and database VIPs                |
 *
 * VIPs live outside the bridges' on-link subnets on purpose: a replica then routes them to its
 * gateway, where nftables rewrites them (an on-link VIP would need someone to answer ARP for it).
 */

/** RFC 2544 benchmarking range: never routed on the Internet, rarely used on LANs. */
export const DEFAULT_ADDRESS_POOL = '198.18.0.0/15';
export const ENVIRONMENT_BLOCK_PREFIX = 20;

export interface SubnetPlan {
  /** CIDR, e.g. `198.18.0.0/21`. */
  subnet: string;
  /** The bridge's own address: the subnet's first address + 1. */
  gateway: string;
  prefix: number;
}

export interface EnvironmentAddressing {
  /** The environment's /20. */
  block: string;
  app: SubnetPlan;
  db: SubnetPlan;
  /** VIPs of services on `app`. */
  appVips: string;
  /** VIPs of db-only services and of databases. */
  dbVips: string;
}

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function addressError(message: string, details: Record<string, unknown> = {}): RampartError {
  return new RampartError('RAMPART_E_ADDRESS_SPACE', message, details);
}

export function ipToInt(ip: string): number {
  const m = IPV4.exec(ip);
  const octets = m ? m.slice(1).map(Number) : [];
  if (octets.length !== 4 || octets.some((o) => o > 255))
    throw addressError(`'${ip}' is not an IPv4 address`);
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function size(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.network)}/${c.prefix}`;
}

/** Parses `a.b.c.d/n`; host bits must be zero, so a typo is not silently widened. */
export function parseCidr(cidr: string): Cidr {
  const [ip, bits, extra] = cidr.split('/');
  const prefix = Number(bits);
  if (ip === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits ?? '') || prefix > 32) {
    throw addressError(`'${cidr}' is not an IPv4 CIDR like 198.18.0.0/15`);
  }
  const address = ipToInt(ip);
  const network = address - (address % size(prefix));
  if (network !== address) {
    throw addressError(`'${cidr}' has host bits set; did you mean ${intToIp(network)}/${prefix}?`, {
      fix: `use ${intToIp(network)}/${prefix}`,
    });
  }
  return { network, prefix };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= c.network && n < c.network + size(c.prefix);
}

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.network < y.network + size(y.prefix) && y.network < x.network + size(x.prefix);
}

/**
 * The first /20 of `pool` that overlaps none of `usedBlocks` (blocks of other environments, or any
 * range the host already routes). A pool of exactly /20 is the environment's block itself.
 * @default pool `198.18.0.0/15` (32 environments)
 */
export function allocateEnvironmentBlock(
  pool: string = DEFAULT_ADDRESS_POOL,
  usedBlocks: readonly string[] = [],
): string {
  const p = parseCidr(pool);
  if (p.prefix > ENVIRONMENT_BLOCK_PREFIX) {
    throw addressError(
      `network.cidr ${pool} is too small: an environment needs a /${ENVIRONMENT_BLOCK_PREFIX} (4096 addresses)`,
      { fix: `use a /${ENVIRONMENT_BLOCK_PREFIX} or larger, e.g. ${DEFAULT_ADDRESS_POOL}` },
    );
  }
  const step = size(ENVIRONMENT_BLOCK_PREFIX);
  for (let network = p.network; network < p.network + size(p.prefix); network += step) {
    const block = formatCidr({ network, prefix: ENVIRONMENT_BLOCK_PREFIX });
    if (!usedBlocks.some((used) => cidrsOverlap(used, block))) return block;
  }
  throw addressError(
    `no free /${ENVIRONMENT_BLOCK_PREFIX} left in ${pool}: ${usedBlocks.length} block(s) in use`,
    {
      pool,
      used: [...usedBlocks],
    },
  );
}

function subnetAt(block: Cidr, offset: number, prefix: number): SubnetPlan {
  const network = block.network + offset;
  return { subnet: formatCidr({ network, prefix }), gateway: intToIp(network + 1), prefix };
}

export function planEnvironmentAddressing(block: string): EnvironmentAddressing {
  const b = parseCidr(block);
  if (b.prefix !== ENVIRONMENT_BLOCK_PREFIX) {
    throw addressError(`an environment block must be a /${ENVIRONMENT_BLOCK_PREFIX}, got ${block}`);
  }
  return {
    block,
    app: subnetAt(b, 0, 21),
    db: subnetAt(b, 2048, 22),
    appVips: formatCidr({ network: b.network + 3072, prefix: 23 }),
    dbVips: formatCidr({ network: b.network + 3584, prefix: 23 }),
  };
}

/**
 * The lowest address of `range` that is not in `used`, skipping the network address, the gateway
 * (network + 1, also skipped in VIP ranges so every range reads the same) and the broadcast address.
 */
export function allocateAddress(range: string, used: ReadonlySet<string>): string {
  const r = parseCidr(range);
  const last = r.network + size(r.prefix) - 2;
  for (let n = r.network + 2; n <= last; n++) {
    const ip = intToIp(n);
    if (!used.has(ip)) return ip;
  }
  throw addressError(`no free address left in ${range} (${used.size} in use)`, { range });
}

/** The subnet a replica address on `net` must lie in, and the VIP range reached through it. */
export function networkRanges(
  addressing: EnvironmentAddressing,
  net: NetworkName,
): { subnet: SubnetPlan; vips: string } {
  return net === 'app'
    ? { subnet: addressing.app, vips: addressing.appVips }
    : { subnet: addressing.db, vips: addressing.dbVips };
}

/** Throws unless `ip` is a usable host address of the `net` subnet (not network, gateway, broadcast). */
export function assertHostAddress(addressing: EnvironmentAddressing, net: NetworkName, ip: string): void {
  const { subnet } = networkRanges(addressing, net);
  const s = parseCidr(subnet.subnet);
  const n = ipToInt(ip);
  if (n < s.network + 2 || n > s.network + size(s.prefix) - 2) {
    throw addressError(
      `${ip} is not a usable ${net} address in ${subnet.subnet} (gateway ${subnet.gateway})`,
    );
  }
}

/** The network a service's VIP lives on: `app` when the service is on app, else `db`. */
export function vipNetwork(networks: readonly NetworkName[]): NetworkName {
  return networks.includes('app') ? 'app' : 'db';
}
