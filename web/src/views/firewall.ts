// Firewall: the mode of each service (switch with a confirmation), the proposed policy as a diff to
// accept, learning coverage, rule usage, and alerts grouped by cause with "allow this", which
// applies a policy through the same API as `rampart policy apply` (so the data-protection check
// refuses what a data rule forbids).
import { describeError } from '../api.ts';
import { clear, fmtAgo, h, table } from '../dom.ts';
import type { Alert, FirewallMode, FirewallState, Replica, StoredPolicy } from '../types.ts';
import { poll, type View } from './view.ts';

const MODES: readonly FirewallMode[] = ['learn', 'monitor', 'protect'];
const SERVICE_LABEL = 'app.kubernetes.io/name';

export const firewallView: View = {
  id: 'firewall',
  title: 'Firewall',
  mount(root, ctx) {
    const env = ctx.environment;
    const modes = h('section', { class: 'card', 'aria-labelledby': 'fw-modes' });
    const alerts = h('section', { class: 'card', 'aria-labelledby': 'fw-alerts' });
    const proposal = h('section', { class: 'card', 'aria-labelledby': 'fw-proposal' });
    const coverage = h('section', { class: 'card', 'aria-labelledby': 'fw-coverage' });
    const rules = h('section', { class: 'card', 'aria-labelledby': 'fw-rules' });
    root.append(
      h('h1', null, 'Firewall'),
      ctx.canWrite
        ? ''
        : h(
            'p',
            { class: 'notice-inline', 'data-read-only': '' },
            `Read-only: role ${ctx.who.role} cannot change the firewall.`,
          ),
      h('div', { class: 'grid' }, modes, alerts, proposal, coverage, rules),
    );

    const loading = (section: HTMLElement, id: string, title: string) =>
      section.append(h('h2', { id }, title), h('p', { class: 'muted' }, 'Loading…'));
    loading(modes, 'fw-modes', 'Modes');
    loading(alerts, 'fw-alerts', 'Alerts');
    loading(proposal, 'fw-proposal', 'Proposed policy');
    loading(coverage, 'fw-coverage', 'Learning coverage');
    loading(rules, 'fw-rules', 'Rules');
    let state: FirewallState | undefined;
    let services: string[] = [];
    let policies: StoredPolicy[] = [];
    const focusService = ctx.params.get('service');

    const renderModes = () => {
      clear(modes);
      modes.append(h('h2', { id: 'fw-modes' }, 'Modes'));
      if (!state) return;
      const rows = [
        { key: '', label: 'Default (global)', mode: state.modes.global },
        ...services.map((s) => ({
          key: s,
          label: s,
          mode: state!.modes.perService[s] ?? state!.modes.global,
        })),
      ];
      modes.append(
        table(
          'Firewall mode per service',
          ['Service', 'Mode', ''],
          rows.map((r) => {
            const id = `mode-${r.key || 'global'}`.replace(/[^a-zA-Z0-9-]/g, '-');
            const select = h(
              'select',
              {
                id,
                'aria-label': `Mode of ${r.label}`,
                disabled: !ctx.canWrite,
                'data-mode-of': r.key || '*',
              },
              MODES.map((m) => h('option', { value: m, selected: m === r.mode }, m)),
            );
            const apply = h(
              'button',
              { type: 'button', class: 'primary small', 'data-write': '', 'data-apply-mode': r.key || '*' },
              'Switch',
            );
            apply.addEventListener(
              'click',
              () => void switchMode(r.key, r.label, select.value as FirewallMode),
            );
            return [
              h('span', { class: r.key === focusService ? 'focus' : undefined }, r.label),
              h('span', { class: `mode ${r.mode}` }, select),
              ctx.canWrite ? apply : null,
            ];
          }),
          { class: 'data' },
        ),
      );
    };

    const switchMode = async (service: string, label: string, mode: FirewallMode) => {
      const body = h(
        'div',
        null,
        h('p', null, `Switch ${label} to `, h('strong', null, mode), '?'),
        mode === 'protect'
          ? h('p', null, 'Connections no policy allows will be dropped and raise alerts.')
          : mode === 'monitor'
            ? h('p', null, 'Connections outside policy are let through and raise alerts.')
            : h('p', null, 'Connections are recorded to learn policies; nothing is blocked.'),
      );
      if (!(await ctx.confirm({ title: 'Change firewall mode', body, action: `Switch to ${mode}` }))) return;
      try {
        await ctx.api.post('/v1/firewall/mode', {
          environment: env,
          mode,
          services: service ? [service] : [],
        });
        ctx.notify(`${label}: ${mode}`);
        await refresh();
      } catch (e) {
        ctx.notify(describeError(e), 'error');
      }
    };

    const renderAlerts = (list: Alert[]) => {
      clear(alerts);
      alerts.append(h('h2', { id: 'fw-alerts' }, `Alerts (${list.length})`));
      if (list.length === 0) {
        alerts.append(h('p', { class: 'muted' }, 'No alerts in the last hour.'));
        return;
      }
      // Grouped by cause: the kind of alert, then what decided it.
      const groups = new Map<string, Alert[]>();
      for (const a of list) {
        const k = `${a.kind} · ${a.decision}`;
        groups.set(k, [...(groups.get(k) ?? []), a]);
      }
      for (const [cause, items] of groups) {
        alerts.append(
          h(
            'details',
            { open: true, class: 'alert-group' },
            h('summary', null, `${cause} (${items.length})`),
            h(
              'ul',
              { class: 'alerts' },
              items.map((a) =>
                h(
                  'li',
                  { 'data-alert': a.id, 'data-decision': a.decision },
                  h(
                    'span',
                    { class: `state ${a.decision === 'blocked' ? 'blocked' : 'alerting'}` },
                    a.decision,
                  ),
                  ' ',
                  h('strong', null, `${endName(a.src)} → ${endName(a.dst)}`),
                  ` ${a.protocol}/${a.portName ?? a.port} · ×${a.count} · ${fmtAgo(a.lastSeen)}`,
                  h('div', { class: 'muted small' }, a.decidedBy),
                  ctx.canWrite && canAllow(a)
                    ? h(
                        'button',
                        {
                          type: 'button',
                          class: 'small',
                          'data-write': '',
                          onclick: () => void allowThis(a),
                        },
                        'Allow this',
                      )
                    : null,
                ),
              ),
            ),
          ),
        );
      }
    };

    const allowThis = async (a: Alert) => {
      const text = allowPolicyYaml(a, policies);
      const body = h(
        'div',
        null,
        h('p', null, 'Apply this policy? The data-protection rules are checked first.'),
        h('pre', { class: 'yaml' }, text),
      );
      if (!(await ctx.confirm({ title: 'Allow this connection', body, action: 'Apply policy' }))) return;
      try {
        const r = await ctx.api.post<{ applied: string[] }>('/v1/policies', {
          environment: env,
          text,
          file: 'dashboard',
        });
        ctx.notify(`applied ${r.applied.join(', ') || 'nothing new'}`);
        await refresh();
      } catch (e) {
        ctx.notify(describeError(e), 'error');
      }
    };

    const renderProposal = async () => {
      clear(proposal);
      proposal.append(h('h2', { id: 'fw-proposal' }, 'Proposed policy'));
      let diff: string;
      try {
        diff = await ctx.api.text('/v1/policies/diff', { environment: env });
      } catch (e) {
        proposal.append(h('p', { class: 'muted' }, describeError(e)));
        return;
      }
      const empty = !diff.trim() || /no change/i.test(diff);
      proposal.append(
        h('p', { class: 'muted' }, 'What learning proposes, against the policies in force.'),
        h(
          'pre',
          { class: 'diff', 'aria-label': 'Policy diff' },
          diff
            .split('\n')
            .map((line) =>
              h(
                'span',
                { class: line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : undefined },
                `${line}\n`,
              ),
            ),
        ),
      );
      if (!ctx.canWrite || empty) return;
      const test = h(
        'button',
        { type: 'button', class: 'small', 'data-write': '' },
        'Replay against recorded flows',
      );
      const accept = h(
        'button',
        { type: 'button', class: 'primary small', 'data-write': '' },
        'Accept proposal',
      );
      const report = h('pre', { class: 'small' });
      test.addEventListener('click', async () => {
        try {
          const yaml = await ctx.api.text('/v1/policies/propose', { environment: env });
          const r = await ctx.api.post<{ text: string }>('/v1/policies/test', {
            environment: env,
            text: yaml,
            file: 'proposal',
          });
          report.textContent = r.text;
        } catch (e) {
          ctx.notify(describeError(e), 'error');
        }
      });
      accept.addEventListener('click', async () => {
        if (
          !(await ctx.confirm({
            title: 'Accept the proposed policies',
            body: 'The proposal is applied as policies (data-protection rules are checked first).',
            action: 'Accept',
          }))
        )
          return;
        try {
          const yaml = await ctx.api.text('/v1/policies/propose', { environment: env });
          const r = await ctx.api.post<{ applied: string[] }>('/v1/policies', {
            environment: env,
            text: yaml,
            file: 'proposal',
          });
          ctx.notify(`applied ${r.applied.length} policies`);
          await refresh();
        } catch (e) {
          ctx.notify(describeError(e), 'error');
        }
      });
      proposal.append(h('div', { class: 'actions' }, test, accept), report);
    };

    const renderCoverage = () => {
      clear(coverage);
      coverage.append(h('h2', { id: 'fw-coverage' }, 'Learning coverage'));
      if (!state) return;
      coverage.append(
        table(
          'Edges learned per service',
          ['Service', 'Edges', 'Connections', 'New (15 min)', 'Last new edge'],
          state.coverage.map((c) => [
            c.service,
            String(c.edges),
            String(c.connections),
            String(c.newEdgesInWindow),
            c.lastNewEdgeAt ? fmtAgo(c.lastNewEdgeAt) : '–',
          ]),
          { class: 'data' },
        ),
      );
      clear(rules);
      rules.append(
        h('h2', { id: 'fw-rules' }, 'Rules'),
        table(
          'Policy rules with their use',
          ['Rule', 'Provenance', 'Hits', 'Edges', 'Last hit'],
          state.rules.map((r) => [
            r.rule,
            r.provenance,
            String(r.hits),
            String(r.edges),
            r.lastHit ? fmtAgo(r.lastHit) : 'unused',
          ]),
          { class: 'data' },
        ),
      );
    };

    // Each part renders as soon as its answer is in: the firewall routes queue per environment.
    const refresh = async () => {
      const fail = (e: unknown) => ctx.notify(describeError(e), 'error');
      await Promise.all([
        Promise.all([
          ctx.api.get<FirewallState>('/v1/firewall', { environment: env }),
          ctx.api.get<{ replicas: Replica[] }>('/v1/replicas', { environment: env }),
        ]).then(([fw, ps]) => {
          state = fw;
          services = [...new Set(ps.replicas.map((r) => `${r.namespace}/${r.service}`))].sort();
          renderModes();
          renderCoverage();
        }, fail),
        ctx.api.get<{ policies: StoredPolicy[] }>('/v1/policies', { environment: env }).then((p) => {
          policies = p.policies;
        }, fail),
        renderProposal(),
      ]);
    };
    void refresh();
    const stopAlerts = poll(async () => {
      try {
        const r = await ctx.api.get<{ alerts: Alert[] }>('/v1/alerts', {
          environment: env,
          since: Date.now() - 3_600_000,
        });
        renderAlerts(r.alerts);
      } catch (e) {
        clear(alerts);
        alerts.append(h('h2', { id: 'fw-alerts' }, 'Alerts'), h('p', { class: 'error' }, describeError(e)));
      }
    }, ctx.pollMs);
    return stopAlerts;
  },
};

function endName(e: Alert['src']): string {
  if (e.kind === 'pod' && e.service) return `${e.namespace}/${e.service}`;
  return `${e.kind} ${e.ip}`;
}

function canAllow(a: Alert): boolean {
  return (
    a.kind !== 'rate-spike' &&
    a.src.kind === 'pod' &&
    !!a.src.service &&
    (a.dst.kind !== 'pod' || !!a.dst.service)
  );
}

/**
 * The policy that allows an alert's connection: ingress on the destination from the source (when the
 * destination is a service), and egress on the source when a policy already isolates its egress
 * (a new Egress policy on a pod that had none would cut all its other egress).
 */
export function allowPolicyYaml(a: Alert, policies: readonly StoredPolicy[]): string {
  const src = a.src.service!;
  const ns = a.src.namespace!;
  const port = `      ports:\n        - protocol: ${a.protocol}\n          port: ${a.port}\n`;
  const docs: string[] = [];
  const dstPeer =
    a.dst.kind === 'pod'
      ? `        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: ${a.dst.namespace}\n          podSelector:\n            matchLabels:\n              ${SERVICE_LABEL}: ${a.dst.service}\n`
      : `        - ipBlock:\n            cidr: ${a.dst.ip}/32\n`;
  if (a.dst.kind === 'pod') {
    docs.push(
      `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-${src}-to-${a.dst.service}-in\n  namespace: ${a.dst.namespace}\nspec:\n  podSelector:\n    matchLabels:\n      ${SERVICE_LABEL}: ${a.dst.service}\n  policyTypes: [Ingress]\n  ingress:\n    - from:\n        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: ${ns}\n          podSelector:\n            matchLabels:\n              ${SERVICE_LABEL}: ${src}\n${port}`,
    );
  }
  const srcEgressIsolated = policies.some(
    (p) =>
      p.namespace === ns &&
      (p.policy.spec.policyTypes ?? []).includes('Egress') &&
      (p.policy.spec.podSelector.matchLabels === undefined ||
        Object.keys(p.policy.spec.podSelector.matchLabels).length === 0 ||
        p.policy.spec.podSelector.matchLabels[SERVICE_LABEL] === src),
  );
  if (srcEgressIsolated || a.dst.kind !== 'pod') {
    const dstName = a.dst.kind === 'pod' ? a.dst.service : a.dst.ip.replace(/[.:]/g, '-');
    docs.push(
      `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-${src}-to-${dstName}-out\n  namespace: ${ns}\nspec:\n  podSelector:\n    matchLabels:\n      ${SERVICE_LABEL}: ${src}\n  policyTypes: [Egress]\n  egress:\n    - to:\n${dstPeer}${port}`,
    );
  }
  return docs.join('---\n');
}
