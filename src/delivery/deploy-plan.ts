import type { ResolvedService, ResolvedStack } from '../stack/index.ts';
import { releaseSpec } from './release.ts';
import { deploySettings, planRollout, slotCount, type RolloutStep } from './rollout.ts';

export interface ServiceChange {
  /** `<namespace>/<name>` */
  service: string;
  change: 'added' | 'removed' | 'updated' | 'unchanged';
  release: { from?: string; to?: string };
  /** What differs besides the release: `code` (files), `config`, `env`, `command`, `ports`, ... */
  fields: string[];
  replicas: { from: number; to: number };
  /** Replicas of the running release that the update replaces, in order. */
  replaced: string[];
  /** The rolling update, as the controller will run it (without failures). */
  steps: RolloutStep[];
}

export interface DeployPlan {
  environment: string;
  services: ServiceChange[];
  /** Services whose firewall-relevant fields change (ports, labels, networks, dependsOn, data): review their policies. */
  policiesAffected: string[];
  /** Data rules that name a class a changed service now reads or emits, or that changed themselves. */
  dataRulesAffected: string[];
  /** Nothing to do: every selected service already runs this release and spec. */
  noop: boolean;
}

/** Fields whose change touches what the firewall and the data rules decide. */
const FIREWALL_FIELDS = new Set(['ports', 'labels', 'networks', 'dependsOn', 'data', 'databases', 'publish']);

const key = (s: { namespace: string; name: string }): string => `${s.namespace}/${s.name}`;

function changedFields(before: ResolvedService, after: ResolvedService): string[] {
  const a = releaseSpec(before) as Record<string, unknown>;
  const b = releaseSpec(after) as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((f) => JSON.stringify(a[f]) !== JSON.stringify(b[f]))
    .sort();
  if (before.release?.id !== after.release?.id && fields.length === 0) fields.push('code');
  if (before.replicas !== after.replicas) fields.push('replicas');
  if (JSON.stringify(before.deploy) !== JSON.stringify(after.deploy)) fields.push('deploy');
  return fields;
}

/**
 * Pure: what a deploy of `next` changes in an environment running `previous`. `slots` are the
 * replica slots running now (`<ns>/<name>` -> indexes); services outside `selected` keep running as
 * they are.
 */
export function planDeploy(opts: {
  previous: ResolvedStack | undefined;
  next: ResolvedStack;
  slots: Readonly<Record<string, readonly number[]>>;
  selected?: readonly string[];
}): DeployPlan {
  const { previous, next } = opts;
  const picked = (s: ResolvedService): boolean =>
    !opts.selected ||
    opts.selected.length === 0 ||
    opts.selected.includes(s.name) ||
    opts.selected.includes(key(s));
  const services: ServiceChange[] = [];
  for (const s of next.services) {
    const before = previous?.services.find((p) => key(p) === key(s));
    if (!picked(s) && before) continue;
    const current = opts.slots[key(s)] ?? [];
    if (!before) {
      services.push({
        service: key(s),
        change: 'added',
        release: { to: s.release?.id },
        fields: [],
        replicas: { from: 0, to: s.replicas },
        replaced: [],
        steps:
          s.replicas > 0 ? [{ kind: 'start', slots: Array.from({ length: s.replicas }, (_, i) => i) }] : [],
      });
      continue;
    }
    const fields = changedFields(before, s);
    const same = fields.every((f) => f === 'deploy' || f === 'replicas');
    const d = deploySettings(s);
    const rollout = planRollout({
      current: current.map((slot) => ({ slot, upToDate: same })),
      replicas: s.replicas,
      maxSurge: d.maxSurge,
      maxUnavailable: d.maxUnavailable,
      slotCount: slotCount(s),
    });
    const retired = rollout.steps.flatMap((st) => (st.kind === 'retire' ? st.slots : []));
    services.push({
      service: key(s),
      change: rollout.steps.length === 0 && same ? 'unchanged' : 'updated',
      release: { from: before.release?.id, to: s.release?.id },
      fields,
      replicas: { from: before.replicas, to: s.replicas },
      replaced: retired.map((slot) => `${s.namespace}/${s.name}-${slot}`),
      steps: rollout.steps,
    });
  }
  if (!opts.selected || opts.selected.length === 0) {
    for (const p of previous?.services ?? []) {
      if (next.services.some((s) => key(s) === key(p))) continue;
      const current = opts.slots[key(p)] ?? [];
      services.push({
        service: key(p),
        change: 'removed',
        release: { from: p.release?.id },
        fields: [],
        replicas: { from: p.replicas, to: 0 },
        replaced: current.map((slot) => `${p.namespace}/${p.name}-${slot}`),
        steps: current.length ? [{ kind: 'retire', slots: [...current] }] : [],
      });
    }
  }
  const touched = services.filter(
    (c) => c.change === 'added' || c.change === 'removed' || c.fields.some((f) => FIREWALL_FIELDS.has(f)),
  );
  const classes = new Set<string>();
  for (const c of touched) {
    const s =
      next.services.find((x) => key(x) === c.service) ?? previous?.services.find((x) => key(x) === c.service);
    for (const cls of [...(s?.data.reads ?? []), ...(s?.data.emits ?? [])]) classes.add(cls);
  }
  const rulesChanged = JSON.stringify(previous?.dataRules ?? []) !== JSON.stringify(next.dataRules);
  const dataRulesAffected = next.dataRules
    .filter((r) => rulesChanged || r.forbid.some((c) => classes.has(c)))
    .map((r) => `${r.forbid[0]} × ${r.forbid[1]}`);
  return {
    environment: next.environment,
    services,
    policiesAffected: touched.map((c) => c.service),
    dataRulesAffected,
    noop: services.every((c) => c.change === 'unchanged'),
  };
}

/** The plan as the lines `rampart deploy` prints. */
export function formatDeployPlan(plan: DeployPlan): string[] {
  const lines: string[] = [`plan for environment ${plan.environment}:`];
  for (const c of plan.services) {
    const rel =
      c.release.from && c.release.to && c.release.from !== c.release.to
        ? ` release ${c.release.from} → ${c.release.to}`
        : c.release.to
          ? ` release ${c.release.to}`
          : '';
    const what = c.fields.length ? ` (${c.fields.join(', ')})` : '';
    lines.push(`  ${c.change.padEnd(9)} ${c.service}${rel}${what}`);
    if (c.change !== 'unchanged') {
      for (const st of c.steps) {
        const ids = st.slots.map((i) => `${c.service}-${i}`).join(', ');
        lines.push(`            ${st.kind === 'start' ? 'start' : 'retire'} ${ids}`);
      }
    }
  }
  lines.push(
    `  firewall: ${plan.policiesAffected.length ? `review policies of ${plan.policiesAffected.join(', ')}` : 'no policy affected'}`,
  );
  lines.push(
    `  data rules: ${plan.dataRulesAffected.length ? plan.dataRulesAffected.join('; ') : 'none affected'}`,
  );
  if (plan.noop) lines.push('  nothing to do: the same release is already deployed');
  return lines;
}
