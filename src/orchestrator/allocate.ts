import {
  allocateAddress,
  allocateEnvironmentBlock,
  planEnvironmentAddressing,
  vipNetwork,
  type EnvironmentAddressing,
} from '../network/index.ts';
import { slotCount } from '../delivery/index.ts';
import { replicaId } from '../platform/names.ts';
import type { NetworkName, ResolvedStack } from '../stack/index.ts';
import { memberKey } from './plan.ts';

/** An environment's addresses, stored with its deployment so VIPs stay stable across `up`s. */
export interface NetworkAllocation {
  block: string;
  addressing: EnvironmentAddressing;
  /** `<ns>/<name>` -> virtual IP */
  vips: Record<string, string>;
  /** `<ns>/<name>-<i>` -> address per network; every slot of a service (replicas + maxSurge) has one. */
  replicas: Record<string, Partial<Record<NetworkName, string>>>;
  /**
   * `<ns>/<name>` -> the slots (replica indexes) that run. A rolling update moves replicas between
   * slots; absent (stored before delivery existed): `0..replicas-1`.
   */
  slots?: Record<string, number[]>;
}

/** The replica indexes a service runs in (see NetworkAllocation.slots). */
export function slotsOf(allocation: NetworkAllocation, key: string, replicas: number): number[] {
  const stored = allocation.slots?.[key];
  if (stored && stored.length === replicas) return [...stored];
  return Array.from({ length: replicas }, (_, i) => i);
}

export const DEFAULT_POOL = '198.18.0.0/15';

/**
 * Pure: gives every service a VIP and every replica an address, keeping what `previous` had for
 * members that still exist, so a re-`up` changes no address that does not need to change.
 */
export function allocateNetwork(opts: {
  stack: ResolvedStack;
  previous?: NetworkAllocation;
  /** Blocks other environments hold. */
  usedBlocks: readonly string[];
  /** Slots chosen by a rollout; otherwise the previous ones still valid, or `0..replicas-1`. */
  slots?: Record<string, number[]>;
}): NetworkAllocation {
  const { stack, previous } = opts;
  const block = previous?.block ?? allocateEnvironmentBlock(stack.cidr ?? DEFAULT_POOL, opts.usedBlocks);
  const addressing = planEnvironmentAddressing(block);
  const vips: Record<string, string> = {};
  const replicas: Record<string, Partial<Record<NetworkName, string>>> = {};
  const used = {
    appVip: new Set<string>(),
    dbVip: new Set<string>(),
    app: new Set<string>(),
    db: new Set<string>(),
  };

  const wanted: {
    key: string;
    vipNet: NetworkName;
    replicas: { id: string; networks: readonly NetworkName[] }[];
  }[] = [
    ...stack.services.map((s) => ({
      key: memberKey(s.namespace, s.name),
      vipNet: vipNetwork(s.networks),
      replicas: Array.from({ length: slotCount(s) }, (_, i) => ({
        id: replicaId(s.namespace, s.name, i),
        networks: s.networks,
      })),
    })),
    ...stack.databases.map((d) => ({
      key: memberKey(d.namespace, d.name),
      vipNet: 'db' as NetworkName,
      replicas: [{ id: replicaId(d.namespace, d.name, 0), networks: ['db'] as NetworkName[] }],
    })),
  ];

  // Keep previous addresses first, so new members cannot take them.
  for (const m of wanted) {
    const vip = previous?.vips[m.key];
    if (vip) {
      vips[m.key] = vip;
      (m.vipNet === 'app' ? used.appVip : used.dbVip).add(vip);
    }
    for (const r of m.replicas) {
      for (const net of r.networks) {
        const address = previous?.replicas[r.id]?.[net];
        if (address) {
          (replicas[r.id] ??= {})[net] = address;
          used[net].add(address);
        }
      }
    }
  }
  for (const m of wanted) {
    if (!vips[m.key]) {
      const range = m.vipNet === 'app' ? addressing.appVips : addressing.dbVips;
      const set = m.vipNet === 'app' ? used.appVip : used.dbVip;
      const vip = allocateAddress(range, set);
      set.add(vip);
      vips[m.key] = vip;
    }
    for (const r of m.replicas) {
      for (const net of r.networks) {
        if (replicas[r.id]?.[net]) continue;
        const address = allocateAddress(
          net === 'app' ? addressing.app.subnet : addressing.db.subnet,
          used[net],
        );
        used[net].add(address);
        (replicas[r.id] ??= {})[net] = address;
      }
    }
  }
  const slots: Record<string, number[]> = {};
  for (const s of stack.services) {
    const key = memberKey(s.namespace, s.name);
    const chosen = opts.slots?.[key] ?? previous?.slots?.[key];
    const valid = chosen && chosen.length === s.replicas && chosen.every((i) => i >= 0 && i < slotCount(s));
    slots[key] = valid ? [...chosen].sort((a, b) => a - b) : Array.from({ length: s.replicas }, (_, i) => i);
  }
  return { block, addressing, vips, replicas, slots };
}
