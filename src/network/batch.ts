import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { netnsName, vethHostName } from '../platform/names.ts';
import { ETC_NETNS_DIR, realNetworkFs, writeNetnsFiles, type NetworkFs } from './files.ts';
import { listLinks, listNetns, type HostLink } from './links.ts';
import {
  linkAlias,
  macForAddress,
  REPLICA_SYSCTLS,
  replicaNetworkMatches,
  type NetworkApplyOptions,
  type ReplicaIdentity,
  type ReplicaNetworkPlan,
} from './replica.ts';

/**
 * Many replicas' networks in a handful of processes. Every `ip` call costs a fork of the daemon
 * (7–15 ms of CPU at its size) plus the child's own start (~12 ms here): 17 calls per replica made
 * `up` of 20 replicas spend ~10 s of CPU in process starts (bench/README.md). `ip -batch` runs a
 * whole list in one process; commands inside a namespace run through `netns exec <ns> ip -batch
 * <file>` lines, which `ip` forks itself, far cheaper than the daemon forking.
 */

export interface BatchPlan {
  /** Lines for one `ip -batch -` on the host, in order. */
  lines: string[][];
  /** Per-namespace batch files that host lines refer to: path -> lines. */
  files: Map<string, string[][]>;
}

const line = (argv: readonly string[]): string => argv.join(' ');

/**
 * Pure: the commands that create `plans` from nothing: namespaces, veths (peer created in the
 * namespace, MAC from its address), host-side alias/bridge/hairpin, then inside each namespace
 * `lo`, addresses, routes, and the unprivileged-port sysctl.
 */
export function planReplicaNetworksBatch(plans: readonly ReplicaNetworkPlan[], fileDir: string): BatchPlan {
  const lines: string[][] = [];
  const files = new Map<string, string[][]>();
  for (const p of plans) lines.push(['netns', 'add', p.netns]);
  for (const p of plans) {
    for (const i of p.interfaces) {
      lines.push([
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
        p.netns,
      ]);
      lines.push(['link', 'set', i.hostVeth, 'alias', p.alias, 'master', i.bridge]);
      lines.push(['link', 'set', 'dev', i.hostVeth, 'type', 'bridge_slave', 'hairpin', 'on']);
      lines.push(['link', 'set', i.hostVeth, 'up']);
    }
  }
  for (const p of plans) {
    const inner: string[][] = [
      ['link', 'set', 'lo', 'alias', p.alias],
      ['link', 'set', 'lo', 'up'],
    ];
    for (const i of p.interfaces) {
      inner.push(['addr', 'add', `${i.address}/${i.prefix}`, 'dev', i.replicaVeth]);
      inner.push(['link', 'set', i.replicaVeth, 'up']);
      inner.push(['route', 'add', i.vipRange, 'via', i.gateway, 'dev', i.replicaVeth]);
    }
    const file = join(fileDir, `${p.netns}.ip`);
    files.set(file, inner);
    lines.push(['netns', 'exec', p.netns, 'ip', '-batch', file]);
    lines.push(['netns', 'exec', p.netns, 'sysctl', '-q', '-w', ...REPLICA_SYSCTLS]);
  }
  return { lines, files };
}

/** Runs `ip -batch -` over `lines`; a failure names the line that failed. */
export async function ipBatch(
  exec: Exec,
  lines: readonly (readonly string[])[],
  opts: { force?: boolean } = {},
): Promise<void> {
  if (lines.length === 0) return;
  const r = await exec(['ip', ...(opts.force ? ['-force'] : []), '-batch', '-'], {
    input: `${lines.map(line).join('\n')}\n`,
    allowFailure: true,
  });
  if (r.code === 0) return;
  const n = Number(/Command failed -:(\d+)/.exec(r.stderr)?.[1] ?? 0);
  const failed = n > 0 ? lines[n - 1] : undefined;
  throw new RampartError(
    'RAMPART_E_EXEC_FAILED',
    `ip -batch failed${failed ? ` at 'ip ${line(failed)}'` : ''}: ${r.stderr.trim().split('\n').slice(0, 3).join('; ')}`,
    { binary: 'ip', code: r.code },
  );
}

/**
 * Creates the networks of many replicas in one `ip -batch`. Replicas whose namespace already
 * matches (a daemon re-adopting) only get their files rewritten; partial ones are removed first.
 * On failure, removes everything this call made.
 */
export async function applyReplicaNetworks(
  exec: Exec,
  plans: readonly ReplicaNetworkPlan[],
  options: NetworkApplyOptions = {},
): Promise<void> {
  const fs = options.fs ?? realNetworkFs;
  const netns = new Set(await listNetns(exec));
  const links =
    netns.size > 0 && plans.some((p) => netns.has(p.netns))
      ? new Map((await listLinks(exec)).map((l) => [l.name, l]))
      : new Map<string, HostLink>();
  const todo: ReplicaNetworkPlan[] = [];
  for (const p of plans) {
    await writeNetnsFiles(fs, p.netns, { hosts: p.hostsFile, resolvConf: p.resolvConf }, options.etcNetnsDir);
    if (!netns.has(p.netns) || !(await replicaNetworkMatches(exec, p, links))) todo.push(p);
  }
  if (todo.length === 0) return;
  await removeReplicaNetworks(exec, todo, { ...options, keepFiles: true });
  const dir = await mkdtemp(join(tmpdir(), `rampart-ip-${randomBytes(3).toString('hex')}-`));
  try {
    const batch = planReplicaNetworksBatch(todo, dir);
    for (const [file, inner] of batch.files) await writeFile(file, `${inner.map(line).join('\n')}\n`);
    await ipBatch(exec, batch.lines);
  } catch (error) {
    await removeReplicaNetworks(exec, todo, options).catch(() => undefined);
    throw error;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Removes many replicas' veths, namespaces and /etc/netns folders in one `ip -batch`; absent
 * objects are fine. Stop their processes first: a namespace with a live process survives.
 */
export async function removeReplicaNetworks(
  exec: Exec,
  replicas: readonly ReplicaIdentity[],
  options: NetworkApplyOptions & { keepFiles?: boolean } = {},
): Promise<void> {
  if (replicas.length === 0) return;
  const links = new Map((await listLinks(exec)).map((l) => [l.name, l]));
  const present = new Set(await listNetns(exec));
  const lines: string[][] = [];
  const names: string[] = [];
  for (const r of replicas) {
    const alias = linkAlias(r.env);
    for (const net of ['app', 'db'] as const) {
      const veth = vethHostName(r.env, r.namespace, r.service, r.index, net);
      // Deleting the host end destroys the pair at once; namespace teardown alone is asynchronous.
      if (links.get(veth)?.alias === alias) lines.push(['link', 'del', veth]);
    }
    const ns = netnsName(r.env, r.namespace, r.service, r.index);
    names.push(ns);
    if (present.has(ns)) lines.push(['netns', 'del', ns]);
  }
  // -force: one object that vanished meanwhile must not leave the rest in place.
  await ipBatch(exec, lines, { force: true }).catch(async (error: unknown) => {
    const stillThere = new Set(await listNetns(exec));
    if (names.some((n) => stillThere.has(n))) throw error;
  });
  if (!options.keepFiles) {
    const fs: NetworkFs = options.fs ?? realNetworkFs;
    for (const ns of names) await fs.rm(`${options.etcNetnsDir ?? ETC_NETNS_DIR}/${ns}`);
  }
}
