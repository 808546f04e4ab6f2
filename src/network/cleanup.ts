import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { attempts, type FailedStep } from '../platform/attempts.ts';
import {
  BRIDGE_PREFIX,
  LINK_ALIAS_PREFIX,
  NETNS_PREFIX,
  NFT_TABLE_PREFIX,
  VETH_PREFIX,
  nftTableName,
} from '../platform/names.ts';
import { ETC_NETNS_DIR, realNetworkFs, type NetworkFs } from './files.ts';
import { deleteLinks, listLinks, listNetns, listNftTables, type HostLink } from './links.ts';

/**
 * Finding and removing Rampart's kernel objects. Ownership is proven, never guessed from a name
 * alone where a proof exists: a link is ours when its name has our prefix AND its alias is
 * `rampart:<env>`; a namespace is attributed to an environment by the alias on its `lo` (env names
 * may contain `-`, so `rampart-a-b-…` could be environment `a` or `a-b`).
 */

export interface Leftovers {
  /** `env` is undefined when `lo` carries no alias (a crash right after `ip netns add`). */
  netns: { name: string; env?: string }[];
  links: (HostLink & { env: string })[];
  /** `ip` family tables named `rampart_*` (load balancing). */
  tables: string[];
  /** `inet` family tables named `rampart_*` (the firewall's, same name as the environment's ip table). */
  inetTables: string[];
  /** `/etc/netns/rampart-*` folders whose namespace is gone. */
  orphanEtcDirs: string[];
}

export interface CleanupOptions {
  fs?: NetworkFs;
  /** @default '/etc/netns' */
  etcNetnsDir?: string;
}

export interface CleanupReport {
  removed: string[];
  failed: FailedStep[];
}

const envOfAlias = (alias: string | undefined): string | undefined =>
  alias?.startsWith(LINK_ALIAS_PREFIX) ? alias.slice(LINK_ALIAS_PREFIX.length) : undefined;

async function netnsEnv(exec: Exec, netns: string): Promise<string | undefined> {
  const r = await exec(['ip', '-n', netns, '-j', 'link', 'show', 'lo'], { allowFailure: true });
  if (r.code !== 0) return undefined;
  const [lo] = JSON.parse(r.stdout || '[]') as { ifalias?: string }[];
  return envOfAlias(lo?.ifalias);
}

export async function listLeftovers(exec: Exec, options: CleanupOptions = {}): Promise<Leftovers> {
  const fs = options.fs ?? realNetworkFs;
  // Folders before namespaces: a namespace is created before its folder and deleted before it, so
  // a folder whose namespace is missing from the later listing is a real orphan.
  const dirs = (await fs.readdir(options.etcNetnsDir ?? ETC_NETNS_DIR)).filter((d) =>
    d.startsWith(NETNS_PREFIX),
  );
  const names = (await listNetns(exec)).filter((n) => n.startsWith(NETNS_PREFIX));
  const netns = [];
  for (const name of names) netns.push({ name, env: await netnsEnv(exec, name) });
  const links = (await listLinks(exec)).flatMap((l) => {
    const env = envOfAlias(l.alias);
    const ourName = l.name.startsWith(BRIDGE_PREFIX) || l.name.startsWith(VETH_PREFIX);
    return ourName && env !== undefined ? [{ ...l, env }] : [];
  });
  const allTables = await listNftTables(exec);
  const ours = (family: string) =>
    allTables.filter((t) => t.family === family && t.name.startsWith(NFT_TABLE_PREFIX)).map((t) => t.name);
  const tables = ours('ip');
  const inetTables = ours('inet');
  return { netns, links, tables, inetTables, orphanEtcDirs: dirs.filter((d) => !names.includes(d)) };
}

/** Which objects to remove, decided per kind. */
interface Selection {
  link: (env: string) => boolean;
  /** `env` undefined: a namespace whose owner could not be proven from its alias. */
  netns: (name: string, env: string | undefined) => boolean;
  table: (name: string) => boolean;
  orphanDir: (name: string) => boolean;
}

async function removeSelected(
  exec: Exec,
  found: Leftovers,
  select: Selection,
  options: CleanupOptions,
): Promise<CleanupReport> {
  const fs = options.fs ?? realNetworkFs;
  const etc = options.etcNetnsDir ?? ETC_NETNS_DIR;
  const steps = attempts();
  const report: CleanupReport = { removed: [], failed: steps.failed };
  const attempt = async (object: string, action: () => Promise<unknown>): Promise<void> => {
    if (await steps.attempt(object, action)) report.removed.push(object);
  };
  // Links first: deleting a veth's host end destroys the pair now, whereas a namespace is torn
  // down asynchronously (and not at all while a process still runs in it). Bridges last.
  const links = found.links.filter((l) => select.link(l.env));
  const ordered = [...links.filter((l) => l.kind !== 'bridge'), ...links.filter((l) => l.kind === 'bridge')];
  for (const l of ordered) await attempt(`link ${l.name}`, () => deleteLinks(exec, [l]));
  for (const n of found.netns.filter((n) => select.netns(n.name, n.env))) {
    await attempt(`netns ${n.name}`, async () => {
      await exec(['ip', 'netns', 'del', n.name]);
      await fs.rm(`${etc}/${n.name}`);
    });
  }
  for (const t of found.tables.filter(select.table)) {
    await attempt(`nft table ip ${t}`, () => exec(['nft', 'delete', 'table', 'ip', t]));
  }
  for (const t of found.inetTables.filter(select.table)) {
    await attempt(`nft table inet ${t}`, () => exec(['nft', 'delete', 'table', 'inet', t]));
  }
  for (const d of found.orphanEtcDirs.filter(select.orphanDir))
    await attempt(`${etc}/${d}`, () => fs.rm(`${etc}/${d}`));
  return report;
}

/**
 * Removes exactly environment `env`'s namespaces, links, nft table and /etc/netns folders. Stop the
 * environment's processes first. Throws if anything could not be removed (after trying the rest).
 */
export async function removeEnvironment(
  exec: Exec,
  env: string,
  options: CleanupOptions = {},
): Promise<string[]> {
  const prefix = `${NETNS_PREFIX}${env}-`;
  const report = await removeSelected(
    exec,
    await listLeftovers(exec, options),
    {
      link: (e) => e === env,
      netns: (name, e) => e === env || (e === undefined && name.startsWith(prefix)),
      table: (t) => t === nftTableName(env),
      orphanDir: (d) => d.startsWith(prefix),
    },
    options,
  );
  if (report.failed.length > 0) {
    throw new RampartError(
      'RAMPART_E_EXEC_FAILED',
      `could not remove all of environment ${env}: ${report.failed.map((f) => `${f.object}: ${f.error}`).join('; ')}`,
      { removed: report.removed, failed: report.failed },
    );
  }
  return report.removed;
}

/**
 * Removes every Rampart object that belongs to no environment in `keepEnvironments` (a crashed
 * run's leftovers). Objects whose owner cannot be proven are kept when their name could belong
 * to a kept environment. Batch work: reports what failed instead of stopping.
 */
export async function removeLeftovers(
  exec: Exec,
  options: CleanupOptions & { keepEnvironments: Iterable<string> },
): Promise<CleanupReport> {
  const keep = new Set(options.keepEnvironments);
  const keptTables = new Set([...keep].map(nftTableName));
  const mayBeKept = (name: string): boolean => [...keep].some((k) => name.startsWith(`${NETNS_PREFIX}${k}-`));
  return removeSelected(
    exec,
    await listLeftovers(exec, options),
    {
      link: (e) => !keep.has(e),
      netns: (name, e) => (e === undefined ? !mayBeKept(name) : !keep.has(e)),
      table: (t) => !keptTables.has(t),
      orphanDir: (d) => !mayBeKept(d),
    },
    options,
  );
}
