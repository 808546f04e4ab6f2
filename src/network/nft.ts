import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { bridgeName, nftTableName } from '../platform/names.ts';
import type { Protocol } from '../stack/index.ts';
import { cidrContains, ipToInt, type EnvironmentAddressing } from './addressing.ts';
import { realNetworkFs, type NetworkFs } from './files.ts';
import { listNftTables } from './links.ts';

/**
 * The environment's load balancer as one nftables table (`ip rampart_<env>`), rendered from data
 * and replaced atomically. Packet path (kube-proxy's nftables mode, reduced):
 *
 *   replica -> VIP:port   nat-prerouting (only from the env's own bridges): `daddr . proto . dport` vmap
 *                         -> svc.<ns>.<name>.<proto>.<port>
 *                         -> `dnat to numgen inc mod N map { i : endpoint }` (one lookup, any number of services)
 *   host    -> VIP:port   nat-output: the same vmap
 *   any     -> host:port  published_ports vmap (prerouting; output for 127.0.0.1) -> pub.<proto>.<port>
 *                         -> dnat to `endpoint . port`
 *   replies               nat-postrouting: masquerade DNATed traffic from outside the block (the
 *                         replica has no route back) and a replica reaching itself (hairpin)
 *   VIP, no endpoint      filter-forward / filter-output: reject, never leak to the default route
 *   app <-> db            filter-forward: dropped between the two bridges
 *   127/8 from outside    filter-input: dropped unless DNATed (route_localnet hardening, CVE-2020-8558)
 */

/** One service (or database) behind a VIP; the same shape as the runtime's `ServiceEndpoints`. */
export interface LoadBalancedService {
  namespace: string;
  name: string;
  vip: string;
  ports: readonly { port: number; protocol: Protocol }[];
  /** Healthy replica addresses on the VIP's network, in replica order. None: the VIP rejects. */
  endpoints: readonly string[];
  publish: readonly { hostPort: number; port: number; protocol: Protocol }[];
}

export interface RulesetInput {
  env: string;
  addressing: EnvironmentAddressing;
  services: readonly LoadBalancedService[];
}

const proto = (p: Protocol): string => p.toLowerCase();

/** DNS labels hold no dot, so `.` keeps namespace and name apart (`-` could not: `a-b`+`c` = `a`+`b-c`). */
export function serviceChainName(
  s: Pick<LoadBalancedService, 'namespace' | 'name'>,
  protocol: Protocol,
  port: number,
): string {
  return `svc.${s.namespace}.${s.name}.${proto(protocol)}.${port}`;
}

export function publishChainName(protocol: Protocol, hostPort: number): string {
  return `pub.${proto(protocol)}.${hostPort}`;
}

function dedupe<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => {
    const k = key(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function validate(input: RulesetInput): void {
  const { addressing } = input;
  const publishedBy = new Map<string, string>();
  for (const s of input.services) {
    const id = `${s.namespace}/${s.name}`;
    if (!cidrContains(addressing.appVips, s.vip) && !cidrContains(addressing.dbVips, s.vip)) {
      throw new RampartError(
        'RAMPART_E_ADDRESS_SPACE',
        `VIP ${s.vip} of ${id} is outside ${addressing.appVips} and ${addressing.dbVips}`,
      );
    }
    for (const e of s.endpoints) {
      if (!cidrContains(addressing.app.subnet, e) && !cidrContains(addressing.db.subnet, e)) {
        ipToInt(e); // a malformed address gets the precise message
        throw new RampartError(
          'RAMPART_E_ADDRESS_SPACE',
          `endpoint ${e} of ${id} is outside the environment's subnets`,
        );
      }
    }
    for (const p of s.publish) {
      const key = `${proto(p.protocol)}/${p.hostPort}`;
      const other = publishedBy.get(key);
      if (other !== undefined && other !== id) {
        throw new RampartError(
          'RAMPART_E_CONFLICT',
          `host port ${key} is published by both ${other} and ${id}`,
          {
            fix: 'give one of them another publish.hostPort',
          },
        );
      }
      publishedBy.set(key, id);
    }
  }
}

/** `dnat to …` for `endpoints` (at least one), with numgen round-robin when there are several. */
function dnatTo(endpoints: readonly string[], port?: number): string {
  // One target is `ip:port`; a map value is the concatenation `ip . port`.
  if (endpoints.length === 1) return `dnat to ${endpoints[0]!}${port === undefined ? '' : `:${port}`}`;
  const entries = endpoints
    .map((ip, i) => `${i} : ${port === undefined ? ip : `${ip} . ${port}`}`)
    .join(', ');
  return `dnat to numgen inc mod ${endpoints.length} map { ${entries} }`;
}

function elements(items: readonly string[]): string[] {
  if (items.length === 0) return [];
  return [
    `\t\telements = {`,
    ...items.map((e, i) => `\t\t\t${e}${i < items.length - 1 ? ',' : ''}`),
    `\t\t}`,
  ];
}

/** Pure: the table's text (what `nft list table` would show, modulo nft's own formatting). */
export function renderRuleset(input: RulesetInput): string {
  validate(input);
  const { env, addressing } = input;
  const app = bridgeName(env, 'app');
  const db = bridgeName(env, 'db');
  const vipRanges = `{ ${addressing.appVips}, ${addressing.dbVips} }`;
  const services = [...input.services].sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
  );

  const svcElements: string[] = [];
  const pubElements: string[] = [];
  const hairpin = new Set<string>();
  const chains: string[] = [];
  for (const s of services) {
    const endpoints = dedupe(s.endpoints, (e) => e);
    if (endpoints.length === 0) continue; // the VIP falls through to the reject in filter-*
    for (const e of endpoints) hairpin.add(e);
    const id = `${s.namespace}/${s.name}`;
    for (const p of dedupe(s.ports, (p) => `${p.protocol}/${p.port}`)) {
      const chain = serviceChainName(s, p.protocol, p.port);
      svcElements.push(`${s.vip} . ${proto(p.protocol)} . ${p.port} : goto ${chain}`);
      chains.push(
        `\tchain ${chain} {`,
        `\t\t${dnatTo(endpoints)} comment "${id} ${proto(p.protocol)}/${p.port}"`,
        `\t}`,
        '',
      );
    }
    for (const p of dedupe(s.publish, (p) => `${p.protocol}/${p.hostPort}`)) {
      const chain = publishChainName(p.protocol, p.hostPort);
      pubElements.push(`${proto(p.protocol)} . ${p.hostPort} : goto ${chain}`);
      // `meta l4proto` first: nft only maps to `address . port` after a transport protocol match.
      chains.push(
        `\tchain ${chain} {`,
        `\t\tmeta l4proto ${proto(p.protocol)} ${dnatTo(endpoints, p.port)} comment "${id} ${proto(p.protocol)}/${p.port}"`,
        `\t}`,
        '',
      );
    }
  }
  const hairpinElements = [...hairpin].sort((a, b) => ipToInt(a) - ipToInt(b)).map((e) => `${e} . ${e}`);

  const lines = [
    `table ip ${nftTableName(env)} {`,
    `\tmap svc_ports {`,
    `\t\ttype ipv4_addr . inet_proto . inet_service : verdict`,
    ...elements(svcElements),
    `\t}`,
    '',
    `\tmap published_ports {`,
    `\t\ttype inet_proto . inet_service : verdict`,
    ...elements(pubElements),
    `\t}`,
    '',
    `\t# A replica reaching itself through its VIP would see its own address as source (dropped under rp_filter).`,
    `\tset hairpin {`,
    `\t\ttype ipv4_addr . ipv4_addr`,
    ...elements(hairpinElements),
    `\t}`,
    '',
    ...chains,
    `\tchain nat-prerouting {`,
    `\t\ttype nat hook prerouting priority -100; policy accept;`,
    // Only from the environment's own bridges: a LAN host that routes the VIP range here gets nothing.
    `\t\tiifname { "${app}", "${db}" } ip daddr . meta l4proto . th dport vmap @svc_ports`,
    // Not 127/8 from outside: only the host itself may use a published port on loopback.
    `\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @published_ports`,
    `\t}`,
    '',
    // Numeric priority: nft 1.0.6 rejects the `dstnat` keyword on the output hook.
    `\tchain nat-output {`,
    `\t\ttype nat hook output priority -100; policy accept;`,
    `\t\tip daddr . meta l4proto . th dport vmap @svc_ports`,
    `\t\tfib daddr type local meta l4proto . th dport vmap @published_ports`,
    `\t}`,
    '',
    `\tchain nat-postrouting {`,
    `\t\ttype nat hook postrouting priority 100; policy accept;`,
    `\t\tct status dnat ip saddr != ${addressing.block} masquerade`,
    `\t\tct status dnat ip saddr . ip daddr @hairpin masquerade`,
    `\t}`,
    '',
    `\tchain filter-forward {`,
    `\t\ttype filter hook forward priority 0; policy accept;`,
    `\t\tiifname "${app}" oifname "${db}" drop`,
    `\t\tiifname "${db}" oifname "${app}" drop`,
    `\t\tip daddr ${vipRanges} meta l4proto tcp reject with tcp reset`,
    `\t\tip daddr ${vipRanges} reject`,
    `\t}`,
    '',
    `\tchain filter-output {`,
    `\t\ttype filter hook output priority 0; policy accept;`,
    `\t\tip daddr ${vipRanges} meta l4proto tcp reject with tcp reset`,
    `\t\tip daddr ${vipRanges} reject`,
    `\t}`,
    '',
    `\tchain filter-input {`,
    `\t\ttype filter hook input priority 0; policy accept;`,
    `\t\tiifname != "lo" ip daddr 127.0.0.0/8 ct status ! dnat drop`,
    `\t}`,
    `}`,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Pure: one nft transaction that replaces the table. `table {}` first makes `delete` succeed when
 * the table does not exist yet; the kernel applies all three or none, so no packet ever sees an
 * environment without its load balancer.
 */
export function rulesetTransaction(env: string, table: string): string {
  const name = `ip ${nftTableName(env)}`;
  return `table ${name} {}\ndelete table ${name}\n${table}`;
}

/**
 * Replaces the environment's table. Through a temp file: `nft -f -` cannot read a Node pipe as
 * stdin ("Could not open file /dev/stdin").
 */
export async function applyRuleset(
  exec: Exec,
  input: RulesetInput,
  options: { fs?: NetworkFs; tmpDir?: string } = {},
): Promise<void> {
  const fs = options.fs ?? realNetworkFs;
  const file = join(options.tmpDir ?? tmpdir(), `rampart-${input.env}-${randomBytes(6).toString('hex')}.nft`);
  await fs.writeFile(file, rulesetTransaction(input.env, renderRuleset(input)));
  try {
    await exec(['nft', '-f', file]);
  } finally {
    await fs.rm(file);
  }
}

/** Removes the environment's table, if it exists. */
export async function deleteRuleset(exec: Exec, env: string): Promise<void> {
  const table = nftTableName(env);
  const tables = await listNftTables(exec);
  if (tables.some((t) => t.family === 'ip' && t.name === table))
    await exec(['nft', 'delete', 'table', 'ip', table]);
}
