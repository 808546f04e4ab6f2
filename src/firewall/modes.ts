import type { FirewallMode, World, WorldPod } from './types.ts';

/**
 * Firewall modes, NeuVector-style: `learn` (everything allowed; the learner records new flows),
 * `monitor` (everything allowed; flows outside policy are recorded for alerts), `protect` (flows
 * outside policy are recorded and refused). One global mode, overridden per service.
 */
export const FIREWALL_MODES: readonly FirewallMode[] = ['learn', 'monitor', 'protect'];

export interface FirewallModes {
  global: FirewallMode;
  /** Overrides keyed `<namespace>/<service>`. */
  perService: Readonly<Record<string, FirewallMode>>;
}

export function isFirewallMode(value: unknown): value is FirewallMode {
  return typeof value === 'string' && (FIREWALL_MODES as readonly string[]).includes(value);
}

/** The key of `perService`: `<namespace>/<service>`. */
export function serviceKey(namespace: string, service: string): string {
  return `${namespace}/${service}`;
}

/** The mode that governs a pod's own side of a flow (its egress when it sends, its ingress when it receives). */
export function modeOfPod(pod: Pick<WorldPod, 'namespace' | 'service'>, modes: FirewallModes): FirewallMode {
  return modes.perService[serviceKey(pod.namespace, pod.service)] ?? modes.global;
}

/** Every pod address with its pod's mode, sorted by address. */
export function modeByAddress(world: World, modes: FirewallModes): Map<string, FirewallMode> {
  const out = new Map<string, FirewallMode>();
  for (const pod of world.pods) for (const ip of pod.ips) out.set(ip, modeOfPod(pod, modes));
  return out;
}

/**
 * Sets a mode: for the named services (`<namespace>/<service>`), or globally when none is named. A
 * service set back to the global mode loses its override, so `perService` only lists exceptions.
 */
export function withMode(
  modes: FirewallModes,
  mode: FirewallMode,
  services: readonly string[] = [],
): FirewallModes {
  if (services.length === 0) {
    const perService = Object.fromEntries(Object.entries(modes.perService).filter(([, m]) => m !== mode));
    return { global: mode, perService };
  }
  const perService: Record<string, FirewallMode> = { ...modes.perService };
  for (const s of services) {
    if (mode === modes.global) delete perService[s];
    else perService[s] = mode;
  }
  return { global: modes.global, perService };
}
