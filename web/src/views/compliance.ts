// Compliance: the data-protection rules, violations, and per service the data classes that reach
// it with the evidence path (which allowed connection carries each class there). Exportable.
import { describeError } from '../api.ts';
import { h, table } from '../dom.ts';
import type { ClassReach, ComplianceReport } from '../types.ts';
import { download, type View } from './view.ts';

export const complianceView: View = {
  id: 'compliance',
  title: 'Compliance',
  mount(root, ctx) {
    const env = ctx.environment;
    const body = h('div', { class: 'stack' }, h('p', { class: 'muted' }, 'Loading…'));
    const exportJson = h('button', { type: 'button', class: 'small' }, 'Export JSON');
    const exportMd = h('button', { type: 'button', class: 'small' }, 'Export Markdown');
    root.append(h('div', { class: 'toolbar' }, h('h1', null, 'Compliance'), exportJson, exportMd), body);
    let report: ComplianceReport | undefined;
    exportJson.addEventListener('click', () => {
      if (report)
        download(`compliance-${env}.json`, 'application/json', `${JSON.stringify(report, null, 2)}\n`);
    });
    exportMd.addEventListener('click', async () => {
      try {
        download(
          `compliance-${env}.md`,
          'text/markdown',
          await ctx.api.text('/v1/compliance', { environment: env, format: 'markdown' }),
        );
      } catch (e) {
        ctx.notify(describeError(e), 'error');
      }
    });
    let alive = true;
    void (async () => {
      try {
        report = await ctx.api.get<ComplianceReport>('/v1/compliance', { environment: env });
      } catch (e) {
        body.replaceChildren(h('p', { class: 'error' }, describeError(e)));
        return;
      }
      if (!alive) return;
      body.replaceChildren(...render(report));
    })();
    return () => {
      alive = false;
    };
  },
};

function render(r: ComplianceReport): Node[] {
  const out: Node[] = [];
  out.push(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'c-rules' },
      h('h2', { id: 'c-rules' }, 'Data-protection rules'),
      r.rules.length === 0
        ? h('p', { class: 'muted' }, 'The stack declares no data rules.')
        : h(
            'ul',
            null,
            r.rules.map((rule) =>
              h(
                'li',
                null,
                'never together: ',
                h('strong', null, rule.forbid[0]),
                ' and ',
                h('strong', null, rule.forbid[1]),
                rule.reason ? ` (${rule.reason})` : '',
              ),
            ),
          ),
      h(
        'p',
        { class: r.violations.length ? 'bad' : 'ok', 'data-violations': String(r.violations.length) },
        r.violations.length ? `${r.violations.length} violation(s)` : 'No service holds a forbidden pair.',
      ),
      r.violations.length
        ? h(
            'ul',
            null,
            r.violations.map((v) =>
              h(
                'li',
                null,
                `${v.service} holds ${v.rule.forbid.join(' and ')}: `,
                pathText(v.evidence[0]),
                ' / ',
                pathText(v.evidence[1]),
              ),
            ),
          )
        : null,
    ),
  );
  out.push(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'c-services' },
      h('h2', { id: 'c-services' }, 'Data classes per service'),
      table(
        'Classes that reach each service, with the evidence path',
        ['Service', 'Reads', 'Emits', 'Classes held (evidence)'],
        r.services.map((s) => [
          s.service,
          s.reads.join(', ') || '–',
          s.emits.join(', ') || '–',
          h(
            'ul',
            { class: 'classes' },
            s.classes.map((c) =>
              h('li', null, h('strong', null, c.class), ' ', h('span', { class: 'muted' }, pathText(c))),
            ),
          ),
        ]),
        { class: 'data' },
      ),
    ),
  );
  out.push(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'c-conn' },
      h('h2', { id: 'c-conn' }, `Allowed connections (${r.connections.length})`),
      table(
        'Connections policy allows',
        ['Client', 'Server', 'Port', 'Allowed by'],
        r.connections.map((c) => [c.client, c.server, `${c.protocol}/${c.portName ?? c.port}`, c.allowedBy]),
        { class: 'data compact' },
      ),
    ),
  );
  return out;
}

function pathText(c: ClassReach): string {
  if (c.path.length === 0) return 'declared';
  return [c.origin, ...c.path.map((hop) => `${hop.carries === 'response' ? '⇠' : '→'} ${hop.to}`)].join(' ');
}
