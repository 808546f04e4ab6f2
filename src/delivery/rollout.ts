import type { ResolvedDeploy, ResolvedService } from '../stack/index.ts';

/** What a service gets when its stack has no `deploy:` block. */
export const DEFAULT_DEPLOY: ResolvedDeploy = Object.freeze({
  maxSurge: 1,
  maxUnavailable: 0,
  drainTimeoutMs: 10_000,
  healthTimeoutMs: 30_000,
});

export function deploySettings(service: Pick<ResolvedService, 'deploy'>): ResolvedDeploy {
  return service.deploy ?? DEFAULT_DEPLOY;
}

/**
 * Replica slots of a service: `replicas + maxSurge` indexes, each with a stable address, so a
 * surge replica of a rolling update has an address (and a firewall identity) before it starts.
 */
export function slotCount(service: Pick<ResolvedService, 'replicas' | 'deploy'>): number {
  return service.replicas + deploySettings(service).maxSurge;
}

export type RolloutStep =
  /** Start replicas of the new release in these slots, wait until healthy, add them to the VIP. */
  | { kind: 'start'; slots: number[] }
  /** Take these replicas out of the VIP, drain their connections, stop them. */
  | { kind: 'retire'; slots: number[] };

export interface RolloutInput {
  /** Live replicas: their slot and whether they already run the target release and spec. */
  current: readonly { slot: number; upToDate: boolean }[];
  /** Wanted replicas of the target. */
  replicas: number;
  maxSurge: number;
  maxUnavailable: number;
  /** Slots there are addresses for (0..n-1). */
  slotCount: number;
}

export interface Rollout {
  steps: RolloutStep[];
  /** Slots the service runs in once every step is done, ascending. */
  final: number[];
}

/**
 * Pure: the order in which a rolling update starts and retires replicas. At any time at most
 * `replicas + maxSurge` run and at least `replicas - maxUnavailable` are in the load balancer
 * (Kubernetes' Deployment rules). Replicas already up to date are kept; extra ones are retired.
 * Nothing to do gives no steps (a second deploy of one release is a no-op).
 */
export function planRollout(input: RolloutInput): Rollout {
  const { replicas: wanted, maxSurge, maxUnavailable } = input;
  const current = [...input.current].sort((a, b) => a.slot - b.slot);
  // Up-to-date replicas beyond the wanted count are retired like old ones (a scale-down).
  const keep = current.filter((c) => c.upToDate).slice(0, wanted);
  const old = current.filter((c) => !keep.includes(c)).map((c) => c.slot);
  const fresh = keep.map((c) => c.slot);
  const taken = new Set(current.map((c) => c.slot));
  const free = Array.from({ length: input.slotCount }, (_, i) => i).filter((s) => !taken.has(s));
  const steps: RolloutStep[] = [];
  const minAvailable = Math.max(0, wanted - maxUnavailable);
  while (old.length > 0 || fresh.length < wanted) {
    let progressed = false;
    const canStart = Math.min(wanted - fresh.length, wanted + maxSurge - old.length - fresh.length);
    if (canStart > 0) {
      if (free.length < canStart) throw new Error(`rollout needs ${canStart} free slots, has ${free.length}`);
      const slots = free.splice(0, canStart);
      steps.push({ kind: 'start', slots });
      fresh.push(...slots);
      progressed = true;
    }
    const canRetire = Math.min(old.length, old.length + fresh.length - minAvailable);
    if (canRetire > 0) {
      const slots = old.splice(0, canRetire);
      steps.push({ kind: 'retire', slots });
      free.push(...slots);
      free.sort((a, b) => a - b);
      progressed = true;
    }
    if (!progressed) {
      throw new Error('rollout cannot progress: maxSurge and maxUnavailable are both 0');
    }
  }
  return { steps, final: fresh.sort((a, b) => a - b) };
}
