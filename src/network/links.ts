import { RampartError } from '../platform/errors.ts';
import type { Exec } from '../platform/exec.ts';

/** A host link as `ip -j -d link show` reports it, reduced to what ownership checks need. */
export interface HostLink {
  name: string;
  /** `ifalias`; Rampart's links carry `rampart:<env>`. */
  alias?: string;
  master?: string;
  /** `veth`, `bridge`… */
  kind?: string;
}

interface IpLinkJson {
  ifname: string;
  ifalias?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

export async function listLinks(exec: Exec): Promise<HostLink[]> {
  const r = await exec(['ip', '-j', '-d', 'link', 'show']);
  return (JSON.parse(r.stdout || '[]') as IpLinkJson[]).map((l) => ({
    name: l.ifname,
    alias: l.ifalias,
    master: l.master,
    kind: l.linkinfo?.info_kind,
  }));
}

/** Names of the network namespaces under /run/netns. */
export async function listNetns(exec: Exec): Promise<string[]> {
  const r = await exec(['ip', '-j', 'netns', 'list']);
  return (JSON.parse(r.stdout || '[]') as { name: string }[]).map((n) => n.name);
}

/** Deletes `links`; one that vanished meanwhile (its namespace was torn down) is not an error. */
export async function deleteLinks(exec: Exec, links: readonly HostLink[]): Promise<string[]> {
  const deleted: string[] = [];
  for (const link of links) {
    const r = await exec(['ip', 'link', 'del', link.name], { allowFailure: true });
    if (r.code === 0) deleted.push(link.name);
    else if (!/Cannot find device/.test(r.stderr)) {
      throw new RampartError(
        'RAMPART_E_EXEC_FAILED',
        `ip link del ${link.name} exited with ${r.code}: ${r.stderr.trim()}`,
        {
          binary: 'ip',
          code: r.code,
        },
      );
    }
  }
  return deleted;
}

export async function listNftTables(exec: Exec): Promise<{ family: string; name: string }[]> {
  const r = await exec(['nft', '-j', 'list', 'tables']);
  const parsed = JSON.parse(r.stdout || '{"nftables":[]}') as {
    nftables: { table?: { family: string; name: string } }[];
  };
  return parsed.nftables.flatMap((o) => (o.table ? [{ family: o.table.family, name: o.table.name }] : []));
}
